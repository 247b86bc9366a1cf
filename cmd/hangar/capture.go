package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func newVMBackupCmd(g *globals) *cobra.Command {
	var req hangar.VMBackup
	cmd := &cobra.Command{
		Use:   "backup NAME",
		Short: "Snapshot every disk of a stopped VM into disks you own",
		Long: `Snapshot the OS disk and every data disk of a stopped VM into disks you own, named
BACKUP-os, BACKUP-lun0, ... Only what the VM changed since its image is stored again.
Restore by making a specialized VM image of them; the command prints how.

A backup name that exists is refused: an earlier backup is never lost by accident.
--overwrite replaces it, in one step: the old backup stays whole until the new one
is complete.`,
		Example: `  hangar vm stop web1 && hangar vm backup web1 --name web1-before-upgrade
  hangar vm backup web1 --name web1-nightly --overwrite -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.client().Backup(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return g.print(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Backed up %s as %s (OS disk %s, %d data disks).\nRestore with: %s\n", args[0], res.Name, res.OSDisk, len(res.DataDisks), res.Restore)
			})
		},
	}
	cmd.Flags().StringVarP(&req.Name, "name", "n", "", "backup name (default: NAME-backup-TIME)")
	cmd.Flags().BoolVar(&req.Overwrite, "overwrite", false, "replace an existing backup of the same name")
	return cmd
}

func newVMGeneralizeCmd(g *globals) *cobra.Command {
	var req hangar.VMGeneralize
	var confirm func(string) error
	var ifMatch func() client.RequestOption
	cmd := &cobra.Command{
		Use:   "generalize NAME",
		Short: "Mark a stopped, deprovisioned VM generalized: irreversible, it can never start again",
		Long: `Mark a VM generalized so it can be captured as an image that stamps out many VMs.

First deprovision the guest (it removes host keys, machine-id, the last user, ...):
  hangar vm run-command NAME --script 'hangar-agent deprovision+user'
then stop the VM. Generalizing is irreversible: the VM can never start again. So a
backup of its disks is taken first when no backup holds its latest state (skip it
with --no-backup). It asks for confirmation unless --yes.`,
		Example: "  hangar vm generalize web1 --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("generalize VM " + args[0] + ", which can never start again afterwards"); err != nil {
				return err
			}
			vm, err := g.client().Generalize(cmd.Context(), args[0], req, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, vm, func(w io.Writer) {
				fmt.Fprintf(w, "VM %s is generalized. Next: hangar vm capture %s --image-name IMAGE\n", vm.Name, vm.Name)
			})
		},
	}
	confirm = yesFlag(cmd, g)
	cmd.Flags().BoolVar(&req.NoBackup, "no-backup", false, "do not back the VM up first")
	ifMatch = ifMatchFlag(cmd, "VM")
	return cmd
}

func newVMCaptureCmd(g *globals) *cobra.Command {
	var req hangar.VMCapture
	var osState, typ string
	var properties []string
	cmd := &cobra.Command{
		Use:   "capture NAME",
		Short: "Make an image of a stopped or generalized VM",
		Long: `Make an image version of a VM: a VM image with the OS disk and every data disk (LUNs
kept), or with --type os an OS image (only for VMs without data disks).

A generalized capture (the default for a generalized VM) stamps out many VMs, each
provisioned anew; like Azure's classic capture it deletes the VM afterwards unless
--keep-vm. A specialized capture keeps the VM's identity and leaves the VM as it was.
Only what the VM changed since its image is read and stored.`,
		Example: `  hangar vm capture web1 --image-name web --version 2.0.0
  hangar vm capture db1 --image-name db-snapshot --os-state specialized`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.OSState, req.Type = hangar.OSState(osState), hangar.ImageType(typ)
			if len(properties) > 0 {
				var err error
				if req.Properties, err = hangar.ParseProperties(properties); err != nil {
					return usageError{err}
				}
			}
			im, err := g.client().Capture(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) {
				fmt.Fprintf(w, "Captured %s as image %s version %s (%s, %s).\n", args[0], im.Name, im.Versions[0].Version, im.Type, im.OSState)
			})
		},
	}
	cmd.Flags().StringVar(&req.ImageName, "image-name", "", "image to create or add a version to")
	cmd.Flags().StringVar(&req.Version, "version", "1.0.0", "image version")
	enumVar(cmd.Flags(), &osState, "os-state", "", osStates, "generalized or specialized (default: generalized if the VM is)")
	enumVar(cmd.Flags(), &typ, "type", string(hangar.ImageTypeVM), imageTypes, "vm (OS and data disks) or os (OS disk only)")
	cmd.Flags().BoolVar(&req.KeepVM, "keep-vm", false, "keep the VM after a generalized capture")
	cmd.Flags().StringArrayVar(&properties, "properties", nil, "a property of the new version: KEY=VALUE (repeatable)")
	cmd.Flags().StringVarP(&req.ResourceGroup, "resource-group", "g", "", "ARM resource group to record a new image in (default hangar)")
	cmd.MarkFlagRequired("image-name")
	return cmd
}
