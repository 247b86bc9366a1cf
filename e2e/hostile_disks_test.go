package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/appliance/appliancetest"
	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

// TestGeneralizeRunsNothingOnHost: a tenant's disk whose file names were built to
// break out of the offline generalizer's tool script (the debugfs injection:
// docs/SECURITY.md) is generalized, locally and on the server, and no command of
// the guest's runs on the host.
func TestGeneralizeRunsNothingOnHost(t *testing.T) {
	needVMTools(t)
	t.Setenv("HANGAR_APPLIANCE", appliancetest.Dir(t))
	gentest.NeedTools(t, "mkfs.ext4", "sfdisk")
	home := t.TempDir()
	t.Setenv("HOME", home) // the server and the CLI run with it
	marker := fmt.Sprintf("hangar-pwned-%d", os.Getpid())
	tree := gentest.Tree(t, []gentest.Entry{
		{Path: "/etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/bin/sh\n"},
		{Path: "/etc/hostname", Mode: 0o644, Data: "victim\n"},
	})
	gentest.DebugfsInjection(t, tree, marker)
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 32, Type: gentest.LinuxRoot, Image: gentest.Ext4(t, tree, 32, "root", "")})

	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", disk, "--name", "hostile")
	var res struct {
		Disk    struct{ Name string } `json:"disk"`
		Changes []string              `json:"changes"`
	}
	s.json(alice, &res, "disk", "generalize", "hostile")
	if res.Disk.Name != "hostile-generalized" {
		t.Fatalf("server-side generalize: %+v", res)
	}
	s.ok(alice, "disk", "generalize", "--local", disk)
	cwd, _ := os.Getwd()
	for _, dir := range []string{home, cwd, "/root", "/"} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			os.Remove(filepath.Join(dir, marker))
			t.Fatalf("the guest's file name ran a command on the host: %s appeared in %s", marker, dir)
		}
	}
}

// TestHostileDisksThroughTheBinary: the hostile file systems of docs/SECURITY.md,
// each generalized by the real binary (`disk generalize --local`, through the
// appliance), and each result passed by its file system's own checker. The
// details of each case are checked in internal/appliance.
func TestHostileDisksThroughTheBinary(t *testing.T) {
	needVMTools(t)
	t.Setenv("HANGAR_APPLIANCE", appliancetest.Dir(t))
	gentest.NeedTools(t, "mkfs.ext4", "sfdisk", "mkfs.xfs", "xfs_repair", "mkfs.btrfs", "btrfs")
	root := []gentest.Entry{
		{Path: "/etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/bin/sh\n"},
		{Path: "/etc/hostname", Mode: 0o644, Data: "victim\n"},
		{Path: "/etc/ssh/ssh_host_ed25519_key", Mode: 0o600, Data: "secret"},
		{Path: "/var/log/syslog", Mode: 0o640, Data: "log"},
	}
	withTree := func(t *testing.T, build func(tree string)) string {
		tree := gentest.Tree(t, root)
		build(tree)
		return tree
	}
	tests := []struct {
		name  string
		disk  func(t *testing.T) (disk string, size int64)
		check []string // the checker, run on the root partition
	}{
		{"every byte in names, link loops and escapes", func(t *testing.T) (string, int64) {
			tree := withTree(t, func(tree string) {
				for b := 1; b < 256; b++ {
					if b != '/' {
						os.WriteFile(filepath.Join(tree, "var/log", "x"+string([]byte{byte(b)})+".log"), []byte{byte(b)}, 0o644)
					}
				}
				os.Symlink("loop", filepath.Join(tree, "var/log/loop"))
				os.Symlink("../../../../etc/ssh/ssh_host_ed25519_key", filepath.Join(tree, "var/log/escape"))
				os.MkdirAll(filepath.Join(tree, "var/lib"), 0o755)
				os.Symlink("/", filepath.Join(tree, "var/lib/cloud"))
			})
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 32, Type: gentest.LinuxRoot, Image: gentest.Ext4(t, tree, 32, "root", "")}), 32
		}, []string{"e2fsck", "-fn"}},
		{"a damaged superblock", func(t *testing.T) (string, int64) {
			img := gentest.Ext4(t, gentest.Tree(t, root), 32, "root", "")
			f, _ := os.OpenFile(img, os.O_RDWR, 0)
			f.WriteAt([]byte{0xff}, 1024+99) // an unknown incompat feature; the checksum is wrong now
			f.Close()
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 32, Type: gentest.LinuxRoot, Image: img}), 32
		}, []string{"e2fsck", "-fn"}},
		{"an XFS root with 100,000 entries in /tmp", func(t *testing.T) (string, int64) {
			tree := withTree(t, func(tree string) {
				many := filepath.Join(tree, "tmp", "many")
				os.MkdirAll(many, 0o755)
				for i := 0; i < 100000; i++ {
					f, _ := os.Create(filepath.Join(many, fmt.Sprintf("e%06d", i)))
					f.Close()
				}
			})
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 320, Type: gentest.LinuxRoot, Image: gentest.XFS(t, tree, 320, "root")}), 320
		}, []string{"xfs_repair", "-n"}},
		{"a Btrfs root", func(t *testing.T) (string, int64) {
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 128, Type: gentest.LinuxRoot, Image: gentest.Btrfs(t, gentest.Tree(t, root), 128, "root")}), 128
		}, []string{"btrfs", "check", "--readonly"}},
	}
	s := startServer(t)
	alice := s.tenant("alice")
	// One test, not subtests: the server's helpers fail the test that started it.
	for _, tt := range tests {
		func() {
			t.Log(tt.name)
			disk, size := tt.disk(t)
			// A comma in the path, as a user's file name may hold: it must stay
			// one value in QEMU's option lists.
			named := filepath.Join(filepath.Dir(disk), "my,disk,format=qcow2.raw")
			if err := os.Rename(disk, named); err != nil {
				t.Fatal(err)
			}
			disk = named
			var rep struct {
				Replaced bool `json:"replaced"`
				Changes  []struct {
					Path string `json:"path"`
				} `json:"changes"`
			}
			out := s.ok(alice, "disk", "generalize", "--local", disk, "--accel", "tcg", "-o", "json")
			if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Replaced {
				t.Fatalf("report: %v %s", err, out)
			}
			removedKey := false
			for _, c := range rep.Changes {
				removedKey = removedKey || c.Path == "/etc/ssh/ssh_host_ed25519_key"
			}
			if !removedKey {
				t.Errorf("the SSH host key was not removed: %s", out)
			}
			part := filepath.Join(t.TempDir(), "root.img")
			in, _ := os.Open(disk)
			dst, _ := os.Create(part)
			io.Copy(dst, io.NewSectionReader(in, 1<<20, size<<20))
			in.Close()
			dst.Close()
			gentest.Run(t, "", tt.check[0], append(tt.check[1:], part)...)
		}()
	}
}
