package agent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/hangarvm/hangar/internal/provision"
	"github.com/hangarvm/hangar/internal/shacrypt"
)

// TestBootStates walks the four cases of the boot logic.
func TestBootStates(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(e *env)
		want     Message
		console  string
		recorded string // instance-id recorded afterwards
	}{
		{
			name:     "new instance is provisioned",
			setup:    func(e *env) { e.attach(keyConfig(t, "i-1")) },
			want:     Ready("i-1", "vm1", true),
			console:  "hangar-agent: ready",
			recorded: "i-1",
		},
		{
			name: "same instance changes nothing",
			setup: func(e *env) {
				e.attach(keyConfig(t, "i-1"))
				e.agent().Boot()
			},
			want:     Ready("i-1", "vm1", false),
			console:  "hangar-agent: ready",
			recorded: "i-1",
		},
		{
			name: "no medium and a recorded instance is a specialized disk",
			setup: func(e *env) {
				e.attach(keyConfig(t, "i-1"))
				e.agent().Boot()
				e.removeDevice("vdc")
			},
			want:     Ready("i-1", "vm1", false),
			console:  "hangar-agent: ready",
			recorded: "i-1",
		},
		{
			name:    "no medium and no instance is a generalized disk started as specialized",
			setup:   func(e *env) {},
			want:    Waiting(),
			console: "hangar-agent: waiting for provisioning: this disk is generalized",
		},
		{
			name: "reserved user name fails",
			setup: func(e *env) {
				e.attachFiles(editedMedium(t, keyConfig(t, "i-2"), "<UserName>alice<", "<UserName>root<"))
			},
			want:    Failure("i-2", `user name "root" is reserved`),
			console: `hangar-agent: provisioning failed: user name "root" is reserved`,
		},
		{
			name: "system account of the image fails",
			setup: func(e *env) {
				e.attachFiles(editedMedium(t, keyConfig(t, "i-3"), "<UserName>alice<", "<UserName>svc<"))
			},
			want:    Failure("i-3", `creating the admin user: user name "svc" belongs to a system account of this image`),
			console: "hangar-agent: provisioning failed",
		},
		{
			name: "windows medium fails",
			setup: func(e *env) {
				e.attach(provision.Config{InstanceID: "w-1", ComputerName: "win", OSType: provision.OSWindows, AdminUsername: "Alice", AdminPassword: testPassword})
			},
			want:    Failure("w-1", "the provisioning medium is for a Windows VM; this image runs Linux"),
			console: "hangar-agent: provisioning failed",
		},
		{
			name: "medium without ovf-env.xml fails",
			setup: func(e *env) {
				e.attachFiles([]provision.File{{Path: "meta-data", Data: []byte(`{"instance-id":"i-4"}`)}, {Path: "user-data", Data: []byte("#cloud-config\n")}})
			},
			want:    Failure("i-4", "the provisioning medium has no ovf-env.xml"),
			console: "hangar-agent: provisioning failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			e.console.Reset()
			before := e.snapshot()
			got := e.agent().Boot()
			if !sameMessage(got, tt.want) {
				t.Errorf("Boot() = %+v, want %+v", show(got), show(tt.want))
			}
			if !strings.Contains(e.console.String(), tt.console) {
				t.Errorf("console %q lacks %q", e.console.String(), tt.console)
			}
			recorded, _ := os.ReadFile(e.rootPath(StateInstanceID))
			if strings.TrimSpace(string(recorded)) != tt.recorded {
				t.Errorf("recorded instance-id %q, want %q", recorded, tt.recorded)
			}
			if got.Type != TypeReady || !*got.Provisioned {
				if diff := diffSnapshots(before, e.snapshot()); diff != "" {
					t.Errorf("files changed:\n%s", diff)
				}
			}
		})
	}
}

// editedMedium renders c and replaces old by new in its ovf-env.xml: a medium the
// host would refuse to write.
func editedMedium(t *testing.T, c provision.Config, old, new string) []provision.File {
	files, err := provision.Files(&c)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if f.Path == provision.FileOVFEnv {
			files[i].Data = bytes.ReplaceAll(f.Data, []byte(old), []byte(new))
		}
	}
	return files
}

func sameMessage(a, b Message) bool {
	return show(a) == show(b)
}

func show(m Message) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func diffSnapshots(a, b map[string]fileInfo) string {
	var d []string
	for p, x := range a {
		if y, ok := b[p]; !ok {
			d = append(d, "removed "+p)
		} else if x != y {
			d = append(d, "changed "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	return strings.Join(d, "\n")
}

func TestProvisionKeyOnly(t *testing.T) {
	e := newEnv(t)
	c := keyConfig(t, "i-1")
	e.attach(c)
	if got := e.agent().Boot(); !sameMessage(got, Ready("i-1", "vm1", true)) {
		t.Fatalf("Boot() = %s", show(got))
	}
	if e.read("/etc/hostname") != "vm1\n" || !strings.Contains(e.read("/etc/hosts"), "127.0.1.1\tvm1\n") ||
		strings.Contains(e.read("/etc/hosts"), "debian") || len(e.hostnames) != 1 || e.hostnames[0] != "vm1" {
		t.Errorf("host name: /etc/hostname %q, hosts %q, sethostname %v", e.read("/etc/hostname"), e.read("/etc/hosts"), e.hostnames)
	}
	passwd := e.read("/etc/passwd")
	if !strings.HasSuffix(passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1001:1001::/home/alice:/bin/bash\n") {
		t.Errorf("/etc/passwd:\n%s", passwd)
	}
	if !strings.HasSuffix(e.read("/etc/group"), "alice:x:1001:\n") || !strings.HasSuffix(e.read("/etc/gshadow"), "alice:!::\n") {
		t.Errorf("/etc/group or gshadow:\n%s%s", e.read("/etc/group"), e.read("/etc/gshadow"))
	}
	if !strings.HasSuffix(e.read("/etc/shadow"), "alice:!:20783:0:99999:7:::\n") {
		t.Errorf("/etc/shadow:\n%s", e.read("/etc/shadow"))
	}
	e.checkFile("/etc/shadow", 0o640, 0, shadowGID)
	e.checkFile("/etc/passwd", 0o644, 0, 0)
	e.checkFile("/home/alice", 0o755, 1001, 1001)
	e.checkFile("/home/alice/.bashrc", 0o644, 1001, 1001)
	e.checkFile("/home/alice/.config", 0o755, 1001, 1001)
	e.checkFile("/home/alice/.config/app.conf", 0o600, 1001, 1001)
	e.checkFile("/home/alice/.ssh", 0o700, 1001, 1001)
	e.checkFile("/home/alice/.ssh/authorized_keys", 0o600, 1001, 1001)
	if got := e.read("/home/alice/.ssh/authorized_keys"); got != c.SSHPublicKeys[0]+"\n" {
		t.Errorf("authorized_keys %q", got)
	}
	e.checkFile("/etc/sudoers.d/hangar-alice", 0o440, 0, 0)
	if got := e.read("/etc/sudoers.d/hangar-alice"); !strings.HasSuffix(got, "\nalice ALL=(ALL) NOPASSWD:ALL\n") {
		t.Errorf("sudoers %q", got)
	}
	if got := e.read(SSHDConfigFile); !strings.HasSuffix(got, "\nPasswordAuthentication no\n") {
		t.Errorf("sshd config %q", got)
	}
	e.checkFile(StateCustomData, 0o600, 0, 0)
	if e.read(StateCustomData) != string(c.CustomData) {
		t.Errorf("custom data %q", e.read(StateCustomData))
	}
	checkHostKeys(t, e)
	checkMachineID(t, e)
	e.checkFile(StateDir, 0o700, 0, 0)
	e.checkFile(StateOVFEnv, 0o600, 0, 0)
	e.checkFile(StateInstanceID, 0o644, 0, 0)
	if strings.Contains(e.read(StateOVFEnv), "UserPassword") {
		t.Error("saved ovf-env.xml has a password element though none was given")
	}
	if m := tempFiles(t, e); m != "" {
		t.Errorf("temp files left: %s", m)
	}
}

func TestProvisionPassword(t *testing.T) {
	e := newEnv(t)
	e.attach(passwordConfig(t, "i-9"))
	if got := e.agent().Boot(); !sameMessage(got, Ready("i-9", "vm1", true)) {
		t.Fatalf("Boot() = %s", show(got))
	}
	shadow := e.read("/etc/shadow")
	m := regexp.MustCompile(`(?m)^alice:(\$6\$[^:]+):20783:0:99999:7:::$`).FindStringSubmatch(shadow)
	if m == nil || !shacrypt.Verify(m[1], testPassword) {
		t.Fatalf("/etc/shadow has no SHA-512-crypt hash of the password:\n%s", shadow)
	}
	for _, p := range []string{"/etc/shadow", "/etc/passwd", StateOVFEnv, "/etc/sudoers.d/hangar-alice", SSHDConfigFile} {
		if strings.Contains(e.read(p), testPassword) || strings.Contains(e.read(p), "Secr3t-pass&lt;") {
			t.Errorf("%s holds the plain password", p)
		}
	}
	if got := e.read(StateOVFEnv); !strings.Contains(got, "<UserPassword>*</UserPassword>") {
		t.Errorf("saved ovf-env.xml does not mask the password:\n%s", got)
	}
	if got := e.read("/etc/sudoers.d/hangar-alice"); !strings.HasSuffix(got, "\nalice ALL=(ALL) ALL\n") {
		t.Errorf("sudoers %q", got)
	}
	if got := e.read(SSHDConfigFile); !strings.HasSuffix(got, "\nPasswordAuthentication yes\n") {
		t.Errorf("sshd config %q", got)
	}
	if exists(e.rootPath("/home/alice/.ssh/authorized_keys")) || exists(e.rootPath(StateCustomData)) {
		t.Error("authorized_keys or custom-data written without keys or custom data")
	}
}

// TestProvisionExistingUser reuses a person's account of the image.
func TestProvisionExistingUser(t *testing.T) {
	e := newEnv(t)
	c := passwordConfig(t, "i-5")
	c.AdminUsername = "bob"
	c.SSHPublicKeys = []string{testKey(t, 3)}
	e.attach(c)
	if got := e.agent().Boot(); got.Type != TypeReady {
		t.Fatalf("Boot() = %s", show(got))
	}
	if strings.Count(e.read("/etc/passwd"), "\nbob:") != 1 || strings.Count(e.read("/etc/shadow"), "\nbob:") != 1 {
		t.Errorf("bob duplicated:\n%s\n%s", e.read("/etc/passwd"), e.read("/etc/shadow"))
	}
	if strings.Contains(e.read("/etc/shadow"), "bob:$6$abc$def:") {
		t.Error("bob's password hash not replaced")
	}
	e.checkFile("/home/bob/.ssh/authorized_keys", 0o600, 1000, 1000)
}

// TestProvisionAgainAfterFailure: a failed attempt records nothing, and the next
// boot with a good medium provisions.
func TestProvisionAgainAfterFailure(t *testing.T) {
	e := newEnv(t)
	e.attachFiles(editedMedium(t, keyConfig(t, "i-1"), "<UserName>alice<", "<UserName>svc<"))
	if got := e.agent().Boot(); got.Type != TypeFailure {
		t.Fatalf("Boot() = %s", show(got))
	}
	e.attach(keyConfig(t, "i-1"))
	if got := e.agent().Boot(); !sameMessage(got, Ready("i-1", "vm1", true)) {
		t.Fatalf("second Boot() = %s", show(got))
	}
}

func TestMachineIDLeftToSystemd(t *testing.T) {
	e := newEnv(t)
	e.systemd = true
	e.attach(keyConfig(t, "i-1"))
	e.agent().Boot()
	if got := e.read("/etc/machine-id"); got != "uninitialized\n" {
		t.Errorf("machine-id %q changed though systemd runs", got)
	}
}

func TestMachineIDKept(t *testing.T) {
	e := newEnv(t)
	e.write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444)
	e.attach(keyConfig(t, "i-1"))
	e.agent().Boot()
	if got := e.read("/etc/machine-id"); got != "0123456789abcdef0123456789abcdef\n" {
		t.Errorf("a set machine-id was replaced by %q", got)
	}
	for _, content := range []string{"", "uninitialized\n"} {
		e := newEnv(t)
		e.write("/etc/machine-id", content, 0o444)
		e.attach(keyConfig(t, "i-1"))
		e.agent().Boot()
		checkMachineID(t, e)
	}
	e = newEnv(t)
	os.Remove(e.rootPath("/etc/machine-id"))
	e.attach(keyConfig(t, "i-1"))
	e.agent().Boot()
	checkMachineID(t, e)
}

func checkHostKeys(t *testing.T, e *env) {
	t.Helper()
	if strings.Contains(e.read("/etc/ssh/ssh_host_ecdsa_key"), "old private key") || strings.Contains(e.read("/etc/ssh/ssh_host_ecdsa_key.pub"), "old public key") {
		t.Error("old host keys not replaced")
	}
	for _, kind := range []string{"ed25519", "ecdsa"} {
		p := "/etc/ssh/ssh_host_" + kind + "_key"
		e.checkFile(p, 0o600, 0, 0)
		e.checkFile(p+".pub", 0o644, 0, 0)
		priv, err := ssh.ParseRawPrivateKey([]byte(e.read(p)))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(e.read(p + ".pub")))
		if err != nil || comment != "root@vm1" {
			t.Fatalf("%s.pub: %v (comment %q)", p, err, comment)
		}
		signer, _ := ssh.NewSignerFromKey(priv)
		if !bytes.Equal(signer.PublicKey().Marshal(), pub.Marshal()) {
			t.Errorf("%s.pub does not match the private key", p)
		}
	}
}

func checkMachineID(t *testing.T, e *env) {
	t.Helper()
	id := e.read("/etc/machine-id")
	b, err := hex.DecodeString(strings.TrimSuffix(id, "\n"))
	if err != nil || len(b) != 16 || !strings.HasSuffix(id, "\n") || strings.ToLower(id) != id || b[6]>>4 != 4 {
		t.Errorf("machine-id %q is not 32 lower-case hex digits of a v4 UUID", id)
	}
	e.checkFile("/etc/machine-id", 0o444, 0, 0)
}

func tempFiles(t *testing.T, e *env) string {
	var found []string
	for p := range e.snapshot() {
		if strings.Contains(p, ".hangar-tmp-") {
			found = append(found, p)
		}
	}
	return strings.Join(found, " ")
}
