package compute

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// cloudInitStatus waits for cloud-init to finish every stage and says how it went:
// exit 0 when done, 1 with the errors when it failed (cloud-init 22.4; newer ones
// also exit 2 for "degraded", done with recoverable errors).
const cloudInitStatus = "cloud-init status --wait --long"

// watchCloudInit tells when a NoCloud guest is provisioned: it runs
// cloudInitStatus through qemu-guest-agent and reports its end as ready or failed,
// with cloud-init's own words. Chosen over cloud-init's phone_home, which posts only
// on success (a failure would wait out the timeout in silence), needs the guest's
// network and a module list that includes it. qemu-guest-agent starts after
// cloud-init's first stage, so the watcher waits for its port; it stops when ctx
// ends (another agent reported, or the timeout passed).
func (m *Manager) watchCloudInit(ctx context.Context, vm *store.VM, mc *machine) {
	for ctx.Err() == nil {
		if open, err := openPorts(ctx, mc); err == nil && open[qgaChardev] {
			deadline := time.Now().Add(vm.ProvisioningTimeout)
			res, err := m.runGuestAgent(ctx, mc, vm.Name, cloudInitStatus, deadline, vm.ProvisioningTimeout)
			if err == nil {
				mc.report(cloudInitReport(res))
				return
			}
			m.log.Debug("asking cloud-init's status through qemu-guest-agent", "vm", vm.Name, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-mc.exited:
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// cloudInitReport reads cloudInitStatus's answer.
func cloudInitReport(res hangar.RunCommandResult) agentMessage {
	// --wait prints a dot per half second of waiting before the status.
	out := strings.TrimSpace(strings.TrimLeft(res.Stdout, ".\n") + "\n" + res.Stderr)
	msg := agentMessage{from: agentFromNoCloud}
	switch res.ExitCode {
	case 0:
		msg.Type = "ready"
		return msg
	case 127: // the shell found no cloud-init
		msg.Type, msg.Reason = "waiting", "cloud-init is not installed in the guest, so it cannot tell when provisioning is done: "+
			"create the image with the --provisioning-agent its guest has"
		return msg
	}
	msg.Type, msg.Reason = "failure", hangar.Clip(out, maxReportText)
	if msg.Reason == "" {
		msg.Reason = fmt.Sprintf("cloud-init status exited with %d and said nothing", res.ExitCode)
	}
	return msg
}
