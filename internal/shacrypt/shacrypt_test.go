package shacrypt

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// specVectors are the SHA-512 test vectors published with Drepper's specification
// ("Unix crypt using SHA-256 and SHA-512"), as setting, password, result.
var specVectors = []struct{ setting, password, want string }{
	{"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
}

// setting splits "$6$[rounds=N$]salt" into salt and rounds (0 when absent).
func setting(t *testing.T, s string) (string, int) {
	t.Helper()
	rest := strings.TrimPrefix(s, Prefix)
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, salt, _ := strings.Cut(r, "$")
		n := 0
		for _, c := range num {
			n = n*10 + int(c-'0')
		}
		return salt, n
	}
	return rest, 0
}

func TestSpecVectors(t *testing.T) {
	for _, v := range specVectors {
		salt, rounds := setting(t, v.setting)
		if rounds == DefaultRounds {
			// Hash leaves out the default; the vector names it: go through compute.
			if got := compute(v.password, salt, rounds, true); got != v.want {
				t.Errorf("%s: got %s, want %s", v.setting, got, v.want)
			}
		} else {
			got, err := Hash(v.password, salt, rounds)
			if err != nil || got != v.want {
				t.Errorf("Hash(%q, %q, %d) = %s, %v; want %s", v.password, salt, rounds, got, err, v.want)
			}
		}
		if !Verify(v.want, v.password) {
			t.Errorf("Verify(%s, %q) = false", v.want, v.password)
		}
		if Verify(v.want, v.password+"x") {
			t.Errorf("Verify(%s) accepted a wrong password", v.want)
		}
	}
}

func TestHashArguments(t *testing.T) {
	for _, salt := range []string{"", "a$b", "a:b", "a\nb", "a\x00b"} {
		if _, err := Hash("pw", salt, 0); err == nil {
			t.Errorf("Hash accepted salt %q", salt)
		}
	}
	if _, err := Hash("pw", "salt", -1); err == nil {
		t.Error("Hash accepted negative rounds")
	}
	h, _ := Hash("pw", "salt", DefaultRounds)
	if strings.Contains(h, "rounds=") {
		t.Errorf("default rounds written: %s", h)
	}
	if got := clampRounds(MaxRounds + 1); got != MaxRounds {
		t.Errorf("clampRounds(MaxRounds+1) = %d", got)
	}
	h, _ = Hash("pw", "salt", 10)
	if !strings.HasPrefix(h, "$6$rounds=1000$salt$") {
		t.Errorf("rounds below the minimum not clamped: %s", h)
	}
}

func TestNewHash(t *testing.T) {
	h1, err := NewHash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := NewHash("correct horse")
	if h1 == h2 {
		t.Error("two NewHash calls gave the same hash")
	}
	p, err := parse(h1)
	if err != nil || len(p.salt) != MaxSaltLen || strings.Trim(p.salt, alphabet) != "" || p.custom {
		t.Fatalf("NewHash gave %s (%+v, %v)", h1, p, err)
	}
	if !Verify(h1, "correct horse") || Verify(h1, "correct horsE") {
		t.Error("Verify of NewHash result is wrong")
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	good := specVectors[0].want
	for _, h := range []string{
		"", "$5$saltstring$abc", good[:len(good)-1], good + "x",
		"$6$rounds=999$salt$" + strings.Repeat("a", 86),
		"$6$rounds=01000$salt$" + strings.Repeat("a", 86),
		"$6$rounds=1000salt$" + strings.Repeat("a", 86),
		"$6$saltsaltsaltsaltX$" + strings.Repeat("a", 86),
		"$6$salt$" + strings.Repeat("!", 86),
	} {
		if Verify(h, "Hello world!") {
			t.Errorf("Verify accepted %q", h)
		}
	}
}

// TestAgainstOpenSSL cross-checks random passwords and salts with `openssl passwd -6`.
func TestAgainstOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20
	if testing.Short() {
		n = 3
	}
	for i := range n {
		pw := randomString(rng, rng.IntN(40)+1, " !#%&()*+,-./0123456789:;<=>?@ABCXYZabcxyz~é")
		salt := randomString(rng, rng.IntN(20)+1, alphabet)
		rounds := 0
		if i%4 == 3 {
			rounds = MinRounds + rng.IntN(2000)
		}
		got, err := Hash(pw, salt, rounds)
		if err != nil {
			t.Fatal(err)
		}
		arg := salt
		if rounds != 0 {
			arg = "rounds=" + itoa(rounds) + "$" + salt
		}
		out, err := exec.Command(openssl, "passwd", "-6", "-salt", arg, pw).Output()
		if err != nil {
			t.Fatalf("openssl passwd: %v", err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("Hash(%q, %q, %d) = %s; openssl says %s", pw, salt, rounds, got, want)
		}
	}
}

func randomString(rng *rand.Rand, n int, chars string) string {
	r := []rune(chars)
	var b strings.Builder
	for range n {
		b.WriteRune(r[rng.IntN(len(r))])
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzVerify feeds arbitrary hash strings to the parser and, when one parses with few
// rounds, checks that recomputing it is stable.
func FuzzVerify(f *testing.F) {
	for _, v := range specVectors {
		f.Add(v.want, v.password)
	}
	f.Add("$6$rounds=1000$x$", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, err := parse(hash)
		if err != nil {
			if Verify(hash, password) {
				t.Fatalf("Verify accepted unparsable %q", hash)
			}
			return
		}
		if p.rounds > 20000 {
			return
		}
		h := compute(password, p.salt, p.rounds, p.custom)
		if !Verify(h, password) {
			t.Fatalf("Verify rejects its own hash %s", h)
		}
	})
}
