package generalize

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/provision"
)

const (
	mib     = 1 << 20
	linuxFS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
)

// needTools skips the test without e2fsprogs and sfdisk.
func needTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"debugfs", "e2fsck", "mkfs.ext4", "sfdisk"} {
		if _, err := findTool(tool); err != nil {
			t.Skipf("%s not installed (apt-get install e2fsprogs fdisk)", tool)
		}
	}
}

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := findTool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runTool(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// entry is one file of a test tree: data "->T" makes a symbolic link to T, mode
// with fs.ModeDir a directory.
type entry struct {
	path     string
	mode     fs.FileMode
	uid, gid int
	data     string
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
func provisionedTree(t testing.TB) []entry {
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

// writeTree writes entries under dir, with their modes, and owners when root.
func writeTree(t testing.TB, dir string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		full := filepath.Join(dir, e.path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.mode.IsDir():
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(e.data, "->"):
			if err := os.Symlink(e.data[2:], full); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			if err := os.WriteFile(full, []byte(e.data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(full, e.mode.Perm()|e.mode&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid)); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			os.Lchown(full, e.uid, e.gid)
		}
	}
}

// makeExt4 makes an ext4 image file of sizeMiB holding the tree dir (nil: an
// empty file system), with the owners of entries set inside it, and extra
// debugfs commands run on it.
func makeExt4(t testing.TB, dir string, entries []entry, sizeMiB int64, label, extra string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, sizeMiB*mib); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-F", "-L", label, "-E", "root_owner=0:0"}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	runTool(t, "", "mkfs.ext4", append(args, img)...)
	var script strings.Builder
	if dir != "" {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
			q, _ := quote(rel)
			fmt.Fprintf(&script, "sif %s uid 0\nsif %s gid 0\n", q, q)
			return nil
		})
	}
	for _, e := range entries {
		q, _ := quote(e.path)
		fmt.Fprintf(&script, "sif %s uid %d\nsif %s gid %d\n", q, e.uid, q, e.gid)
	}
	script.WriteString(extra)
	out := runTool(t, script.String(), "debugfs", "-w", "-f", "-", img)
	if msg := debugfsErrors(strings.Join(grepStderr(out), "\n")); msg != "" {
		t.Fatalf("debugfs: %s", msg)
	}
	runTool(t, "", "e2fsck", "-fn", img)
	return img
}

// grepStderr keeps the lines of combined debugfs output that are errors: not the
// command echo nor the Allocated-inode notices.
func grepStderr(out string) []string {
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "debugfs: ") || strings.HasPrefix(l, "Allocated inode") {
			continue
		}
		errs = append(errs, l)
	}
	return errs
}

// part is a partition of a test disk: an image file copied in, or raw bytes.
type part struct {
	sizeMiB int64
	typ     string // sfdisk type
	image   string // file to copy in
	head    []byte // bytes written at its start
}

// makeDisk writes a disk of the given partitions (1 MiB apart, starting at 1 MiB)
// with sfdisk; label is "gpt" or "dos". With logical (dos only), the partitions
// after the first go into an extended partition.
func makeDisk(t testing.TB, label string, logical bool, parts ...part) string {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "disk.raw")
	total := int64(2)
	for _, p := range parts {
		total += p.sizeMiB + 1
	}
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(total * mib); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	fmt.Fprintf(&script, "label: %s\nunit: sectors\n\n", label)
	start := int64(1)
	var starts []int64
	for i, p := range parts {
		if logical && i == 1 {
			fmt.Fprintf(&script, "start=%d, size=%d, type=5\n", start*2048, (total-start-1)*2048)
			start++ // room for the EBR
		}
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s\n", start*2048, p.sizeMiB*2048, p.typ)
		starts = append(starts, start)
		start += p.sizeMiB + 1
	}
	runTool(t, script.String(), "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk)
	for i, p := range parts {
		off := starts[i] * mib
		if p.image != "" {
			src, err := os.Open(p.image)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.NewOffsetWriter(f, off), src); err != nil {
				t.Fatal(err)
			}
			src.Close()
		}
		if p.head != nil {
			if _, err := f.WriteAt(p.head, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	return disk
}

// rootDisk makes a GPT disk: a small empty ext4 partition (a /boot: no /etc) and
// the root file system holding entries, with an xattr on /etc/shadow.
func rootDisk(t testing.TB, entries []entry) (disk, tree string) {
	tree = filepath.Join(t.TempDir(), "tree")
	writeTree(t, tree, entries)
	root := makeExt4(t, tree, entries, 24, "hangar-root",
		"ea_set /etc/shadow security.selinux system_u:object_r:shadow_t:s0\nea_set /etc/shadow user.note kept\n")
	boot := makeExt4(t, "", nil, 8, "boot", "")
	return makeDisk(t, "gpt", false,
		part{sizeMiB: 8, typ: linuxFS, image: boot},
		part{sizeMiB: 24, typ: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", image: root}), tree
}

func sha(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileState is what a snapshot keeps of a file.
type fileState struct {
	mode     fs.FileMode
	uid, gid int
	data     string
}

// snapshot reads the whole root file system of disk (partition at offset) with
// debugfs, after e2fsck -fn has found it clean.
func snapshot(t testing.TB, disk string, offset int64) map[string]fileState {
	t.Helper()
	d := &debugfs{bin: tool(t, "debugfs"), image: disk, offset: offset}
	runTool(t, "", "e2fsck", "-fn", d.spec())
	tree := newTree(context.Background(), d)
	out := map[string]fileState{}
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := tree.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name)
			if p == "/lost+found" {
				continue
			}
			st := fileState{mode: e.Mode, uid: e.UID, gid: e.GID}
			if e.Mode.IsRegular() {
				b, err := tree.ReadFile(p, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				st.data = string(b)
			}
			out[p] = st
			if e.Mode.IsDir() {
				walk(p)
			}
		}
	}
	walk("/")
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
