// Package appliance runs Hangar's appliance: a throwaway VM (images/appliance:
// Debian's cloud kernel and an initramfs with busybox, the file system tools and
// hangar-agent) that does offline work on a guest disk, so that no host process
// parses a guest file system (DESIGN.md, docs/SECURITY.md).
//
// The appliance gets the disk as its only drive and nothing else: no network
// device, a bounded memory size, a deadline after which it is killed, QEMU's
// sandbox, and, where the host has the user, an unprivileged QEMU process
// (-runas). Its job comes on the kernel command line; its only way back is one
// virtio-serial port whose messages the host reads as untrusted input
// (generalize.ReadMessages: bounded lines, cleaned text). A hostile file system
// that takes over the appliance's kernel can lie in its report or wreck the
// work copy of its own disk, nothing more: the image is replaced only by a
// copy the appliance edited and reported clean, and a dry run works on a
// throwaway overlay.
//
// libguestfs would do the same job with a bigger appliance and a general
// scripting interface (guestfish) whose commands we would generate; booting our
// own agent runs the one deprovision policy with one implementation, in the guest
// and offline.
package appliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/generalize"
)

// Config is how to run the appliance.
type Config struct {
	QEMU    string // qemu-system-x86_64
	QEMUImg string // qemu-img, for dry-run overlays
	// Dir holds vmlinuz and initrd.img, as images/appliance/build.sh writes them.
	Dir       string
	Accel     string        // kvm or tcg
	MemoryMiB int           // default 512
	Timeout   time.Duration // default 10 minutes: the appliance is killed after it
	// RunAs is the unprivileged user QEMU switches to once it has opened its
	// files (-runas); "" keeps the caller's.
	RunAs string
}

// Default limits of a job.
const (
	DefaultMemoryMiB = 512
	DefaultTimeout   = 10 * time.Minute
	consoleTail      = 4000 // bytes of the appliance's console kept for errors (what Clean keeps)
)

// ErrMissing says the appliance is not built or not found.
var ErrMissing = errors.New("the appliance is not built")

// Check reports whether the appliance's files are there.
func (c Config) Check() error {
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		if _, err := os.Stat(filepath.Join(c.Dir, f)); err != nil {
			return fmt.Errorf("%w: no %s in %s: run `make appliance` (images/appliance/build.sh --agent bin/hangar-agent --out %s) "+
				"or point --appliance at its directory", ErrMissing, f, c.Dir, c.Dir)
		}
	}
	return nil
}

// UnprivilegedUser is the user QEMU should run as: none unless this process is
// root; then "hangar-qemu" if the host has it, else "nobody".
func UnprivilegedUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	for _, name := range []string{"hangar-qemu", "nobody"} {
		if _, err := user.Lookup(name); err == nil {
			return name
		}
	}
	return ""
}

// Args is QEMU's command line (without the program name) for one appliance run:
// the job on the kernel command line, disk (in format) as the only drive, the
// report port on the unix socket sock, the console on stdout.
func Args(c Config, job generalize.Job, disk, format, sock string) []string {
	mem := c.MemoryMiB
	if mem == 0 {
		mem = DefaultMemoryMiB
	}
	// no_timer_check: under TCG on a busy host the kernel's early check of the
	// IO-APIC timer can miss its ticks and panic ("IO-APIC + timer doesn't
	// work"); the timer of QEMU's machine is known good.
	cmdline := append([]string{"console=ttyS0", "quiet", "panic=-1", "no_timer_check"}, job.KernelArgs()...)
	a := []string{
		"-name", "hangar-appliance",
		"-machine", "pc,accel=" + c.Accel,
		"-smp", "1", "-m", strconv.Itoa(mem),
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none", "-no-reboot",
		"-kernel", filepath.Join(c.Dir, "vmlinuz"),
		"-initrd", filepath.Join(c.Dir, "initrd.img"),
		"-append", strings.Join(cmdline, " "),
		"-serial", "stdio",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=report,path=" + optionValue(sock),
		"-device", "virtserialport,bus=vser0.0,chardev=report,name=" + generalize.Port,
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-pci,rng=rng0",
		"-drive", "file=" + optionValue(disk) + ",format=" + format + ",if=none,id=disk,cache=writeback,discard=unmap",
		"-device", "virtio-blk-pci,drive=disk",
	}
	// QEMU switches user (-runas) after its sandbox is in place, so the sandbox
	// must let it do that once; from then on it has no privilege to regain.
	if c.RunAs != "" {
		return append(a, "-sandbox", "on,obsolete=deny,spawn=deny,resourcecontrol=deny", "-runas", c.RunAs)
	}
	return append(a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
}

// optionValue escapes a value inside a QEMU option list, where a comma ends the
// value unless doubled: a path with a comma would otherwise add options.
func optionValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// Generalize generalizes the Linux disk image opts.Image in the appliance (see
// package generalize) and reports what it changed, or with DryRun would change.
// The work is done on a copy beside the image (a reflink where the file system
// can), which replaces the image only once the appliance reported success and a
// clean check; a dry run works on a throwaway overlay. On any failure the image
// is as it was. It refuses an image a running VM holds, and holds QEMU's lock
// bytes while it works, so that no VM starts on the image meanwhile.
func (c Config) Generalize(ctx context.Context, opts generalize.Options) (*generalize.Report, error) {
	if err := c.Check(); err != nil {
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
		return nil, fmt.Errorf("%w: %s is a %s file", generalize.ErrNotRaw, opts.Image, format)
	}
	abs, err := filepath.Abs(opts.Image)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hangar-appliance-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	job := generalize.Job{RemoveUser: opts.RemoveUser, DryRun: opts.DryRun}

	if opts.DryRun {
		overlay := filepath.Join(work, "overlay.qcow2")
		out, err := exec.CommandContext(ctx, c.QEMUImg, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", abs, overlay).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("qemu-img create: %v: %s", err, bytes.TrimSpace(out))
		}
		rep, err := c.run(ctx, job, overlay, "qcow2", work, log)
		if rep != nil {
			rep.Image = opts.Image
		}
		return rep, err
	}

	// The copy is made next to the image, so that it can replace it atomically.
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".generalize-*")
	if err != nil {
		return nil, err
	}
	replaced := false
	defer func() {
		tmp.Close()
		if !replaced {
			os.Remove(tmp.Name())
		}
	}()
	fmt.Fprintf(log, "copying %s to work on\n", opts.Image)
	if err := copyImage(ctx, tmp, f, fi.Size()); err != nil {
		return nil, fmt.Errorf("copying the image: %w", err)
	}
	rep, err := c.run(ctx, job, tmp.Name(), "raw", work, log)
	if err != nil {
		return rep, err
	}
	rep.Image = opts.Image
	if len(rep.Changes) == 0 && rep.Repaired == "" {
		fmt.Fprintln(log, "nothing to change: the image is already generalized")
		return rep, nil
	}
	if err := replace(tmp, fi, abs); err != nil {
		return rep, err
	}
	replaced, rep.Replaced = true, true
	return rep, nil
}

// run boots the appliance on disk and reads its report.
func (c Config) run(ctx context.Context, job generalize.Job, disk, format, work string, log io.Writer) (*generalize.Report, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sock := filepath.Join(work, "report.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	console := &tail{max: consoleTail}
	cmd := exec.CommandContext(ctx, c.QEMU, Args(c, job, disk, format, sock)...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the appliance: %w", err)
	}
	// The parent-death signal does not survive QEMU's switch to another user, so
	// if this process dies, the appliance lives on: bound its CPU time too (the
	// kernel kills it past the deadline's worth of CPU seconds).
	// Best effort: without it the deadline below still holds while we live.
	cpu := uint64(timeout.Seconds()) + 1
	_ = unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_CPU, &unix.Rlimit{Cur: cpu, Max: cpu}, nil)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	type result struct {
		rep *generalize.Report
		err error
	}
	reported := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			reported <- result{err: err}
			return
		}
		defer conn.Close()
		rep, err := generalize.ReadMessages(conn, log)
		reported <- result{rep, err}
	}()

	select {
	case r := <-reported:
		if r.err == nil || !errors.Is(r.err, generalize.ErrAppliance) {
			// The job's own answer; the appliance powers off by itself.
			waitExit(exited, cancel)
			return r.rep, r.err
		}
		cancel()
		<-exited
		return nil, fmt.Errorf("%w\n%s", r.err, console.String())
	case err := <-exited:
		ln.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: no report within %s (killed); its console ends with:\n%s", generalize.ErrAppliance, timeout, console.String())
		}
		// It may have reported just before exiting.
		select {
		case r := <-reported:
			if r.err == nil || !errors.Is(r.err, generalize.ErrAppliance) {
				return r.rep, r.err
			}
		case <-time.After(time.Second):
		}
		return nil, fmt.Errorf("%w: it stopped without a report (%v); its console ends with:\n%s", generalize.ErrAppliance, err, console.String())
	}
}

// waitExit gives the appliance a moment to power off, then kills it.
func waitExit(exited <-chan error, kill context.CancelFunc) {
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		kill()
		<-exited
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return generalize.Clean(strings.ReplaceAll(string(t.buf), "\n", " | "))
}

// replace puts the finished copy in the image's place: synced, with the image's
// mode (and owner, when allowed), renamed over it, the directory synced.
func replace(tmp *os.File, fi os.FileInfo, abs string) error {
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
	return atomicfile.Rename(tmp.Name(), abs)
}
