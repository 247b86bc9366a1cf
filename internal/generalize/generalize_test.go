package generalize

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/agent"
)

func TestGeneralize(t *testing.T) {
	needTools(t)
	tests := []struct {
		name       string
		removeUser bool
		want       []string
		user       string
	}{
		{name: "deprovision", want: sorted(wantGeneral)},
		{name: "deprovision+user", removeUser: true, want: slices.Compact(sorted(wantGeneral, wantUser)), user: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := provisionedTree(t)
			disk, tree := rootDisk(t, entries)
			const rootOffset = 10 * mib // after 1 MiB and the 8 MiB /boot, 1 MiB apart
			before := snapshot(t, disk, rootOffset)
			sum := sha(t, disk)

			// A dry run lists the changes and leaves the image byte for byte.
			var dryLog bytes.Buffer
			dry, err := Generalize(context.Background(), Options{Image: disk, RemoveUser: tt.removeUser, DryRun: true, Log: &dryLog})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if sha(t, disk) != sum {
				t.Fatal("the dry run changed the image")
			}
			if dry.Partition.Number != 2 || dry.Partition.Start != rootOffset || dry.Scheme != "gpt" ||
				dry.Filesystem != "ext4" || dry.Label != "hangar-root" || dry.Replaced {
				t.Errorf("dry run report: %+v", dry)
			}

			var log bytes.Buffer
			rep, err := Generalize(context.Background(), Options{Image: disk, RemoveUser: tt.removeUser, Log: &log})
			if err != nil {
				t.Fatalf("Generalize: %v\n%s", err, log.String())
			}
			if !rep.Replaced || rep.User != tt.user || rep.Repaired != "" {
				t.Errorf("report: replaced %v, user %q, repaired %q", rep.Replaced, rep.User, rep.Repaired)
			}
			after := snapshot(t, disk, rootOffset) // e2fsck -fn first
			if got := contentDiff(before, after); !slices.Equal(got, tt.want) {
				t.Errorf("changes:\n%s", listDiff(got, tt.want))
			}
			if describe(dry.Changes, false) != describe(rep.Changes, false) {
				t.Errorf("the dry run listed:\n%s\nthe run did:\n%s", describe(dry.Changes, true), describe(rep.Changes, false))
			}
			if !strings.Contains(log.String(), "removed /etc/ssh/ssh_host_ed25519_key (SSH host key)") {
				t.Errorf("log:\n%s", log.String())
			}
			checkResult(t, after, tt.removeUser)
			if tt.removeUser {
				d := &debugfs{bin: tool(t, "debugfs"), image: disk, offset: rootOffset}
				xattrs, err := newTree(context.Background(), d).xattrNames("/etc/shadow")
				if err != nil || !slices.Equal(xattrs, []string{"user.note", "security.selinux"}) && !slices.Equal(xattrs, []string{"security.selinux", "user.note"}) {
					t.Errorf("xattrs of the rewritten /etc/shadow: %v, %v", xattrs, err)
				}
			}

			// The agent, on the same tree, plans the same changes: one policy.
			if os.Geteuid() == 0 {
				plan, err := agent.New(agent.Options{Root: tree}).Deprovision(agent.DeprovisionOptions{RemoveUser: tt.removeUser, DryRun: true})
				if err != nil {
					t.Fatal(err)
				}
				if describe(plan.Changes, false) != describe(rep.Changes, false) {
					t.Errorf("the agent plans:\n%s\noffline did:\n%s", describe(plan.Changes, false), describe(rep.Changes, false))
				}
			}

			// Twice is harmless: nothing to do, the image is left as it is.
			sum = sha(t, disk)
			again, err := Generalize(context.Background(), Options{Image: disk, RemoveUser: tt.removeUser})
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if len(again.Changes) != 0 || again.Replaced || sha(t, disk) != sum {
				t.Errorf("second run: %d changes, replaced %v", len(again.Changes), again.Replaced)
			}
			checkNoLeftovers(t, disk)
		})
	}
}

// checkResult checks contents, modes and owners of what changed and what stayed.
func checkResult(t *testing.T, after map[string]fileState, removedUser bool) {
	t.Helper()
	want := map[string]fileState{
		"/etc/hostname":               {0o644, 0, 0, "localhost.localdomain\n"},
		"/etc/machine-id":             {0o444, 0, 0, "uninitialized\n"},
		"/etc/resolv.conf":            {0o644, 0, 0, "nameserver 10.0.0.2\n"},
		"/var/log/syslog":             {0o640, 0, 4, ""},
		"/var/log/wtmp":               {0o664, 0, 43, ""},
		"/tmp":                        {os.ModeDir | os.ModeSticky | 0o777, 0, 0, ""},
		"/var/lib/hangar-agent":       {os.ModeDir | 0o700, 0, 0, ""},
		"/srv/data/a \"quoted\" name": {0o644, 0, 0, "kept"},
	}
	if removedUser {
		want["/etc/passwd"] = fileState{0o644, 0, 0, "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"}
		want["/etc/shadow"] = fileState{0o640, 0, 42, "root:!:19723:0:99999:7:::\nbob:!:19723:0:99999:7:::\n"}
		want["/etc/group"] = fileState{0o644, 0, 0, "root:x:0:\nshadow:x:42:\nsudo:x:27:bob\nbob:x:1000:\n"}
		want["/etc/gshadow"] = fileState{0o640, 0, 42, "root:*::\nshadow:*::\nsudo:*::bob\nbob:!::\n"}
	}
	for p, w := range want {
		if got, ok := after[p]; !ok || got != w {
			t.Errorf("%s = %+v, want %+v", p, got, w)
		}
	}
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

func listDiff(got, want []string) string {
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

// TestGeneralizeMBRLogical: an MBR disk whose root is a logical partition, after
// an ext4 /boot (no /etc, so not a candidate).
func TestGeneralizeMBRLogical(t *testing.T) {
	needTools(t)
	// Without /etc/machine-id: it is created.
	entries := slices.DeleteFunc(provisionedTree(t), func(e entry) bool { return e.path == "/etc/machine-id" })
	tree := filepath.Join(t.TempDir(), "tree")
	writeTree(t, tree, entries)
	root := makeExt4(t, tree, entries, 24, "root", "")
	boot := makeExt4(t, "", nil, 8, "boot", "")
	disk := makeDisk(t, "dos", true, part{sizeMiB: 8, typ: "83", image: boot}, part{sizeMiB: 24, typ: "83", image: root})
	rep, err := Generalize(context.Background(), Options{Image: disk, RemoveUser: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheme != "mbr" || rep.Partition.Number != 5 || rep.User != "alice" || !rep.Replaced {
		t.Errorf("report: %+v", rep)
	}
	after := snapshot(t, disk, rep.Partition.Start)
	checkResult(t, after, true)
}

// TestGeneralizeRefusals: disks it does not understand are refused with the
// reason, and left as they were.
func TestGeneralizeRefusals(t *testing.T) {
	needTools(t)
	ntfsHead := make([]byte, 512)
	copy(ntfsHead[3:], ntfsOEM)
	ntfsHead[510], ntfsHead[511] = 0x55, 0xAA
	random := make([]byte, 4*mib)
	rand.Read(random)
	random[510], random[511] = 0, 0
	etc := []entry{{"/etc/passwd", 0o644, 0, 0, "root:x:0:0::/root:/bin/sh\n"}}
	withEtc := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "tree")
		writeTree(t, dir, etc)
		return makeExt4(t, dir, etc, 8, "r", "")
	}
	file := func(data []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "disk.raw")
			os.WriteFile(p, data, 0o644)
			return p
		}
	}
	tests := []struct {
		name string
		disk func(t *testing.T) string
		err  error
		msg  string
	}{
		{"no partition table", file(make([]byte, 4*mib)), ErrNoPartitionTable, "neither GPT nor MBR"},
		{"garbage", file(random), ErrNoPartitionTable, "no partition table"},
		{"a bare NTFS volume", file(append(ntfsHead, make([]byte, 4*mib)...)), ErrWindows, `sysprep.exe /generalize /oobe /shutdown`},
		{"an NTFS partition", func(t *testing.T) string {
			return makeDisk(t, "gpt", false, part{sizeMiB: 1, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
				part{sizeMiB: 8, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", head: ntfsHead})
		}, ErrWindows, "a Windows disk must be generalized inside Windows with Sysprep"},
		{"no root", func(t *testing.T) string {
			return makeDisk(t, "gpt", false, part{sizeMiB: 8, typ: linuxFS, image: makeExt4(t, "", nil, 8, "x", "")})
		}, ErrNoRoot, "no ext2/3/4 partition holds /etc/passwd"},
		{"an XFS root", func(t *testing.T) string {
			return makeDisk(t, "dos", false, part{sizeMiB: 8, typ: "83", head: []byte("XFSB")})
		}, ErrNoRoot, "partition 1 is XFS"},
		{"several roots", func(t *testing.T) string {
			return makeDisk(t, "gpt", false, part{sizeMiB: 8, typ: linuxFS, image: withEtc(t)}, part{sizeMiB: 8, typ: linuxFS, image: withEtc(t)})
		}, ErrSeveralRoot, "partitions 1, 2"},
		{"a file system larger than its partition", func(t *testing.T) string {
			head, err := os.ReadFile(withEtc(t)) // an 8 MiB file system's superblock
			if err != nil {
				t.Fatal(err)
			}
			return makeDisk(t, "gpt", false, part{sizeMiB: 4, typ: linuxFS, head: head[:64<<10]})
		}, nil, "larger than the partition"},
		{"a qcow2 file", file(append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1<<20)...)), ErrNotRaw, "is a qcow2 file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := tt.disk(t)
			sum := sha(t, disk)
			for _, dry := range []bool{true, false} {
				_, err := Generalize(context.Background(), Options{Image: disk, DryRun: dry, RemoveUser: true})
				if err == nil || tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("dry run %v: %v, want %v: ...%s...", dry, err, tt.err, tt.msg)
				}
			}
			if sha(t, disk) != sum {
				t.Error("the refused image changed")
			}
			checkNoLeftovers(t, disk)
		})
	}
}

// TestGeneralizeInUse: an image a VM holds (QEMU's shared locks) is refused.
func TestGeneralizeInUse(t *testing.T) {
	needTools(t)
	disk, _ := rootDisk(t, provisionedTree(t))
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_RDLCK, Start: 100, Len: 1} // QEMU's "consistent read" byte
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Skipf("no OFD locks here: %v", err)
	}
	sum := sha(t, disk)
	for _, dry := range []bool{true, false} {
		if _, err := Generalize(context.Background(), Options{Image: disk, DryRun: dry}); !errors.Is(err, ErrInUse) {
			t.Errorf("dry run %v: %v", dry, err)
		}
	}
	if sha(t, disk) != sum {
		t.Error("the image in use changed")
	}
}

// TestGeneralizeToolFailures: debugfs exits 0 even when a command fails, and the
// final check can find damage; either way the image is left as it was.
func TestGeneralizeToolFailures(t *testing.T) {
	needTools(t)
	realDebugfs, realFsck := tool(t, "debugfs"), tool(t, "e2fsck")
	tests := []struct {
		name, fake, script, msg string
	}{
		{"debugfs reports an error", "debugfs",
			"for a; do [ \"$a\" = -w ] && { echo 'debugfs 1.47.0 (5-Feb-2023)' >&2; echo 'rm: Inode bitmap checksum does not match bitmap while trying to resolve filename' >&2; exit 0; }; done\nexec " + realDebugfs + ` "$@"`,
			"rm: Inode bitmap checksum does not match bitmap"},
		{"e2fsck finds damage after the edit", "e2fsck",
			"[ \"$1\" = -fn ] && { echo 'Inode 12 has corrupt extent header.'; exit 4; }\nexec " + realFsck + ` "$@"`,
			"e2fsck -fn found the edited file system damaged (exit status 4), the image is left as it was: Inode 12 has corrupt extent header."},
		{"e2fsck cannot repair", "e2fsck",
			"[ \"$1\" = -fy ] && { echo 'Superblock is corrupt.'; exit 8; }\nexec " + realFsck + ` "$@"`,
			"e2fsck -fy could not repair the root file system (exit status 8): Superblock is corrupt."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk, _ := rootDisk(t, provisionedTree(t))
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, tt.fake), []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			sum := sha(t, disk)
			_, err := Generalize(context.Background(), Options{Image: disk, RemoveUser: true})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want ...%s...", err, tt.msg)
			}
			if sha(t, disk) != sum {
				t.Error("the image changed")
			}
			checkNoLeftovers(t, disk)
		})
	}
}
