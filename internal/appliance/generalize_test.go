package appliance

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/generalize"
	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

const (
	rootOffset = 10 * mib // after 1 MiB and the 8 MiB /boot, 1 MiB apart
	rootSize   = 24 * mib
)

func TestGeneralize(t *testing.T) {
	c := config(t)
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
			disk := rootDisk(t, provisionedTree(t))
			before := snapshot(t, disk, rootOffset, rootSize)
			sum := sha(t, disk)

			// A dry run lists the changes and leaves the image byte for byte.
			dry, err := c.Generalize(context.Background(), generalize.Options{Image: disk, RemoveUser: tt.removeUser, DryRun: true})
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
			rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk, RemoveUser: tt.removeUser, Log: &log})
			if err != nil {
				t.Fatalf("Generalize: %v\n%s", err, log.String())
			}
			if !rep.Replaced || rep.User != tt.user || rep.Repaired != "" {
				t.Errorf("report: replaced %v, user %q, repaired %q", rep.Replaced, rep.User, rep.Repaired)
			}
			after := snapshot(t, disk, rootOffset, rootSize)
			if got := contentDiff(before, after); !slices.Equal(got, tt.want) {
				t.Errorf("changes:\n%s", gentest.ListDiff(got, tt.want))
			}
			if describe(dry.Changes, false) != describe(rep.Changes, false) {
				t.Errorf("the dry run listed:\n%s\nthe run did:\n%s", describe(dry.Changes, true), describe(rep.Changes, false))
			}
			if !strings.Contains(log.String(), "removed /etc/ssh/ssh_host_ed25519_key (SSH host key)") {
				t.Errorf("log:\n%s", log.String())
			}
			checkResult(t, after, tt.removeUser)
			root := partition(t, disk, rootOffset, rootSize)
			if st := gentest.Run(t, "", "debugfs", "-R", "stat /tmp", root); !strings.Contains(st, "Mode:  01777") {
				t.Errorf("/tmp lost its mode:\n%s", st)
			}
			if tt.removeUser {
				xattrs := gentest.Run(t, "", "debugfs", "-R", "ea_list /etc/shadow", root)
				if !strings.Contains(xattrs, "security.selinux") || !strings.Contains(xattrs, "user.note") {
					t.Errorf("xattrs of the rewritten /etc/shadow: %s", xattrs)
				}
			}

			// The agent, on the same tree, plans the same changes: one policy.
			if os.Geteuid() == 0 {
				tree := gentest.Tree(t, provisionedTree(t))
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
			again, err := c.Generalize(context.Background(), generalize.Options{Image: disk, RemoveUser: tt.removeUser})
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

// checkResult checks contents, modes and owners of what changed and what stayed
// (not /tmp's mode, which debugfs rdump does not keep whole: the callers check it).
func checkResult(t *testing.T, after map[string]fileState, removedUser bool) {
	t.Helper()
	want := map[string]fileState{
		"/etc/hostname":               {0o644, 0, 0, "localhost.localdomain\n"},
		"/etc/machine-id":             {0o444, 0, 0, "uninitialized\n"},
		"/etc/resolv.conf":            {0o644, 0, 0, "nameserver 10.0.0.2\n"},
		"/var/log/syslog":             {0o640, 0, 4, ""},
		"/var/log/wtmp":               {0o664, 0, 43, ""},
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

// TestGeneralizeMBRLogical: an MBR disk whose root is a logical partition, after
// an ext4 /boot (no /etc, so not a candidate); /etc/machine-id missing is created.
func TestGeneralizeMBRLogical(t *testing.T) {
	c := config(t)
	list := slices.DeleteFunc(provisionedTree(t), func(e gentest.Entry) bool { return e.Path == "/etc/machine-id" })
	root := ext4Root(t, list, 24, "root", "")
	boot := gentest.Ext4(t, "", 8, "boot", "")
	disk := gentest.Disk(t, "dos", true, gentest.Part{SizeMiB: 8, Type: "83", Image: boot}, gentest.Part{SizeMiB: 24, Type: "83", Image: root})
	rep, err := c.Generalize(context.Background(), generalize.Options{Image: disk, RemoveUser: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheme != "mbr" || rep.Partition.Number != 5 || rep.User != "alice" || !rep.Replaced {
		t.Errorf("report: %+v", rep)
	}
	checkResult(t, snapshot(t, disk, rep.Partition.Start, rep.Partition.Size), true)
}

// TestGeneralizeRefusals: disks it does not understand are refused with the
// reason, and left as they were.
func TestGeneralizeRefusals(t *testing.T) {
	c := config(t)
	ntfsHead := make([]byte, 512)
	copy(ntfsHead[3:], "NTFS    ")
	ntfsHead[510], ntfsHead[511] = 0x55, 0xAA
	random := make([]byte, 4*mib)
	rand.Read(random)
	random[510], random[511] = 0, 0
	withEtc := func(t *testing.T) string {
		return ext4Root(t, entries([]entry{{"/etc/passwd", 0o644, 0, 0, "root:x:0:0::/root:/bin/sh\n"}}), 8, "r", "")
	}
	file := func(data []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			p := t.TempDir() + "/disk.raw"
			os.WriteFile(p, data, 0o644)
			return p
		}
	}
	lvm := make([]byte, 1024)
	copy(lvm[512:], "LABELONE")
	tests := []struct {
		name string
		disk func(t *testing.T) string
		err  error
		msg  string
		dry  bool // also try a dry run
	}{
		{"no partition table", file(make([]byte, 4*mib)), generalize.ErrNoPartitionTable, "neither GPT nor MBR", true},
		{"garbage", file(random), generalize.ErrNoPartitionTable, "no partition table", false},
		{"a bare NTFS volume", file(append(ntfsHead, make([]byte, 4*mib)...)), generalize.ErrWindows, `sysprep.exe /generalize /oobe /shutdown`, false},
		{"an NTFS partition", func(t *testing.T) string {
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 1, Type: gentest.ESP},
				gentest.Part{SizeMiB: 8, Type: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", Head: ntfsHead})
		}, generalize.ErrWindows, "a Windows disk must be generalized inside Windows with Sysprep", false},
		{"no root", func(t *testing.T) string {
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 8, Type: gentest.LinuxFS, Image: gentest.Ext4(t, "", 8, "x", "")})
		}, generalize.ErrNoRoot, "no ext2/3/4, XFS or Btrfs partition holds /etc/passwd", false},
		{"an LVM root", func(t *testing.T) string {
			return gentest.Disk(t, "dos", false, gentest.Part{SizeMiB: 8, Type: "8e", Head: lvm})
		}, generalize.ErrNoRoot, "partition 1 is an LVM physical volume", false},
		{"several roots", func(t *testing.T) string {
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 8, Type: gentest.LinuxFS, Image: withEtc(t)}, gentest.Part{SizeMiB: 8, Type: gentest.LinuxFS, Image: withEtc(t)})
		}, generalize.ErrSeveralRoot, "partitions 1, 2", true},
		{"a file system larger than its partition", func(t *testing.T) string {
			head, err := os.ReadFile(withEtc(t)) // an 8 MiB file system's superblock
			if err != nil {
				t.Fatal(err)
			}
			return gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 4, Type: gentest.LinuxFS, Head: head[:64<<10]})
		}, nil, "larger than the partition", false},
		{"a qcow2 file", file(append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1<<20)...)), generalize.ErrNotRaw, "is a qcow2 file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := tt.disk(t)
			sum := sha(t, disk)
			runs := []bool{false}
			if tt.dry {
				runs = append(runs, true)
			}
			for _, dry := range runs {
				_, err := c.Generalize(context.Background(), generalize.Options{Image: disk, DryRun: dry, RemoveUser: true})
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
	c := config(t)
	disk := rootDisk(t, provisionedTree(t))
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
		if _, err := c.Generalize(context.Background(), generalize.Options{Image: disk, DryRun: dry}); !errors.Is(err, generalize.ErrInUse) {
			t.Errorf("dry run %v: %v", dry, err)
		}
	}
	if sha(t, disk) != sum {
		t.Error("the image in use changed")
	}
}

// TestApplianceMissing: without a built appliance, the error says how to build it.
func TestApplianceMissing(t *testing.T) {
	c := Config{QEMU: "qemu-system-x86_64", QEMUImg: "qemu-img", Dir: t.TempDir(), Accel: "tcg"}
	_, err := c.Generalize(context.Background(), generalize.Options{Image: "/nonexistent"})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "make appliance") {
		t.Fatalf("%v", err)
	}
}

// TestArgsEscapeCommas: a disk path with a comma stays one value of -drive
// instead of adding options.
func TestArgsEscapeCommas(t *testing.T) {
	for _, a := range Args(Config{Dir: "/a", Accel: "tcg"}, generalize.Job{}, "/tmp/x,format=qcow2,y/disk.raw", "raw", "/tmp/s,o/r.sock") {
		if strings.Contains(a, "x,format=qcow2,y") || strings.Contains(a, "s,o/") {
			t.Errorf("unescaped comma: %s", a)
		}
	}
}
