package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/appliance"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/generalize"
	"github.com/hangarvm/hangar/internal/hangar"
)

type generalizeFlags struct {
	local      string
	appliance  string
	accel      string
	name       string
	removeUser bool
	dryRun     bool
}

func newDiskGeneralizeCmd(g *globals) *cobra.Command {
	f := &generalizeFlags{}
	var policy strings.Builder
	for _, line := range agent.DeprovisionPolicy(true) {
		policy.WriteString("  - " + line + "\n")
	}
	cmd := &cobra.Command{
		Use:   "generalize DISK [--name NEW] | --local FILE [--remove-user] [--dry-run]",
		Short: "Generalize a stopped Linux disk offline, like `hangar-agent deprovision` inside the VM",
		Long: `Generalize a Linux disk without booting it, so that it can become a generalized
image (each VM made from it is provisioned anew: new host name, user, SSH host keys).
It does offline what "hangar-agent deprovision" does inside the VM, with the same rules:

` + policy.String() + `(the provisioned user only with --remove-user).

A stored disk (DISK) is generalized on the server into a new disk (--name, default
DISK-generalized); the original stays as it was. A local file (--local FILE, no server
needed) is generalized in place.

The disk must be a raw image (GPT or MBR) with one ext2/3/4, XFS or Btrfs root file
system (the one holding /etc/passwd or /etc/os-release). No process on this machine reads
it: the work is done inside Hangar's appliance, a throwaway VM (QEMU, no network,
bounded time and memory) that boots with the disk as its only drive. There, the file
system's own checker runs first (e2fsck -fy also repairs), the kernel mounts it (which
replays its journal), hangar-agent deprovisions it as inside the VM, and the checker
must then find it clean. The work is done on a copy beside the file, which replaces it
only at the end: if anything fails, the file is left as it was. An image a running VM
holds is refused, and while it works no VM can start on it.

Disks it cannot read are refused with the reason, never guessed at. Windows disks must
be generalized inside Windows with Sysprep; LVM or encrypted roots inside the running
guest with "sudo hangar-agent deprovision+user". The appliance is built by
"make appliance" (--appliance DIR or HANGAR_APPLIANCE name another one).

Generalizing cannot be undone: look first with --dry-run, which changes nothing.`,
		Example: `  hangar disk generalize web-os --name web-os-gen --remove-user
  hangar disk generalize --local web.raw --dry-run
  hangar disk generalize --local web.raw --remove-user
  hangar disk convert web.vhd web.raw --format raw && hangar disk generalize --local web.raw -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.local == "" {
				if len(args) == 0 {
					return usageErrorf("name a stored disk, or a local raw file with --local FILE")
				}
				return generalizeStored(cmd, g, f, args[0])
			}
			if len(args) > 0 {
				return usageErrorf("give either --local FILE or a stored disk name, not both (%q)", args[0])
			}
			return generalizeLocal(cmd, g, f)
		},
	}
	cmd.Flags().StringVar(&f.local, "local", "", "the raw disk image file to generalize, in place")
	cmd.Flags().StringVar(&f.appliance, "appliance", defaultApplianceDir(), "with --local: the appliance's directory (vmlinuz, initrd.img)")
	enumVar(cmd.Flags(), &f.accel, "accel", "auto", accels, "with --local: the appliance's acceleration: auto (KVM if a test boot works, else TCG), kvm or tcg")
	cmd.Flags().StringVarP(&f.name, "name", "n", "", "the new disk, for a stored DISK (default: DISK-generalized)")
	cmd.Flags().BoolVar(&f.removeUser, "remove-user", false, "also remove the last provisioned user (as deprovision+user): account, home, sudo rights")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "list what would be removed or changed, and change nothing")
	return cmd
}

func generalizeLocal(cmd *cobra.Command, g *globals, f *generalizeFlags) error {
	if err := requireRawImage(f.local); err != nil {
		return err
	}
	opts := generalize.Options{Image: f.local, RemoveUser: f.removeUser, DryRun: f.dryRun}
	if g.tableOutput() {
		opts.Log = cmd.OutOrStdout() // progress, then one line per change
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return errors.New("generalize --local boots Hangar's appliance under QEMU: apt-get install qemu-system-x86 qemu-utils")
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return errors.New("generalize --local needs qemu-img: apt-get install qemu-utils")
	}
	accel := f.accel
	if accel == "auto" {
		accel = "tcg"
		if compute.ProbeKVM(cmd.Context(), qemu, 10*time.Second) {
			accel = "kvm"
		}
	}
	app := appliance.Config{QEMU: qemu, QEMUImg: qemuImg, Dir: f.appliance, Accel: accel, RunAs: appliance.UnprivilegedUser()}
	rep, err := app.Generalize(cmd.Context(), opts)
	if err != nil {
		if errors.Is(err, generalize.ErrNotRaw) {
			return fmt.Errorf("%w; convert it first with `hangar disk convert %s OUT --format raw`", err, f.local)
		}
		return err
	}
	return g.print(cmd, rep, func(w io.Writer) {
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "Note: %s\n", n)
		}
		if rep.Repaired != "" {
			fmt.Fprintf(w, "Note: the file system check repaired it first: %s\n", rep.Repaired)
		}
		user := ""
		if rep.User != "" {
			user = ", user " + rep.User + " removed"
		}
		switch {
		case rep.DryRun:
			fmt.Fprintf(w, "Dry run: %s listed, %s left as it was.\n", changeCount(len(rep.Changes)), rep.Image)
		case !rep.Replaced:
			fmt.Fprintf(w, "Nothing to change: %s is already generalized.\n", rep.Image)
		default:
			fmt.Fprintf(w, "Generalized %s (partition %d, %s): %s%s.\n", rep.Image, rep.Partition.Number,
				rep.Filesystem, changeCount(len(rep.Changes)), user)
			fmt.Fprintf(w, "Next: hangar disk upload %s --name NAME, then hangar image create ... --os-state generalized --os-disk NAME\n", rep.Image)
		}
	})
}

// requireRawImage refuses a file that is not a raw disk image, naming the conversion.
func requireRawImage(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	format, err := diskfmt.Detect(file, fi.Size())
	if err != nil {
		return err
	}
	if format != diskfmt.Raw {
		return fmt.Errorf("%s is a %s file; generalize edits raw disk images only: convert it first with "+
			"`hangar disk convert %s OUT.raw --format raw`, generalize OUT.raw, then convert back if needed", path, format, path)
	}
	return nil
}

func changeCount(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}

// generalizeStored asks the server to generalize a stored disk into a new disk.
func generalizeStored(cmd *cobra.Command, g *globals, f *generalizeFlags, name string) error {
	res, err := g.client().GeneralizeDisk(cmd.Context(), name, hangar.DiskGeneralize{Name: f.name, RemoveUser: f.removeUser, DryRun: f.dryRun})
	if err != nil {
		return err
	}
	return g.print(cmd, res, func(w io.Writer) {
		for _, c := range res.Changes {
			fmt.Fprintln(w, c)
		}
		for _, n := range res.Notes {
			fmt.Fprintf(w, "Note: %s\n", n)
		}
		if res.Disk == nil {
			fmt.Fprintf(w, "Dry run: %s listed, disk %s left as it was.\n", changeCount(len(res.Changes)), name)
			return
		}
		fmt.Fprintf(w, "Generalized disk %s into %s (%s). Next: hangar image create --name NAME --type os --os-type linux --os-state generalized --os-disk %s\n",
			name, res.Disk.Name, changeCount(len(res.Changes)), res.Disk.Name)
	})
}
