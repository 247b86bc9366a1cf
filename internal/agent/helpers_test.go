package agent

import (
	"bytes"
	"crypto/ed25519"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hangarvm/hangar/internal/provision"
)

// env is a fake guest: a root filesystem, sysfs and /dev in temp directories.
type env struct {
	t              *testing.T
	root, sys, dev string
	console        bytes.Buffer
	hostnames      []string
	systemd        bool
}

const shadowGID = 42

// fixture files of the root filesystem: path, mode, content.
var fixture = []struct {
	path string
	mode fs.FileMode
	data string
}{
	{"/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"svc:x:998:998:service:/var/lib/svc:/usr/sbin/nologin\nbob:x:1000:1000:Bob:/home/bob:/bin/bash\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"/etc/group", 0o644, "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nsudo:x:27:bob\nsvc:x:998:\nbob:x:1000:\nnogroup:x:65534:\n"},
	{"/etc/shadow", 0o640, "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nsvc:!:19000::::::\n" +
		"bob:$6$abc$def:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"},
	{"/etc/gshadow", 0o640, "root:*::\nshadow:*::\nsudo:*::bob\nsvc:!::\nbob:!::\n"},
	{"/etc/hostname", 0o644, "debian\n"},
	{"/etc/hosts", 0o644, "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost\n"},
	{"/etc/machine-id", 0o444, "uninitialized\n"},
	{"/etc/skel/.bashrc", 0o644, "# bashrc\n"},
	{"/etc/skel/.config/app.conf", 0o600, "x=1\n"},
	{"/etc/ssh/sshd_config", 0o644, "Include /etc/ssh/sshd_config.d/*.conf\n"},
	{"/etc/ssh/ssh_host_ecdsa_key", 0o600, "old private key\n"},
	{"/etc/ssh/ssh_host_ecdsa_key.pub", 0o644, "old public key\n"},
	{"/bin/bash", 0o755, ""},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("provisioning tests set file owners: run them as root")
	}
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "root"), sys: filepath.Join(dir, "sys"), dev: filepath.Join(dir, "dev")}
	for _, f := range fixture {
		e.write(f.path, f.data, f.mode)
	}
	if err := os.Chown(e.rootPath("/etc/shadow"), 0, shadowGID); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(e.rootPath("/home"), 0o755)
	os.MkdirAll(e.dev, 0o755)
	// vda is the OS disk: not an ISO. sr0 is an empty drive.
	e.addDevice("vda", make([]byte, 64<<10))
	e.addDevice("sr0", nil)
	return e
}

func (e *env) rootPath(p string) string { return filepath.Join(e.root, p) }

func (e *env) write(p, data string, mode fs.FileMode) {
	e.t.Helper()
	full := e.rootPath(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), mode); err != nil {
		e.t.Fatal(err)
	}
	os.Chmod(full, mode)
}

func (e *env) read(p string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.rootPath(p))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// addDevice fakes a block device: sysfs size (0 for nil data) and a device file.
func (e *env) addDevice(name string, data []byte) {
	e.t.Helper()
	dir := filepath.Join(e.sys, "class", "block", name)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "size"), []byte(strconv.Itoa(len(data)/512)+"\n"), 0o444)
	if data != nil {
		if err := os.WriteFile(filepath.Join(e.dev, name), data, 0o444); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) removeDevice(name string) {
	os.RemoveAll(filepath.Join(e.sys, "class", "block", name))
	os.Remove(filepath.Join(e.dev, name))
}

// attach writes the medium of c as vdc.
func (e *env) attach(c provision.Config) {
	e.t.Helper()
	files, err := provision.Files(&c)
	if err != nil {
		e.t.Fatal(err)
	}
	e.attachFiles(files)
}

func (e *env) attachFiles(files []provision.File) {
	e.t.Helper()
	var buf bytes.Buffer
	if err := provision.WriteISO(&buf, files); err != nil {
		e.t.Fatal(err)
	}
	e.addDevice("vdc", buf.Bytes())
}

func (e *env) agent() *Agent {
	if e.systemd {
		os.MkdirAll(e.rootPath(systemdRunDir), 0o755)
	}
	return New(Options{
		Root: e.root, SysDir: e.sys, DevDir: e.dev, Console: &e.console,
		SetHostname:    func(n string) error { e.hostnames = append(e.hostnames, n); return nil },
		Now:            func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) },
		RescanInterval: 10 * time.Millisecond,
	})
}

// fileInfo is what a snapshot keeps of one file.
type fileInfo struct {
	mode     fs.FileMode
	uid, gid uint32
	mtime    time.Time
	data     string
}

// snapshot records every file and directory under the root.
func (e *env) snapshot() map[string]fileInfo {
	e.t.Helper()
	out := map[string]fileInfo{}
	err := filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		info := fileInfo{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			info.data = string(b)
		}
		out[strings.TrimPrefix(p, e.root)] = info
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// checkFile checks the mode and owner of a guest path.
func (e *env) checkFile(p string, mode fs.FileMode, uid, gid int) {
	e.t.Helper()
	fi, err := os.Lstat(e.rootPath(p))
	if err != nil {
		e.t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		e.t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// testKey returns a deterministic ed25519 public key line.
func testKey(t testing.TB, seed byte) string {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " user@laptop"
}

const testPassword = "Secr3t-pass<&>"

func keyConfig(t testing.TB, id string) provision.Config {
	return provision.Config{
		InstanceID: id, ComputerName: "vm1", OSType: provision.OSLinux,
		AdminUsername: "alice", SSHPublicKeys: []string{testKey(t, 1)},
		CustomData: []byte("#!/bin/sh\necho custom\n"),
	}
}

func passwordConfig(t testing.TB, id string) provision.Config {
	c := keyConfig(t, id)
	c.SSHPublicKeys, c.CustomData, c.AdminPassword = nil, nil, testPassword
	return c
}
