// Package generalize generalizes a stopped Linux disk image offline: the same
// clean-up as `hangar-agent deprovision` (the policy is agent.PlanDeprovision,
// shared), done on the ext2/3/4 root file system of a raw disk image with
// e2fsprogs' debugfs, without mounting anything and without root.
//
// Safety: the image is read as untrusted (partition tables and superblocks are
// bounds-checked; a disk it does not understand is refused with the reason, never
// guessed at). The work is done on a copy next to the image (a reflink where the
// file system can, else a sparse copy): e2fsck -fy replays the journal, debugfs
// edits, e2fsck -fn must then find the file system clean, and only then does the
// copy replace the image, atomically. On any failure the image is as it was.
// It refuses an image a running VM holds (QEMU locks bytes of the files it
// opens), and while it works it holds an exclusive lock on those bytes, so that no
// VM can start on the image meanwhile.
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
	"strings"
	"syscall"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/diskfmt"
)

// Options say what Generalize does.
type Options struct {
	Image      string    // a raw disk image file
	RemoveUser bool      // also remove the last provisioned user (deprovision+user)
	DryRun     bool      // list the changes, change nothing (the image is only read)
	Log        io.Writer // progress and one line per change; nil discards
}

// Report is what Generalize found and did.
type Report struct {
	Image      string         `json:"image"`
	Scheme     string         `json:"partitionTable"` // "gpt" or "mbr"
	Partition  Partition      `json:"partition"`      // the root file system's
	Filesystem string         `json:"filesystem"`     // "ext4", "ext3" or "ext2"
	Label      string         `json:"label,omitempty"`
	DryRun     bool           `json:"dryRun"`
	User       string         `json:"user,omitempty"` // the provisioned user removed
	Changes    []agent.Change `json:"changes"`
	Notes      []string       `json:"notes,omitempty"`
	// Repaired is e2fsck's summary when it had to repair the file system before
	// the clean-up (the repair is part of the result).
	Repaired string `json:"repaired,omitempty"`
	// Replaced tells whether the image file was rewritten (false for a dry run,
	// or when there was nothing to change).
	Replaced bool `json:"replaced"`
}

// Errors Generalize refuses a disk with, wrapped with the details.
var (
	ErrNotRaw      = errors.New("not a raw disk image")
	ErrWindows     = errors.New("a Windows disk must be generalized inside Windows with Sysprep: run `C:\\Windows\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown`")
	ErrNoRoot      = errors.New("no Linux root file system found")
	ErrSeveralRoot = errors.New("several Linux root file systems")
	ErrInUse       = errors.New("the image is in use")
	ErrCheckFailed = errors.New("the file system check failed")
)

// Generalize generalizes the Linux disk image opts.Image (see the package
// documentation) and reports what it changed, or with DryRun would change.
func Generalize(ctx context.Context, opts Options) (*Report, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	bin, err := findTool("debugfs")
	if err != nil {
		return nil, err
	}
	fsck, err := findTool("e2fsck")
	if err != nil {
		return nil, err
	}
	mode := os.O_RDONLY
	if !opts.DryRun {
		mode = os.O_RDWR // for the lock; the image itself is replaced, not written
	}
	f, err := os.OpenFile(opts.Image, mode, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", opts.Image)
	}
	if err := lockImage(f, !opts.DryRun); err != nil {
		return nil, err
	}
	format, err := diskfmt.Detect(f, fi.Size())
	if err != nil {
		return nil, err
	}
	if format != diskfmt.Raw {
		return nil, fmt.Errorf("%w: %s is a %s file", ErrNotRaw, opts.Image, format)
	}

	work, err := os.MkdirTemp("", "hangar-generalize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	// debugfs and e2fsck take "FILE?offset=N": reach the image through a link
	// whose name holds no '?'.
	abs, err := filepath.Abs(opts.Image)
	if err != nil {
		return nil, err
	}
	link := filepath.Join(work, "image")
	if strings.Contains(link, "?") {
		return nil, fmt.Errorf("the temp directory %s holds a '?': set TMPDIR to another one", work)
	}
	if err := os.Symlink(abs, link); err != nil {
		return nil, err
	}

	rep := &Report{Image: opts.Image, DryRun: opts.DryRun, Changes: []agent.Change{}}
	root, vol, err := findRoot(ctx, f, fi.Size(), bin, link, rep)
	if err != nil {
		return rep, err
	}
	rep.Partition, rep.Filesystem, rep.Label = root, vol.version, vol.label
	fmt.Fprintf(log, "root file system: partition %d (%s%s, %s at offset %d)\n", root.Number, vol.version,
		labelSuffix(vol.label), sizeString(root.Size), root.Start)

	if opts.DryRun {
		if vol.needsRecovery {
			rep.Notes = append(rep.Notes, "the journal holds changes not yet written (the VM was not shut down cleanly): "+
				"the real run replays it first, so its list may differ")
		}
		d := &debugfs{bin: bin, image: link, offset: root.Start}
		plan, err := agent.PlanDeprovision(newTree(ctx, d), opts.RemoveUser)
		if err != nil {
			return rep, err
		}
		rep.fill(plan)
		for _, c := range plan.Changes {
			fmt.Fprintln(log, c.Describe(true))
		}
		return rep, nil
	}

	// The copy is made next to the image, so that it can replace it atomically.
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".generalize-*")
	if err != nil {
		return rep, err
	}
	tmpName := tmp.Name()
	defer func() {
		tmp.Close()
		if !rep.Replaced {
			os.Remove(tmpName)
		}
	}()
	fmt.Fprintf(log, "copying %s to work on\n", opts.Image)
	if err := copyImage(ctx, tmp, f, fi.Size()); err != nil {
		return rep, fmt.Errorf("copying the image: %w", err)
	}
	tmpLink := filepath.Join(work, "copy")
	if err := os.Symlink(tmpName, tmpLink); err != nil {
		return rep, err
	}
	d := &debugfs{bin: bin, image: tmpLink, offset: root.Start}

	fmt.Fprintln(log, "checking the file system (e2fsck -fy, which also replays the journal)")
	repaired, err := e2fsck(ctx, fsck, d.spec(), true)
	if err != nil {
		return rep, err
	}
	rep.Repaired = repaired
	tree := newTree(ctx, d)
	plan, err := agent.PlanDeprovision(tree, opts.RemoveUser)
	if err != nil {
		return rep, err
	}
	if len(plan.Changes) == 0 && repaired == "" {
		rep.fill(plan)
		fmt.Fprintln(log, "nothing to change: the image is already generalized")
		return rep, nil
	}
	if err := tree.apply(plan.Changes, work); err != nil {
		return rep, err
	}
	fmt.Fprintln(log, "checking the result (e2fsck -fn)")
	if _, err := e2fsck(ctx, fsck, d.spec(), false); err != nil {
		return rep, err
	}
	if err := replace(tmp, f, fi, abs); err != nil {
		return rep, err
	}
	rep.Replaced = true
	rep.fill(plan)
	for _, c := range plan.Changes {
		fmt.Fprintln(log, c.Describe(false))
	}
	return rep, nil
}

func (r *Report) fill(plan *agent.DeprovisionPlan) {
	r.User, r.Changes, r.Notes = plan.User, plan.Changes, append(r.Notes, plan.Notes...)
}

func labelSuffix(l string) string {
	if l == "" {
		return ""
	}
	return fmt.Sprintf(" labelled %q", l)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// findRoot finds the one Linux root file system of the disk: the ext2/3/4
// partition holding /etc/passwd or /etc/os-release. It refuses Windows disks
// (an NTFS or BitLocker volume, or a Microsoft reserved partition), disks with
// no partition table, no root or several.
func findRoot(ctx context.Context, r io.ReaderAt, size int64, bin, image string, rep *Report) (Partition, volume, error) {
	t, err := ReadPartitionTable(r, size)
	if errors.Is(err, ErrNoPartitionTable) {
		head := make([]byte, 512)
		if readAt(r, head, 0) == nil && string(head[3:11]) == ntfsOEM {
			return Partition{}, volume{}, fmt.Errorf("%w (this disk is an NTFS volume)", ErrWindows)
		}
		return Partition{}, volume{}, fmt.Errorf("%w: generalize works on whole disks (GPT or MBR) with a Linux root partition", err)
	}
	if err != nil {
		return Partition{}, volume{}, err
	}
	rep.Scheme = t.Scheme
	var roots []Partition
	var rootVols []volume
	var others []string
	for _, p := range t.Partitions {
		if p.Type == gptMicrosoftReserved || p.Type == gptWindowsRecovery || p.Type == "0x27" {
			return Partition{}, volume{}, fmt.Errorf("%w (partition %d is a Microsoft reserved or recovery partition)", ErrWindows, p.Number)
		}
		v, err := probe(r, p)
		if err != nil {
			return Partition{}, volume{}, err
		}
		switch v.kind {
		case fsNTFS, fsBitLocker:
			return Partition{}, volume{}, fmt.Errorf("%w (partition %d is %s)", ErrWindows, p.Number, map[string]string{fsNTFS: "NTFS", fsBitLocker: "BitLocker-encrypted"}[v.kind])
		case fsExt:
			ok, err := holdsEtc(ctx, &debugfs{bin: bin, image: image, offset: p.Start})
			if err != nil {
				return Partition{}, volume{}, fmt.Errorf("partition %d: %w", p.Number, err)
			}
			if ok {
				roots, rootVols = append(roots, p), append(rootVols, v)
			}
		case fsXFS, fsBtrfs, fsLVM, fsLUKS:
			others = append(others, fmt.Sprintf("partition %d is %s", p.Number, map[string]string{
				fsXFS: "XFS", fsBtrfs: "Btrfs", fsLVM: "an LVM physical volume", fsLUKS: "LUKS-encrypted"}[v.kind]))
		}
		if p.Type == gptLinuxLVM || p.Type == "0x8e" {
			others = append(others, fmt.Sprintf("partition %d is an LVM partition", p.Number))
		}
	}
	switch len(roots) {
	case 1:
		return roots[0], rootVols[0], nil
	case 0:
		msg := "no ext2/3/4 partition holds /etc/passwd or /etc/os-release"
		if len(others) > 0 {
			msg = strings.Join(slices.Compact(others), ", ") + ", which offline generalization does not read (it edits ext2/3/4 only): " +
				"generalize inside the running guest instead (`sudo hangar-agent deprovision+user`), then shut it down"
		}
		return Partition{}, volume{}, fmt.Errorf("%w: %s", ErrNoRoot, msg)
	}
	var nums []string
	for _, p := range roots {
		nums = append(nums, fmt.Sprint(p.Number))
	}
	return Partition{}, volume{}, fmt.Errorf("%w (partitions %s): cannot tell which one to generalize", ErrSeveralRoot, strings.Join(nums, ", "))
}

// holdsEtc reports whether the file system has /etc/passwd or /etc/os-release.
func holdsEtc(ctx context.Context, d *debugfs) (bool, error) {
	entries, err := newTree(ctx, d).ReadDir("/etc")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Name == "passwd" || e.Name == "os-release" {
			return true, nil
		}
	}
	return false, nil
}

// e2fsck checks the file system spec: with fix, -fy (exit status 0 clean, 1 and 2
// repaired; it returns a summary of the repairs); without, -fn, which must find
// it clean.
func e2fsck(ctx context.Context, bin, spec string, fix bool) (string, error) {
	flag := "-fn"
	if fix {
		flag = "-fy"
	}
	cmd := exec.CommandContext(ctx, bin, flag, spec)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return "", fmt.Errorf("e2fsck: %w", err)
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
	return "", fmt.Errorf("%w: e2fsck -fn found the edited file system damaged (exit status %d), the image is left as it was: %s",
		ErrCheckFailed, code, summarize(out))
}

// summarize keeps e2fsck's lines that say something: not its banner or passes.
func summarize(out []byte) string {
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "e2fsck ") || strings.HasPrefix(line, "Pass ") {
			continue
		}
		keep = append(keep, line)
	}
	if len(keep) > 20 {
		keep = append(keep[:20], "...")
	}
	return strings.Join(keep, "; ")
}

// replace puts the finished copy in the image's place: synced, with the image's
// mode (and owner, when allowed), renamed over it, the directory synced.
func replace(tmp, orig *os.File, fi os.FileInfo, abs string) error {
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), abs); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(abs))
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
