package generalize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hangarvm/hangar/internal/agent"
)

// Work runs job inside the appliance on the whole-disk block device dev,
// mounting file systems at mnt. It needs root and the appliance's tools
// (e2fsck, xfs_repair, btrfs); log gets progress and one line per change.
func Work(ctx context.Context, job Job, dev, mnt string, log io.Writer) (*Report, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: job.DryRun, Changes: []agent.Change{}}
	root, vol, err := findRoot(ctx, f, size, dev, mnt, rep, log)
	if err != nil {
		return rep, err
	}
	rep.Partition, rep.Filesystem, rep.Label = root.Partition, vol.version, vol.label
	fmt.Fprintf(log, "root file system: partition %d (%s%s, %s at offset %d)\n", root.Number, vol.version,
		labelSuffix(vol.label), sizeString(root.Size), root.Start)

	rep.Repaired = root.repaired
	if err := mount(root.dev, mnt, vol.kind, false); err != nil {
		return rep, err
	}
	var plan *agent.DeprovisionPlan
	err = inRoot(mnt, func() error {
		plan, err = agent.New(agent.Options{Root: "/"}).Deprovision(agent.DeprovisionOptions{
			RemoveUser: job.RemoveUser, DryRun: job.DryRun, Log: log})
		return err
	})
	syscall.Sync()
	if uerr := syscall.Unmount(mnt, 0); uerr != nil && err == nil {
		err = fmt.Errorf("unmounting the root file system: %w", uerr)
	}
	if plan != nil {
		rep.User, rep.Changes, rep.Notes = plan.User, plan.Changes, append(rep.Notes, plan.Notes...)
	}
	if err != nil {
		return rep, err
	}
	if job.DryRun || len(rep.Changes) == 0 && rep.Repaired == "" {
		return rep, nil
	}
	fmt.Fprintf(log, "checking the result (%s)\n", checkName(vol.kind))
	if _, err := check(ctx, vol.kind, root.dev, false); err != nil {
		return rep, err
	}
	return rep, nil
}

// rootPart is the root file system's partition, its device node, and what its
// checker repaired.
type rootPart struct {
	Partition
	dev      string
	repaired string
}

// findRoot finds the one Linux root file system of the disk: the ext2/3/4, XFS
// or Btrfs partition holding /etc/passwd or /etc/os-release. It refuses Windows
// disks (an NTFS or BitLocker volume, or a Microsoft reserved partition), disks
// with no partition table, no root or several.
func findRoot(ctx context.Context, r io.ReaderAt, size int64, dev, mnt string, rep *Report, log io.Writer) (rootPart, volume, error) {
	t, err := ReadPartitionTable(r, size)
	if errors.Is(err, ErrNoPartitionTable) {
		head := make([]byte, 512)
		if readAt(r, head, 0) == nil && string(head[3:11]) == ntfsOEM {
			return rootPart{}, volume{}, fmt.Errorf("%w (this disk is an NTFS volume)", ErrWindows)
		}
		return rootPart{}, volume{}, fmt.Errorf("%w: generalize works on whole disks (GPT or MBR) with a Linux root partition", err)
	}
	if err != nil {
		return rootPart{}, volume{}, err
	}
	rep.Scheme = t.Scheme
	var roots []rootPart
	var rootVols []volume
	var others []string
	for _, p := range t.Partitions {
		if p.Type == gptMicrosoftReserved || p.Type == gptWindowsRecovery || p.Type == "0x27" {
			return rootPart{}, volume{}, fmt.Errorf("%w (partition %d is a Microsoft reserved or recovery partition)", ErrWindows, p.Number)
		}
		v, err := probe(r, p)
		if err != nil {
			return rootPart{}, volume{}, err
		}
		switch v.kind {
		case fsNTFS, fsBitLocker:
			return rootPart{}, volume{}, fmt.Errorf("%w (partition %d is %s)", ErrWindows, p.Number, map[string]string{fsNTFS: "NTFS", fsBitLocker: "BitLocker-encrypted"}[v.kind])
		case fsExt, fsXFS, fsBtrfs:
			node, err := partitionNode(dev, p)
			if err != nil {
				return rootPart{}, volume{}, err
			}
			// ext file systems are checked (and repaired: this is a copy, or a
			// dry run's overlay) before the kernel sees them; XFS and Btrfs
			// replay their logs when mounted and are checked afterwards.
			repaired := ""
			if v.kind == fsExt {
				fmt.Fprintf(log, "checking partition %d (e2fsck -fy, which also replays the journal)\n", p.Number)
				if repaired, err = check(ctx, v.kind, node, true); err != nil {
					return rootPart{}, volume{}, fmt.Errorf("partition %d: %w", p.Number, err)
				}
			}
			ok, err := holdsEtc(node, mnt, v.kind)
			if err != nil {
				return rootPart{}, volume{}, fmt.Errorf("partition %d: %w", p.Number, err)
			}
			if ok {
				roots, rootVols = append(roots, rootPart{p, node, repaired}), append(rootVols, v)
			} else if repaired != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("partition %d (not the root) was repaired: %s", p.Number, repaired))
			}
		case fsLVM, fsLUKS:
			others = append(others, fmt.Sprintf("partition %d is %s", p.Number, map[string]string{
				fsLVM: "an LVM physical volume", fsLUKS: "LUKS-encrypted"}[v.kind]))
		}
		if p.Type == gptLinuxLVM || p.Type == "0x8e" {
			others = append(others, fmt.Sprintf("partition %d is an LVM partition", p.Number))
		}
	}
	switch len(roots) {
	case 1:
		return roots[0], rootVols[0], nil
	case 0:
		msg := "no ext2/3/4, XFS or Btrfs partition holds /etc/passwd or /etc/os-release"
		if len(others) > 0 {
			msg = strings.Join(slices.Compact(others), ", ") + ", which offline generalization does not read: " +
				"generalize inside the running guest instead (`sudo hangar-agent deprovision+user`), then shut it down"
		}
		return rootPart{}, volume{}, fmt.Errorf("%w: %s", ErrNoRoot, msg)
	}
	var nums []string
	for _, p := range roots {
		nums = append(nums, fmt.Sprint(p.Number))
	}
	return rootPart{}, volume{}, fmt.Errorf("%w (partitions %s): cannot tell which one to generalize", ErrSeveralRoot, strings.Join(nums, ", "))
}

// partitionNode is the device node the kernel made for partition p of dev: the
// one whose start sector (sysfs counts 512-byte sectors) is p's.
func partitionNode(dev string, p Partition) (string, error) {
	base := filepath.Base(dev)
	parts, _ := filepath.Glob(filepath.Join("/sys/class/block", base, base+"*", "start"))
	for _, s := range parts {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		start, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && start*512 == p.Start {
			return filepath.Join("/dev", filepath.Base(filepath.Dir(s))), nil
		}
	}
	return "", fmt.Errorf("partition %d: the kernel did not find it (it ignores partitions it considers invalid)", p.Number)
}

// holdsEtc reports whether the file system on node has /etc/passwd or
// /etc/os-release, looking read-only without replaying a journal.
func holdsEtc(node, mnt, kind string) (bool, error) {
	if err := mount(node, mnt, kind, true); err != nil {
		return false, err
	}
	defer syscall.Unmount(mnt, 0)
	etc, err := os.Lstat(filepath.Join(mnt, "etc"))
	if err != nil || !etc.IsDir() {
		return false, nil
	}
	for _, name := range []string{"passwd", "os-release"} {
		if _, err := os.Lstat(filepath.Join(mnt, "etc", name)); err == nil {
			return true, nil
		}
	}
	return false, nil
}

// mount mounts the file system of kind on node at mnt, never running anything
// from it; peek mounts read-only without replaying a journal.
func mount(node, mnt, kind string, peek bool) error {
	flags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
	fstype, data := map[string]string{fsExt: "ext4", fsXFS: "xfs", fsBtrfs: "btrfs"}[kind], ""
	if peek {
		flags |= syscall.MS_RDONLY
		data = map[string]string{fsExt: "noload", fsXFS: "norecovery", fsBtrfs: "rescue=nologreplay"}[kind]
	}
	if err := syscall.Mount(node, mnt, fstype, flags, data); err != nil {
		return fmt.Errorf("%w: the kernel cannot mount the %s file system on %s: %v", ErrCheckFailed, fstype, filepath.Base(node), err)
	}
	return nil
}

// inRoot runs fn with dir as the process's root directory (chroot), so that
// paths, symbolic links included, resolve inside the guest's root as they do in
// the running guest; then it returns to the appliance's root.
func inRoot(dir string, fn func() error) error {
	top, err := os.Open("/")
	if err != nil {
		return err
	}
	defer top.Close()
	if err := syscall.Chroot(dir); err != nil {
		return err
	}
	defer func() {
		// Back out through the descriptor of the old root: the way out of a
		// chroot for root, and the reason the appliance must never run anything
		// of the guest's.
		if err := syscall.Fchdir(int(top.Fd())); err == nil {
			syscall.Chroot(".")
		}
		syscall.Chdir("/")
	}()
	if err := syscall.Chdir("/"); err != nil {
		return err
	}
	return fn()
}

func checkName(kind string) string {
	return map[string]string{fsExt: "e2fsck -fn", fsXFS: "xfs_repair -n", fsBtrfs: "btrfs check --readonly"}[kind]
}

// check runs the file system's checker on node: with fix, e2fsck -fy (ext only;
// exit status 0 clean, 1 and 2 repaired; it returns a summary of the repairs);
// without, the read-only check, which must find it clean.
func check(ctx context.Context, kind, node string, fix bool) (string, error) {
	var cmd *exec.Cmd
	switch {
	case kind == fsExt && fix:
		cmd = exec.CommandContext(ctx, "e2fsck", "-fy", node)
	case kind == fsExt:
		cmd = exec.CommandContext(ctx, "e2fsck", "-fn", node)
	case kind == fsXFS:
		cmd = exec.CommandContext(ctx, "xfs_repair", "-n", node)
	default:
		cmd = exec.CommandContext(ctx, "btrfs", "check", "--readonly", node)
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return "", fmt.Errorf("%s: %w", cmd.Args[0], err)
		}
		code = ee.ExitCode()
	}
	switch {
	case code == 0:
		return "", nil
	case fix && code < 4:
		return summarize(out), nil
	case fix:
		return "", fmt.Errorf("%w: e2fsck -fy could not repair the root file system (exit status %d): %s", ErrCheckFailed, code, summarize(out))
	}
	return "", fmt.Errorf("%w: %s found the edited file system damaged (exit status %d), the image is left as it was: %s",
		ErrCheckFailed, checkName(kind), code, summarize(out))
}

// summarize keeps a checker's lines that say something: not its banner or passes.
func summarize(out []byte) string {
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "e2fsck ") || strings.HasPrefix(line, "Pass ") ||
			strings.HasPrefix(line, "Phase ") || strings.HasPrefix(line, "        - ") || strings.HasPrefix(line, "[") {
			continue
		}
		keep = append(keep, line)
	}
	if len(keep) > 20 {
		keep = append(keep[:20], "...")
	}
	return strings.Join(keep, "; ")
}

func labelSuffix(l string) string {
	if l == "" {
		return ""
	}
	return fmt.Sprintf(" labelled %q", l)
}

func sizeString(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
