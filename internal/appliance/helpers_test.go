package appliance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/appliance/appliancetest"
	"github.com/hangarvm/hangar/internal/generalize/gentest"
	"github.com/hangarvm/hangar/internal/provision"
)

const mib = gentest.MiB

// config is the appliance as the tests run it: the built one, under TCG (KVM
// does not work on the machines these tests run on), as an unprivileged user
// when the tests run as root.
func config(t testing.TB) Config {
	t.Helper()
	gentest.NeedTools(t, "qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs", "sfdisk")
	return Config{QEMU: "qemu-system-x86_64", QEMUImg: "qemu-img", Dir: appliancetest.Dir(t), Accel: "tcg", RunAs: UnprivilegedUser()}
}

// ovfEnv is a saved ovf-env.xml naming user (password masked, as the agent keeps
// it), made by the real writer.
func ovfEnv(t testing.TB, user string) string {
	c := provision.Config{InstanceID: "i-1", ComputerName: "vm1", OSType: provision.OSLinux,
		AdminUsername: user, AdminPassword: "Secr3t-pass<&>"}
	files, err := provision.Files(&c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == provision.FileOVFEnv {
			masked, err := agent.MaskOVFEnv(f.Data)
			if err != nil {
				t.Fatal(err)
			}
			return string(masked)
		}
	}
	t.Fatal("no ovf-env.xml")
	return ""
}

// provisionedTree is a root file system as hangar-agent leaves it after
// provisioning alice, with something for every rule of the policy and things it
// must keep.
func provisionedTree(t testing.TB) []gentest.Entry {
	return entries(provisionedEntries(t))
}

func provisionedEntries(t testing.TB) []entry {
	d := fs.ModeDir
	return []entry{
		{"/etc", d | 0o755, 0, 0, ""},
		{"/etc/os-release", 0o644, 0, 0, "ID=debian\n"},
		{"/etc/passwd", 0o644, 0, 0, "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n"},
		{"/etc/group", 0o644, 0, 0, "root:x:0:\nshadow:x:42:\nsudo:x:27:bob,alice\nbob:x:1000:\nalice:x:1001:\n"},
		{"/etc/shadow", 0o640, 0, 42, "root:!:19723:0:99999:7:::\nbob:!:19723:0:99999:7:::\nalice:$6$salt$hash:20783:0:99999:7:::\n"},
		{"/etc/gshadow", 0o640, 0, 42, "root:*::\nshadow:*::\nsudo:*::bob,alice\nbob:!::\nalice:!::\n"},
		{"/etc/hostname", 0o644, 0, 0, "vm1\n"},
		{"/etc/hosts", 0o644, 0, 0, "127.0.0.1 localhost\n127.0.1.1\tvm1\n"},
		{"/etc/resolv.conf", 0o644, 0, 0, "nameserver 10.0.0.2\n"},
		{"/etc/machine-id", 0o444, 0, 0, "0123456789abcdef0123456789abcdef\n"},
		{"/etc/ssh", d | 0o755, 0, 0, ""},
		{"/etc/ssh/sshd_config", 0o644, 0, 0, "Include /etc/ssh/sshd_config.d/*.conf\n"},
		{"/etc/ssh/sshd_config.d/00-hangar.conf", 0o644, 0, 0, "# Written by hangar-agent.\nPasswordAuthentication yes\n"},
		{"/etc/ssh/ssh_host_ed25519_key", 0o600, 0, 0, "private\n"},
		{"/etc/ssh/ssh_host_ed25519_key.pub", 0o644, 0, 0, "ssh-ed25519 AAAA root@vm1\n"},
		{"/etc/sudoers.d", d | 0o750, 0, 0, ""},
		{"/etc/sudoers.d/hangar-alice", 0o440, 0, 0, "# Written by hangar-agent.\nalice ALL=(ALL) ALL\n"},
		{"/home", d | 0o755, 0, 0, ""},
		{"/home/alice", d | 0o755, 1001, 1001, ""},
		{"/home/alice/.profile", 0o644, 1001, 1001, "# profile\n"},
		{"/home/alice/.bash_history", 0o600, 1001, 1001, "sudo reboot\n"},
		{"/home/alice/.ssh", d | 0o700, 1001, 1001, ""},
		{"/home/alice/.ssh/authorized_keys", 0o600, 1001, 1001, "ssh-ed25519 AAAA alice@laptop\n"},
		{"/home/bob", d | 0o750, 1000, 1000, ""},
		{"/home/bob/.ash_history", 0o600, 1000, 1000, "ls\n"},
		{"/home/bob/notes", 0o644, 1000, 1000, "keep\n"},
		{"/root", d | 0o700, 0, 0, ""},
		{"/root/.bash_history", 0o600, 0, 0, "history\n"},
		{"/root/.profile", 0o644, 0, 0, "# root profile\n"},
		{"/tmp", d | fs.ModeSticky | 0o777, 0, 0, ""},
		{"/tmp/junk", 0o644, 0, 0, "junk"},
		{"/tmp/dir/deeper/file", 0o644, 1001, 1001, "x"},
		{"/var/tmp", d | fs.ModeSticky | 0o777, 0, 0, ""},
		{"/var/tmp/old", 0o644, 0, 0, "old"},
		{"/var/log", d | 0o755, 0, 0, ""},
		{"/var/log/syslog", 0o640, 0, 4, "Nov 26 vm1 kernel: hello\n"},
		{"/var/log/syslog.1", 0o640, 0, 4, "older\n"},
		{"/var/log/auth.log.2.gz", 0o640, 0, 4, "\x1f\x8b\x08"},
		{"/var/log/wtmp", 0o664, 0, 43, "records"},
		{"/var/log/empty", 0o644, 0, 0, ""},
		{"/var/log/apt/history.log", 0o644, 0, 0, "Start-Date\n"},
		{"/var/log/README", 0o777, 0, 0, "->../../usr/share/doc/README.logs"},
		{"/var/lib/dbus/machine-id", 0o444, 0, 0, "->/etc/machine-id"},
		{"/var/lib/systemd/random-seed", 0o600, 0, 0, "seed"},
		{"/var/lib/dhcp/dhclient.eth0.leases", 0o644, 0, 0, "lease {}\n"},
		{"/var/lib/NetworkManager/internal-x-eth0.lease", 0o644, 0, 0, "lease"},
		{"/var/lib/NetworkManager/NetworkManager.state", 0o644, 0, 0, "[main]\n"},
		{"/var/lib/cloud/instance", 0o777, 0, 0, "->/var/lib/cloud/instances/i-1"},
		{"/var/lib/cloud/instances/i-1/obj.pkl", 0o600, 0, 0, "pickle"},
		{"/var/lib/cloud/sem/config_x.once", 0o644, 0, 0, ""},
		{"/var/lib/cloud/seed/nocloud/meta-data", 0o644, 0, 0, "instance-id: seed\n"},
		{"/var/lib/hangar-agent", d | 0o700, 0, 0, ""},
		{"/var/lib/hangar-agent/instance-id", 0o644, 0, 0, "i-1\n"},
		{"/var/lib/hangar-agent/ovf-env.xml", 0o600, 0, 0, ovfEnv(t, "alice")},
		{"/var/lib/hangar-agent/custom-data", 0o600, 0, 0, "#!/bin/sh\n"},
		{"/srv/data/a \"quoted\" name", 0o644, 0, 0, "kept"},
	}
}

// Expected changes (contentDiff lines) on provisionedTree.
var (
	wantGeneral = []string{
		"changed /etc/hostname", "changed /etc/machine-id",
		"changed /var/log/apt/history.log", "changed /var/log/syslog", "changed /var/log/wtmp",
		"removed /etc/ssh/ssh_host_ed25519_key", "removed /etc/ssh/ssh_host_ed25519_key.pub",
		"removed /home/alice/.bash_history", "removed /home/bob/.ash_history", "removed /root/.bash_history",
		"removed /tmp/dir", "removed /tmp/dir/deeper", "removed /tmp/dir/deeper/file", "removed /tmp/junk",
		"removed /var/lib/NetworkManager/internal-x-eth0.lease",
		"removed /var/lib/cloud/instance", "removed /var/lib/cloud/instances", "removed /var/lib/cloud/instances/i-1",
		"removed /var/lib/cloud/instances/i-1/obj.pkl", "removed /var/lib/cloud/sem", "removed /var/lib/cloud/sem/config_x.once",
		"removed /var/lib/dbus/machine-id", "removed /var/lib/dhcp/dhclient.eth0.leases",
		"removed /var/lib/hangar-agent/custom-data", "removed /var/lib/hangar-agent/instance-id",
		"removed /var/lib/hangar-agent/ovf-env.xml", "removed /var/lib/systemd/random-seed",
		"removed /var/log/auth.log.2.gz", "removed /var/log/syslog.1", "removed /var/tmp/old",
	}
	wantUser = []string{
		"changed /etc/group", "changed /etc/gshadow", "changed /etc/passwd", "changed /etc/shadow",
		"removed /etc/ssh/sshd_config.d/00-hangar.conf", "removed /etc/sudoers.d/hangar-alice",
		"removed /home/alice", "removed /home/alice/.bash_history", "removed /home/alice/.profile",
		"removed /home/alice/.ssh", "removed /home/alice/.ssh/authorized_keys",
	}
)

// entry is a gentest.Entry written positionally.
type entry struct {
	path     string
	mode     fs.FileMode
	uid, gid int
	data     string
}

func entries(list []entry) []gentest.Entry {
	out := make([]gentest.Entry, len(list))
	for i, e := range list {
		out[i] = gentest.Entry{Path: e.path, Mode: e.mode, UID: e.uid, GID: e.gid, Data: e.data}
	}
	return out
}

// ext4Root makes an ext4 image of the entries, owners set inside it (mkfs -d
// copies only the builder's), plus extra debugfs commands.
func ext4Root(t testing.TB, entries []gentest.Entry, sizeMiB int64, label, extra string) string {
	var script strings.Builder
	for _, e := range entries {
		q := `"` + strings.ReplaceAll(e.Path, `"`, `""`) + `"`
		script.WriteString("sif " + q + " uid " + strconv.Itoa(e.UID) + "\nsif " + q + " gid " + strconv.Itoa(e.GID) + "\n")
	}
	return gentest.Ext4(t, gentest.Tree(t, entries), sizeMiB, label, script.String()+extra)
}

// rootDisk makes a GPT disk: a small empty ext4 partition (a /boot: no /etc) and
// the root file system holding entries, with an xattr on /etc/shadow.
func rootDisk(t testing.TB, entries []gentest.Entry) string {
	root := ext4Root(t, entries, 24, "hangar-root",
		"ea_set /etc/shadow security.selinux system_u:object_r:shadow_t:s0\nea_set /etc/shadow user.note kept\n")
	boot := gentest.Ext4(t, "", 8, "boot", "")
	return gentest.Disk(t, "gpt", false,
		gentest.Part{SizeMiB: 8, Type: gentest.LinuxFS, Image: boot},
		gentest.Part{SizeMiB: 24, Type: gentest.LinuxRoot, Image: root})
}

func sha(t testing.TB, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileState is what a snapshot keeps of a file.
type fileState struct {
	mode     fs.FileMode
	uid, gid int
	data     string
}

// partition copies the size bytes at offset of disk into a file of its own.
func partition(t testing.TB, disk string, offset, size int64) string {
	t.Helper()
	src, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "part.img")
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, io.NewSectionReader(src, offset, size)); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot reads the whole ext4 file system of disk (partition at offset, size
// bytes) after e2fsck -fn has found it clean: debugfs rdump copies it out (as
// root, with owners), and the copy is walked.
func snapshot(t testing.TB, disk string, offset, size int64) map[string]fileState {
	t.Helper()
	part := partition(t, disk, offset, size)
	gentest.Run(t, "", "e2fsck", "-fn", part)
	dump := t.TempDir()
	gentest.Run(t, "", "debugfs", "-R", "rdump / "+dump, part)
	return walkTree(t, dump)
}

// walkTree reads a directory tree (not lost+found) as a snapshot.
func walkTree(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if rel == "/" {
			return nil
		}
		if rel == "/lost+found" {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := ownerOf(fi)
		st := fileState{mode: fi.Mode(), uid: uid, gid: gid}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st.data = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			st.data, _ = os.Readlink(p)
		}
		out[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contentDiff(a, b map[string]fileState) []string {
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
	sort.Strings(d)
	return d
}

func sorted(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	sort.Strings(out)
	return out
}

func describe(changes []agent.Change, dryRun bool) string {
	var b bytes.Buffer
	for _, c := range changes {
		b.WriteString(c.Describe(dryRun) + "\n")
	}
	return b.String()
}

// checkNoLeftovers: no work copy is left beside the image.
func checkNoLeftovers(t *testing.T, disk string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Dir(disk))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".generalize-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func ownerOf(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}
