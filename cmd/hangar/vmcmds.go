package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func newVMCreateCmd(g *globals) *cobra.Command {
	var (
		req                  hangar.VMCreate
		keyValues            []string
		customData, userData string
		noWait               bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a VM from an image and wait until it is provisioned",
		Long: `Create a VM from any image reference: PUBLISHER:OFFER:SKU:VERSION,
community/PUBLICNAME/IMAGE[/VERSION], shared/TENANT/NAME[@VERSION] or your NAME[@VERSION].

From a generalized image the VM is provisioned with its own computer name, admin
user (an SSH key, a password, or both) and custom data. A specialized image is used
as it is: no computer name, user or key may be given.

The VM's network is its own: DHCP, DNS, and a port on the host's 127.0.0.1
forwarded to the guest's SSH port (vm show). --egress internet (the default) lets
the guest connect out to addresses the server does not deny; --egress none lets it
reach nothing outside. No guest ever reaches the host itself.

The command waits until the guest reports ready (or provisioning fails or times out:
then it says why and points at the serial log). --no-wait returns at once.`,
		Example: `  hangar vm create --name web1 --image Contoso:Linux:base:latest \
      --admin-username azureuser --ssh-key-value ~/.ssh/id_ed25519.pub
  hangar vm create -n db1 --image db@2.0.0 --size medium --attach-data-disk scratch -l westeurope
  hangar vm create --name sandbox --image base --egress none --admin-username ops --ssh-key-value key.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, v := range keyValues {
				key, err := readKeyValue(v)
				if err != nil {
					return err
				}
				req.SSHPublicKeys = append(req.SSHPublicKeys, key)
			}
			for _, f := range []struct {
				file string
				to   *[]byte
			}{{customData, &req.CustomData}, {userData, &req.UserData}} {
				if f.file != "" {
					data, err := os.ReadFile(f.file)
					if err != nil {
						return err
					}
					*f.to = data
				}
			}
			vm, err := g.client().CreateVM(cmd.Context(), req)
			if err != nil {
				return err
			}
			if err := g.tagNew(cmd, "vms", vm.Name, &vm); err != nil {
				return err
			}
			if !noWait {
				if vm, err = waitProvisioned(cmd.Context(), g, vm.Name); err != nil {
					return err
				}
			}
			if err := g.print(cmd, vm, func(w io.Writer) { printVM(w, &vm) }); err != nil {
				return err
			}
			if vm.ProvisioningState == hangar.ProvisioningTimedOut || vm.ProvisioningState == hangar.ProvisioningFailed {
				return fmt.Errorf("VM %s: %s: %s", vm.Name, vm.ProvisioningState, vm.ProvisioningMessage)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&req.Name, "name", "n", "", "VM name")
	f.StringVar(&req.Image, "image", "", "image reference")
	sizes := make([]string, len(hangar.VMSizes))
	for i, s := range hangar.VMSizes {
		sizes[i] = s.Name
	}
	enumVar(f, &req.Size, "size", hangar.DefaultVMSize, sizes, "small (1 vCPU, 512 MiB), medium (2 vCPU, 1 GiB) or large (2 vCPU, 2 GiB)")
	f.StringVar(&req.ComputerName, "computer-name", "", "host name of the guest (default: the VM name)")
	f.StringVar(&req.AdminUsername, "admin-username", "", "admin user to create in the guest")
	f.StringVar(&req.AdminPassword, "admin-password", "", "admin password (8-123 characters, 3 of: lower, upper, digit, special)")
	f.StringArrayVar(&keyValues, "ssh-key-value", nil, "SSH public key, or a file holding one (repeatable)")
	f.StringVar(&customData, "custom-data", "", "file whose content the guest's provisioning agent receives as custom data (cloud-init runs it)")
	f.StringVar(&userData, "user-data", "", "file whose content the guest may read from the instance metadata service (IMDS), as on Azure; nothing runs it")
	f.StringArrayVar(&req.AttachDisks, "attach-data-disk", nil, "one of your disks to attach as the next data disk (repeatable)")
	f.StringVar(&req.ProvisionAfter, "provisioning-timeout", "", "how long the guest may take to report ready (default: the server's)")
	enumVar(f, (*string)(&req.Egress), "egress", string(hangar.EgressInternet), []string{string(hangar.EgressInternet), string(hangar.EgressNone)},
		"what the guest may reach outside the host: internet or none")
	f.StringVarP(&req.Location, "location", "l", "", "region to run in (default: the primary region); the image version must be replicated there")
	f.StringVarP(&req.ResourceGroup, "resource-group", "g", "", "ARM resource group to record the VM in (default hangar); ARM and the guest's IMDS show it there")
	f.StringVar(&req.StorageSKU, "storage-sku", "", "disk type: "+strings.Join(hangar.StorageSKUs, ", ")+" (default: the first the image allows)")
	f.BoolVar(&noWait, "no-wait", false, "do not wait for provisioning")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("image")
	return cmd
}

func readKeyValue(v string) (string, error) {
	if strings.HasPrefix(v, "ssh-") || strings.HasPrefix(v, "ecdsa-") || strings.HasPrefix(v, "sk-") {
		return v, nil
	}
	if strings.HasPrefix(v, "~/") {
		home, _ := os.UserHomeDir()
		v = home + v[1:]
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("--ssh-key-value %q is neither a public key nor a readable file: %w", v, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// waitProvisioned polls until the VM leaves the Creating provisioning state.
func waitProvisioned(ctx context.Context, g *globals, name string) (hangar.VM, error) {
	c := g.client()
	for {
		vm, err := c.VM(ctx, name)
		if err != nil {
			return vm, err
		}
		if vm.ProvisioningState != hangar.ProvisioningCreating || vm.PowerState == hangar.PowerFailed {
			return vm, nil
		}
		select {
		case <-ctx.Done():
			return vm, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printVM(w io.Writer, vm *hangar.VM) {
	row(w, "Name:", vm.Name)
	row(w, "Image:", vm.Image)
	row(w, "OS:", fmt.Sprintf("%s (%s image, Hyper-V %s)", vm.OSType, vm.OSState, vm.HyperVGeneration))
	row(w, "Size:", fmt.Sprintf("%s: %d vCPU, %d MiB", vm.Size.Name, vm.Size.VCPUs, vm.Size.MemoryMiB))
	row(w, "Provisioning agent:", vm.ProvisioningAgent)
	if vm.StorageSKU != "" {
		row(w, "Disk type:", vm.StorageSKU)
	}
	if vm.ResourceGroup != "" {
		row(w, "Resource group:", vm.ResourceGroup)
	}
	row(w, "Power state:", vm.PowerState)
	if vm.Host != "" {
		row(w, "Host:", vm.Host)
	}
	row(w, "Provisioning:", vm.ProvisioningState)
	if vm.ProvisioningMessage != "" {
		row(w, "", vm.ProvisioningMessage)
	}
	if vm.ComputerName != "" {
		row(w, "Computer name:", vm.ComputerName)
	}
	if vm.AdminUsername != "" {
		row(w, "Admin user:", vm.AdminUsername)
	}
	if vm.SSHPort != 0 {
		row(w, "SSH:", fmt.Sprintf("ssh -p %d %s@127.0.0.1", vm.SSHPort, firstNonEmpty(vm.AdminUsername, "USER")))
	}
	if vm.Egress != "" {
		row(w, "Egress:", vm.Egress)
	}
	if vm.Accel != "" {
		row(w, "Acceleration:", vm.Accel)
	}
	for _, d := range vm.Disks {
		what := "OS disk"
		if d.LUN >= 0 {
			what = fmt.Sprintf("data disk LUN %d", d.LUN)
		}
		row(w, what+":", fmt.Sprintf("%s (%s)", hangar.FormatBytes(d.VirtualSize), d.Source))
	}
}

func newVMListCmd(g *globals) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use: "list", Short: "List your VMs", Args: cobra.NoArgs,
		Example: `  hangar vm list
  hangar vm list --query "[?powerState=='running'].name" -o tsv
  hangar vm list -g prod`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vms, err := g.client().ListVMsFiltered(cmd.Context(), client.ListFilter{Tags: g.tagFilter, ResourceGroup: group})
			if err != nil {
				return err
			}
			return g.print(cmd, vms, func(w io.Writer) {
				row(w, "NAME", "POWER", "PROVISIONING", "IMAGE", "SIZE", "HOST", "SSH PORT")
				for _, v := range vms {
					port := "-"
					if v.SSHPort != 0 {
						port = fmt.Sprint(v.SSHPort)
					}
					row(w, v.Name, v.PowerState, v.ProvisioningState, v.Image, v.Size.Name, orDash(v.Host), port)
				}
			})
		},
	}
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "only the VMs in this ARM resource group")
	return cmd
}

func newVMShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "show NAME", Short: "Show a VM", Args: cobra.ExactArgs(1),
		Example: `  hangar vm show web1
  hangar vm show web1 --query sshPort -o tsv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			vm, err := g.client().VM(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd, vm, func(w io.Writer) { printVM(w, &vm) })
		},
	}
}

func newVMActionCmd(g *globals, action, short string) *cobra.Command {
	var ifMatch func() client.RequestOption
	cmd := &cobra.Command{
		Use: action + " NAME", Short: short, Args: cobra.ExactArgs(1),
		Example: "  hangar vm " + action + " web1",
		RunE: func(cmd *cobra.Command, args []string) error {
			vm, err := g.client().VMAction(cmd.Context(), args[0], action, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, vm, func(w io.Writer) {
				fmt.Fprintf(w, "VM %s is %s.\n", vm.Name, vm.PowerState)
			})
		},
	}
	ifMatch = ifMatchFlag(cmd, "VM")
	return cmd
}

func newVMDeleteCmd(g *globals) *cobra.Command {
	var ifMatch func() client.RequestOption
	var confirm func(string) error
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Delete a VM (its overlays go; the image and your disks stay)", Args: cobra.ExactArgs(1),
		Example: `  hangar vm delete web1
  hangar vm delete web1 --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("delete VM " + args[0]); err != nil {
				return err
			}
			if err := g.client().DeleteVM(cmd.Context(), args[0], ifMatch()); err != nil {
				return err
			}
			return g.done(cmd, "Deleted VM "+args[0]+".")
		},
	}
	ifMatch = ifMatchFlag(cmd, "VM")
	confirm = yesFlag(cmd, g)
	return cmd
}

func newVMSerialLogCmd(g *globals) *cobra.Command {
	var n int64
	cmd := &cobra.Command{
		Use: "serial-log NAME", Short: "Print the VM's serial console (boot diagnostics)", Args: cobra.ExactArgs(1),
		Example: `  hangar vm serial-log web1
  hangar vm serial-log web1 --bytes 4096`,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.client().SerialLog(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			return g.print(cmd, log, func(w io.Writer) { fmt.Fprint(w, log.Log) })
		},
	}
	cmd.Flags().Int64Var(&n, "bytes", 256<<10, "how many bytes from the end")
	return cmd
}

func newVMRunCommandCmd(g *globals) *cobra.Command {
	var req hangar.RunCommand
	var file string
	cmd := &cobra.Command{
		Use:   "run-command NAME",
		Short: "Run a shell script as root in the VM through its guest agent",
		Long: `Run a shell script as root inside a running VM, through its guest agent (like Azure's
Run Command): no network login needed. The script's output is printed exactly (binary
output too) and the command exits with the script's exit code. Of each output, the last
1 MiB is kept; a longer one is cut, and a note on stderr says so (with -o json:
stdoutTruncated, stderrTruncated; output that is not UTF-8 is also in stdoutBase64,
stderrBase64).`,
		Example: `  hangar vm run-command web1 --script 'uname -a; df -h'
  hangar vm run-command web1 --script-file setup.sh
  hangar vm run-command web1 --script 'hangar-agent deprovision+user'
  hangar vm run-command web1 --script 'cat /var/log/messages' -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				req.Script = string(data)
			}
			res, err := g.client().RunCommand(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if err := g.print(cmd, res, func(io.Writer) {
				// The outputs exactly, binary or not: not through the table writer.
				cmd.OutOrStdout().Write(res.StdoutBytes())
				os.Stderr.Write(res.StderrBytes())
				for _, o := range []struct {
					name string
					cut  bool
				}{{"output", res.StdoutTruncated}, {"error output", res.StderrTruncated}} {
					if o.cut {
						fmt.Fprintf(os.Stderr, "\nhangar: the script's %s was longer than %s: only its last %s is shown\n", o.name, hangar.FormatBytes(hangar.MaxRunOutput), hangar.FormatBytes(hangar.MaxRunOutput))
					}
				}
			}); err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return scriptExit{res.ExitCode}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Script, "script", "", "the script")
	cmd.Flags().StringVar(&file, "script-file", "", "a file holding the script")
	cmd.Flags().StringVar(&req.Timeout, "timeout", "", "how long the script may run (default 5m)")
	return cmd
}
