package appliance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/generalize"
	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

// The hostile file systems of docs/SECURITY.md: what a tenant's disk may hold to
// attack whatever reads it offline. Each is generalized through the appliance;
// the host never reads it, and the result is judged by the file systems' own
// tools.

// TestHostileNamesAndLinks: a root whose /tmp holds the debugfs injection, file
// names of every byte value but '/' and NUL (terminal escapes among them),
// symbolic-link loops, and links that point out of the root. Generalizing it
// runs nothing on the host, empties /tmp, and follows no link out of the root.
func TestHostileNamesAndLinks(t *testing.T) {
	c := config(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	marker := fmt.Sprintf("hangar-pwned-%d", os.Getpid())

	list := provisionedTree(t)
	tree := gentest.Tree(t, list)
	gentest.DebugfsInjection(t, tree, marker)
	for b := 1; b < 256; b++ {
		if b == '/' {
			continue
		}
		name := filepath.Join(tree, "tmp", "bytes", "x"+string([]byte{byte(b)})+"y")
		os.MkdirAll(filepath.Dir(name), 0o755)
		if err := os.WriteFile(name, []byte{byte(b)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tree, "var/log", "\x1b[2J\x1b]0;owned\x07.log"), []byte("escape"), 0o644)
	links := map[string]string{
		"tmp/loop1":       "loop2",
		"tmp/loop2":       "loop1",
		"var/log/self":    "self",
		"var/log/escape":  "../../../../../../etc/shadow",
		"var/log/abs":     "/etc/shadow",
		"var/lib/systemd": "/",
	}
	os.RemoveAll(filepath.Join(tree, "var/lib/systemd"))
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(tree, name)); err != nil {
			t.Fatal(err)
		}
	}
	root := gentest.Ext4(t, tree, 64, "hangar-root", ownersScript(list))
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 64, Type: gentest.LinuxRoot, Image: root})

	for _, dry := range []bool{true, false} {
		var log bytes.Buffer
		rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk, DryRun: dry, Log: &log})
		if err != nil {
			t.Fatalf("dry run %v: %v\n%s", dry, err, log.String())
		}
		if strings.ContainsAny(log.String()+fmt.Sprint(rep.Changes), "\x1b\x07") {
			t.Errorf("a terminal escape from the guest reached the output:\n%q", log.String())
		}
	}
	for _, dir := range []string{home, "."} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			t.Fatalf("the guest's file name ran a command on the host: %s appeared in %s", marker, dir)
		}
	}
	after := snapshot(t, disk, 1*mib, 64*mib)
	for p := range after {
		if strings.HasPrefix(p, "/tmp/") {
			t.Errorf("/tmp not emptied: %q", p)
		}
	}
	want := map[string]fileState{
		"/etc/shadow":          {0o640, 0, 42, "root:!:19723:0:99999:7:::\nbob:!:19723:0:99999:7:::\nalice:$6$salt$hash:20783:0:99999:7:::\n"},
		"/var/log/escape":      {os.ModeSymlink | 0o777, 0, 0, "../../../../../../etc/shadow"},
		"/var/log/abs":         {os.ModeSymlink | 0o777, 0, 0, "/etc/shadow"},
		"/var/log/self":        {os.ModeSymlink | 0o777, 0, 0, "self"},
		"/var/lib/systemd":     {os.ModeSymlink | 0o777, 0, 0, "/"},
		"/etc/os-release":      {0o644, 0, 0, "ID=debian\n"},
		"/home/bob/notes":      {0o644, 1000, 1000, "keep\n"},
		"/var/log/syslog":      {0o640, 0, 4, ""},
		"/etc/hostname":        {0o644, 0, 0, "localhost.localdomain\n"},
		"/var/lib/dbus":        {os.ModeDir | 0o755, 0, 0, ""},
		"/var/log/apt":         {os.ModeDir | 0o755, 0, 0, ""},
		"/etc/ssh/sshd_config": {0o644, 0, 0, "Include /etc/ssh/sshd_config.d/*.conf\n"},
	}
	for p, w := range want {
		if got, ok := after[p]; !ok || got != w {
			t.Errorf("%s = %+v, want %+v", p, got, w)
		}
	}
}

// ownersScript is the debugfs commands that give entries their owners.
func ownersScript(list []gentest.Entry) string {
	var b strings.Builder
	for _, e := range list {
		q := `"` + strings.ReplaceAll(e.Path, `"`, `""`) + `"`
		fmt.Fprintf(&b, "sif %s uid %d\nsif %s gid %d\n", q, e.UID, q, e.GID)
	}
	return b.String()
}

// TestHostileManyEntries: a directory of 100,000 entries in /tmp is removed. The
// root is XFS: mkfs.ext4 -d inserts directory entries one by one, in quadratic
// time, and takes many minutes to build such a directory.
func TestHostileManyEntries(t *testing.T) {
	c := config(t)
	gentest.NeedTools(t, "mkfs.xfs", "xfs_db", "xfs_repair")
	tree := gentest.Tree(t, provisionedTree(t))
	os.RemoveAll(filepath.Join(tree, "srv")) // a name with quotes, which mkfs.xfs -p cannot take
	many := filepath.Join(tree, "tmp", "many")
	if err := os.Mkdir(many, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100000; i++ {
		f, err := os.Create(filepath.Join(many, fmt.Sprintf("entry-%06d", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	img := gentest.XFS(t, tree, 320, "hangar-root")
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 320, Type: gentest.LinuxRoot, Image: img})
	rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(describe(rep.Changes, false), "removed /tmp/many/ and everything in it") {
		t.Errorf("changes:\n%s", describe(rep.Changes, false))
	}
	part := partition(t, disk, 1*mib, 320*mib)
	gentest.Run(t, "", "xfs_repair", "-n", part)
	for p := range xfsPaths(t, part) {
		if strings.HasPrefix(p, "/tmp/") {
			t.Fatalf("/tmp still holds %s", p)
		}
	}
}

// TestHostileCorruptSuperblock: an ext4 root whose primary superblock is damaged
// (a feature bit flipped, its checksum now wrong): the kernel refuses to mount
// it, e2fsck rebuilds it from a backup, and the repair is reported as part of
// the result, which is clean.
func TestHostileCorruptSuperblock(t *testing.T) {
	c := config(t)
	list := provisionedTree(t)
	root := gentest.Ext4(t, gentest.Tree(t, list), 24, "hangar-root", ownersScript(list))
	f, err := os.OpenFile(root, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	incompat := make([]byte, 4)
	f.ReadAt(incompat, 1024+96)
	incompat[3] ^= 0x80
	f.WriteAt(incompat, 1024+96)
	f.Close()
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 24, Type: gentest.LinuxRoot, Image: root})
	rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Replaced || !strings.Contains(rep.Repaired, "uperblock") {
		t.Errorf("report: replaced %v, repaired %q", rep.Replaced, rep.Repaired)
	}
	checkResult(t, snapshot(t, disk, 1*mib, 24*mib), false)
}

// TestHostileJournalReplay: a root whose journal holds a committed transaction
// not yet written to its place (a VM that lost power): the replay is part of
// the result, and the file system is clean.
func TestHostileJournalReplay(t *testing.T) {
	c := config(t)
	list := append(provisionedTree(t), gentest.Entry{Path: "/srv/journal.txt", Mode: 0o644, Data: strings.Repeat("before\n", 585) + "1"})
	root := gentest.Ext4(t, gentest.Tree(t, list), 24, "hangar-root", ownersScript(list))
	block := strings.TrimSpace(lastLine(gentest.Run(t, "", "debugfs", "-R", "bmap /srv/journal.txt 0", root)))
	replayed := filepath.Join(t.TempDir(), "block")
	os.WriteFile(replayed, []byte(strings.Repeat("after!\n", 585)+"2"), 0o644)
	gentest.Run(t, "jo\njw -b "+block+" "+replayed+"\njc\n", "debugfs", "-w", "-f", "-", root)
	if out, err := exec.Command("e2fsck", "-fn", root).CombinedOutput(); err == nil && !strings.Contains(string(out), "recovery") {
		t.Logf("e2fsck -fn before: %s", out)
	}
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 24, Type: gentest.LinuxRoot, Image: root})
	rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, disk, 1*mib, 24*mib)
	if got := after["/srv/journal.txt"].data; !strings.HasPrefix(got, "after!\n") {
		t.Errorf("the journal was not replayed: /srv/journal.txt starts %q (report %+v)", got[:min(len(got), 20)], rep)
	}
	checkResult(t, after, false)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestGeneralizeXFSAndBtrfs: XFS and Btrfs roots, which the kernel of the
// appliance reads, are generalized like ext4, and their own checkers find them
// clean afterwards. Btrfs is read back whole (btrfs restore); of XFS, whose
// tools copy nothing out, the list of paths (xfs_db ncheck).
func TestGeneralizeXFSAndBtrfs(t *testing.T) {
	c := config(t)
	gentest.NeedTools(t, "mkfs.xfs", "xfs_db", "xfs_repair", "mkfs.btrfs", "btrfs")
	if os.Geteuid() != 0 {
		t.Skip("the test trees need their owners (root)")
	}
	want := slices.Compact(sorted(wantGeneral, wantUser))
	tests := []struct {
		fs    string
		image func(t testing.TB, tree string) string
		check func(t *testing.T, tree, part string)
	}{
		{"xfs", func(t testing.TB, tree string) string {
			os.RemoveAll(filepath.Join(tree, "srv")) // a name with quotes, which mkfs.xfs -p cannot take
			return gentest.XFS(t, tree, 320, "hangar-root")
		},
			func(t *testing.T, tree, part string) {
				gentest.Run(t, "", "xfs_repair", "-n", part)
				var removed []string
				for _, w := range want {
					if strings.HasPrefix(w, "removed ") {
						removed = append(removed, w)
					}
				}
				if got := pathDiff(pathsOf(walkTree(t, tree)), xfsPaths(t, part)); !slices.Equal(got, removed) {
					t.Errorf("changes:\n%s", gentest.ListDiff(got, removed))
				}
			}},
		{"btrfs", func(t testing.TB, tree string) string { return gentest.Btrfs(t, tree, 128, "hangar-root") },
			func(t *testing.T, tree, part string) {
				gentest.Run(t, "", "btrfs", "check", "--readonly", part)
				out := t.TempDir()
				gentest.Run(t, "", "btrfs", "restore", "-S", "-m", part, out)
				after := walkTree(t, out)
				if got := contentDiff(walkTree(t, tree), after); !slices.Equal(got, want) {
					t.Errorf("changes:\n%s", gentest.ListDiff(got, want))
				}
				checkResult(t, after, true)
				if after["/tmp"].mode != os.ModeDir|os.ModeSticky|0o777 {
					t.Errorf("/tmp: %v", after["/tmp"].mode)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.fs, func(t *testing.T) {
			tree := gentest.Tree(t, provisionedTree(t))
			img := tt.image(t, tree)
			size := fileSize(t, img)
			disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: size / mib, Type: gentest.LinuxRoot, Image: img})
			rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk, RemoveUser: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Filesystem != tt.fs || !rep.Replaced || rep.User != "alice" {
				t.Errorf("report: %+v", rep)
			}
			tt.check(t, tree, partition(t, disk, 1*mib, size))
		})
	}
}

func fileSize(t testing.TB, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func pathsOf(m map[string]fileState) map[string]bool {
	out := map[string]bool{}
	for p := range m {
		out[p] = true
	}
	return out
}

// xfsPaths lists the paths of an XFS file system (xfs_db ncheck), read-only.
func xfsPaths(t *testing.T, part string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(gentest.Run(t, "", "xfs_db", "-r", "-c", "blockget -n", "-c", "ncheck", part), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			p := "/" + strings.TrimSuffix(strings.TrimPrefix(strings.Join(f[1:], " "), "/"), "/.") // directories end in "/."
			out[p] = true
			for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
				out[d] = true // ncheck lists files; their directories exist too
			}
		}
	}
	return out
}

func pathDiff(before, after map[string]bool) []string {
	var d []string
	for p := range before {
		if !after[p] {
			d = append(d, "removed "+p)
		}
	}
	sort.Strings(d)
	return d
}
