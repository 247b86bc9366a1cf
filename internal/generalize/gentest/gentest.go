//go:build linux

// Package gentest builds the test disks of the generalize tests: trees of
// files, ext4, XFS and Btrfs file systems made from them with the file
// systems' own mkfs tools (no mount, no root needed), partitioned disks made
// with sfdisk, and a reader of the result (debugfs rdump). Only tests use it.
package gentest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// MiB is a mebibyte.
const MiB = 1 << 20

// Partition types (sfdisk's spelling).
const (
	LinuxFS   = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	LinuxRoot = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	ESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
)

// NeedTools skips the test unless the named host tools are installed.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/sbin/" + tool); err != nil {
				t.Skipf("%s not installed (scripts/deps.sh test installs it)", tool)
			}
		}
	}
}

// Run runs a host tool with stdin and returns its combined output, failing the
// test if it fails.
func Run(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PATH="+os.Getenv("PATH")+":/sbin:/usr/sbin")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Entry is one file of a test tree: Data "->T" makes a symbolic link to T, a
// Mode with fs.ModeDir a directory.
type Entry struct {
	Path     string
	Mode     fs.FileMode
	UID, GID int
	Data     string
}

// WriteTree writes entries under dir with their modes, and owners when root.
func WriteTree(t testing.TB, dir string, entries []Entry) {
	t.Helper()
	for _, e := range entries {
		full := filepath.Join(dir, e.Path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Mode.IsDir():
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(e.Data, "->"):
			if err := os.Symlink(e.Data[2:], full); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			if err := os.WriteFile(full, []byte(e.Data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(full, e.Mode.Perm()|e.Mode&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid)); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			os.Lchown(full, e.UID, e.GID)
		}
	}
}

// Tree writes entries into a new directory and returns it.
func Tree(t testing.TB, entries []Entry) string {
	dir := filepath.Join(t.TempDir(), "tree")
	WriteTree(t, dir, entries)
	return dir
}

func emptyFile(t testing.TB, sizeMiB int64) string {
	img := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(sizeMiB * MiB); err != nil {
		t.Fatal(err)
	}
	return img
}

// Ext4 makes an ext4 file system image of sizeMiB holding the tree dir ("": an
// empty file system). Owners come from the tree (so tests run as root keep
// them); extra debugfs commands then run on it (test-side tweaks only).
func Ext4(t testing.TB, dir string, sizeMiB int64, label, extra string, mkfsArgs ...string) string {
	t.Helper()
	img := emptyFile(t, sizeMiB)
	args := append([]string{"-q", "-F", "-L", label, "-E", "root_owner=0:0"}, mkfsArgs...)
	if dir != "" {
		args = append(args, "-d", dir)
	}
	Run(t, "", "mkfs.ext4", append(args, img)...)
	if extra != "" {
		Run(t, extra, "debugfs", "-w", "-f", "-", img)
	}
	Run(t, "", "e2fsck", "-fn", img)
	return img
}

// Btrfs makes a Btrfs file system image of sizeMiB holding the tree dir.
func Btrfs(t testing.TB, dir string, sizeMiB int64, label string) string {
	t.Helper()
	img := emptyFile(t, sizeMiB)
	Run(t, "", "mkfs.btrfs", "-q", "-L", label, "--rootdir", dir, img)
	return img
}

// XFS makes an XFS file system image of sizeMiB holding the tree dir, through
// an mkfs.xfs prototype file (mkfs.xfs cannot copy a directory).
func XFS(t testing.TB, dir string, sizeMiB int64, label string) string {
	t.Helper()
	var proto strings.Builder
	proto.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			full := filepath.Join(dir, e.Name())
			fi, err := os.Lstat(full)
			if err != nil {
				t.Fatal(err)
			}
			uid, gid := owner(fi)
			perm := fmt.Sprintf("%03o", fi.Mode().Perm())
			ind := strings.Repeat(" ", depth)
			switch {
			case fi.IsDir():
				fmt.Fprintf(&proto, "%s%s d--%s %d %d\n", ind, e.Name(), perm, uid, gid)
				walk(full, depth+1)
				fmt.Fprintf(&proto, "%s$\n", ind)
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(full)
				fmt.Fprintf(&proto, "%s%s l--%s %d %d %s\n", ind, e.Name(), perm, uid, gid, target)
			default:
				fmt.Fprintf(&proto, "%s%s ---%s %d %d %s\n", ind, e.Name(), perm, uid, gid, full)
			}
		}
	}
	walk(dir, 1)
	proto.WriteString("$\n")
	pf := filepath.Join(t.TempDir(), "proto")
	if err := os.WriteFile(pf, []byte(proto.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	img := emptyFile(t, sizeMiB)
	Run(t, "", "mkfs.xfs", "-q", "-L", label, "-p", pf, img)
	return img
}

// Part is a partition of a test disk: an image file copied in, or raw bytes.
type Part struct {
	SizeMiB int64
	Type    string // sfdisk type
	Image   string // file to copy in
	Head    []byte // bytes written at its start
}

// Disk writes a disk of the given partitions (1 MiB apart, starting at 1 MiB)
// with sfdisk; label is "gpt" or "dos". With logical (dos only), the partitions
// after the first go into an extended partition.
func Disk(t testing.TB, label string, logical bool, parts ...Part) string {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "disk.raw")
	total := int64(2)
	for _, p := range parts {
		total += p.SizeMiB + 1
	}
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(total * MiB); err != nil {
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
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s\n", start*2048, p.SizeMiB*2048, p.Type)
		starts = append(starts, start)
		start += p.SizeMiB + 1
	}
	Run(t, script.String(), "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk)
	for i, p := range parts {
		off := starts[i] * MiB
		if p.Image != "" {
			src, err := os.Open(p.Image)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.NewOffsetWriter(f, off), src); err != nil {
				t.Fatal(err)
			}
			src.Close()
		}
		if p.Head != nil {
			if _, err := f.WriteAt(p.Head, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	return disk
}

// DeepTree makes, under dir, depth nested directories whose names are comp
// repeated, and in the innermost one a file named leaf. The path is longer than
// PATH_MAX allows, so it is made one directory at a time.
func DeepTree(t testing.TB, dir string, depth int, comp, leaf string) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, comp, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, comp, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	f, err := unix.Openat(fd, leaf, unix.O_CREAT|unix.O_WRONLY, 0o644)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
}

func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

// DebugfsInjection writes into tree a /tmp whose innermost file name makes the line that the
// earlier debugfs-based generalize wrote to remove it longer than the 8 KiB
// debugfs reads at a time, with "!cd;touch MARKER #" at byte 8191 of it: debugfs
// ran the rest of the line as a command of its own, and "!" hands it to the
// shell, on the host.
func DebugfsInjection(t testing.TB, tree, marker string) {
	comp := strings.Repeat("d", 250)
	const depth = 32
	// `rm "` + "/tmp" + 32 × ("/" + comp) + "/" + filler = 8191 bytes before the payload.
	filler := strings.Repeat("f", 8191-len(`rm "`)-len("/tmp")-depth*(1+len(comp))-1)
	leaf := filler + "!cd;touch " + marker + " #"
	if err := os.MkdirAll(filepath.Join(tree, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	DeepTree(t, filepath.Join(tree, "tmp"), depth, comp, leaf)
}

// ListDiff says how got differs from want, a line per unexpected or missing item.
func ListDiff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("unexpected: " + g + "\n")
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("missing:    " + w + "\n")
		}
	}
	return b.String()
}
