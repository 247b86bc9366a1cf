package nodeauth

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func testKey(t testing.TB, secret string) *Key {
	t.Helper()
	k, err := NewKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const secret = "0123456789abcdef0123456789abcdef-cluster"

var call = Request{Method: "POST", Target: "/v1/vms/web/run-command?x=1", Authorization: "Bearer hgr_alice", Body: []byte(`{"script":"id"}`)}

func signed(t testing.TB, r Request, at time.Time) http.Header {
	h := http.Header{}
	Signer{Key: testKey(t, secret), Node: "node-1"}.Sign(h, r, at)
	return h
}

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := &Verifier{Key: testKey(t, secret)}
	h := signed(t, call, now)
	if !Carries(h) {
		t.Fatal("a signed call does not carry the forwarding headers")
	}
	node, err := v.Verify(h, call, now.Add(30*time.Second))
	if err != nil || node != "node-1" {
		t.Fatalf("a call signed 30s ago: %q %v", node, err)
	}
	if _, err := v.Verify(h, call, now.Add(31*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same call again: %v, want a replay", err)
	}
	// A second, new signature of the same call goes through: only a replay is refused.
	if _, err := v.Verify(signed(t, call, now), call, now); err != nil {
		t.Fatalf("a new signature of the same call: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	changed := func(f func(r *Request)) Request {
		r := call
		r.Body = append([]byte(nil), call.Body...)
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		header func() http.Header
		req    Request
		want   error
	}{
		{"another method", func() http.Header { return signed(t, call, now) }, changed(func(r *Request) { r.Method = "DELETE" }), ErrBadSignature},
		{"another path", func() http.Header { return signed(t, call, now) }, changed(func(r *Request) { r.Target = "/v1/vms/other/run-command?x=1" }), ErrBadSignature},
		{"another query", func() http.Header { return signed(t, call, now) }, changed(func(r *Request) { r.Target = "/v1/vms/web/run-command?x=2" }), ErrBadSignature},
		{"another body", func() http.Header { return signed(t, call, now) }, changed(func(r *Request) { r.Body[2] = 'S' }), ErrBadSignature},
		{"another key of a tenant", func() http.Header { return signed(t, call, now) }, changed(func(r *Request) { r.Authorization = "Bearer hgr_bob" }), ErrBadSignature},
		{"another node name", func() http.Header { h := signed(t, call, now); h.Set(HeaderNode, "node-2"); return h }, call, ErrBadSignature},
		{"another time", func() http.Header { h := signed(t, call, now); h.Set(HeaderTime, "1700000001"); return h }, call, ErrBadSignature},
		{"another secret", func() http.Header {
			h := http.Header{}
			Signer{Key: testKey(t, secret+"x"), Node: "node-1"}.Sign(h, call, now)
			return h
		}, call, ErrBadSignature},
		{"no signature", func() http.Header { h := signed(t, call, now); h.Del(HeaderSignature); return h }, call, ErrBadSignature},
		{"a client's header alone", func() http.Header { return http.Header{HeaderNode: {"node-1"}} }, call, ErrBadSignature},
		{"a node name with a newline", func() http.Header { h := signed(t, call, now); h.Set(HeaderNode, "node-1\nx"); return h }, call, ErrBadSignature},
		{"too old", func() http.Header { return signed(t, call, now.Add(-MaxSkew-time.Second)) }, call, ErrClock},
		{"from the future", func() http.Header { return signed(t, call, now.Add(MaxSkew+time.Second)) }, call, ErrClock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Key: testKey(t, secret)}
			if _, err := v.Verify(tc.header(), tc.req, now); !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestReplayWindow: a signature is remembered while its time is in the window, and
// forgotten after; the clock check refuses it from then on.
func TestReplayWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := &Verifier{Key: testKey(t, secret)}
	h := signed(t, call, now)
	if _, err := v.Verify(h, call, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(MaxSkew + time.Minute)
	if _, err := v.Verify(signed(t, call, later), call, later); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(h, call, later); !errors.Is(err, ErrClock) {
		t.Fatalf("an old signature later: %v", err)
	}
	v.mu.Lock()
	n := len(v.seen)
	v.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d signatures remembered after the first left its window, want 1", n)
	}
}

func TestNewKeyTooShort(t *testing.T) {
	if _, err := NewKey([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
	if len(NewSecret()) < MinSecret {
		t.Fatal("NewSecret is shorter than MinSecret")
	}
}

// FuzzVerify feeds arbitrary forwarding headers: Verify must not panic and must
// never accept a call without the secret.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	h := signed(f, call, now)
	f.Add(h.Get(HeaderNode), h.Get(HeaderTime), h.Get(HeaderNonce), h.Get(HeaderSignature))
	f.Add("node-1", "1700000000", "00000000000000000000000000000000", "")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, node, ts, nonce, sig string) {
		v := &Verifier{Key: testKey(t, "another secret, not the signer's one")}
		h := http.Header{HeaderNode: {node}, HeaderTime: {ts}, HeaderNonce: {nonce}, HeaderSignature: {sig}}
		if _, err := v.Verify(h, call, now); err == nil {
			t.Fatalf("accepted without the secret: %q %q %q %q", node, ts, nonce, sig)
		}
	})
}
