package compute

import (
	"context"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/qga"
)

// maxScript bounds a run-command script.
const maxScript = 256 << 10

// agentWait bounds how long a run waits for a guest agent to open its port (one
// restarting, or starting late in boot: qemu-guest-agent starts after
// cloud-init's first stage) before it says the image has none.
const agentWait = time.Minute

// RunCommand runs a shell script as root in the guest through its agent (like
// Azure's Run Command) and returns its output and exit code. It is how a user
// reaches a guest that has no network login, to deprovision it for example. The
// agent is hangar-agent when the guest holds its port open, else
// qemu-guest-agent (guest-exec), with the same rules.
func (m *Manager) RunCommand(ctx context.Context, actor *hangar.Tenant, name string, req hangar.RunCommand) (hangar.RunCommandResult, error) {
	var res hangar.RunCommandResult
	if req.Script == "" || len(req.Script) > maxScript {
		return res, hangar.Errorf(hangar.CodeInvalid, "the script must hold 1 to %d bytes", maxScript)
	}
	timeout := 5 * time.Minute
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 || d > time.Hour {
			return res, hangar.Errorf(hangar.CodeInvalid, "timeout %q must be a duration up to 1h, such as 90s", req.Timeout)
		}
		timeout = d
	}
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return res, err
	}
	mc := m.machine(v.ID)
	if mc == nil || v.PowerState != hangar.PowerRunning {
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q is %s; start it first (hangar vm start %s)", name, v.PowerState, name)
	}
	deadline := time.Now().Add(timeout)
	which, err := m.waitAgent(ctx, mc, min(timeout, agentWait))
	if err != nil {
		return res, err
	}
	switch which {
	case agentHangar:
		res, err = m.runHangarAgent(ctx, mc, name, req.Script, time.Until(deadline), timeout)
	case agentQGA:
		res, err = m.runGuestAgent(ctx, mc, name, req.Script, deadline, timeout)
	default:
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q has no guest agent listening: run-command needs hangar-agent or qemu-guest-agent "+
			"running in the image (its port %s or %s stayed closed for %s). If the VM is still booting, try again once it reports ready",
			name, AgentPort, GuestAgentPort, min(timeout, agentWait))
	}
	if err == nil {
		m.log.Info("run-command", "vm", name, "agent", which, "exitCode", res.ExitCode)
	}
	return res, err
}

// The guest agents run-command may go through.
const (
	agentHangar = "hangar-agent"
	agentQGA    = "qemu-guest-agent"
)

// chooseAgent picks the agent for a run from the open state of the guest's ports:
// hangar-agent first, as it is Hangar's own. "" when neither port is open.
func chooseAgent(hangarOpen, qgaOpen bool) string {
	switch {
	case hangarOpen:
		return agentHangar
	case qgaOpen:
		return agentQGA
	}
	return ""
}

// waitAgent asks QEMU which agent port a program in the guest holds open, until
// one is or wait passed; "" then.
func (m *Manager) waitAgent(ctx context.Context, mc *machine, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		open, err := openPorts(ctx, mc)
		if err != nil {
			select {
			case <-mc.exited:
				return "", hangar.Errorf(hangar.CodeConflict, "the VM stopped")
			default:
			}
			return "", err
		}
		if which := chooseAgent(open[agentChardev], open[qgaChardev]); which != "" || !time.Now().Before(deadline) {
			return which, nil
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-mc.exited:
			return "", hangar.Errorf(hangar.CodeConflict, "the VM stopped")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// openPorts asks QEMU which of its chardevs a program in the guest holds open, by
// chardev ID (agentChardev, qgaChardev).
func openPorts(ctx context.Context, mc *machine) (map[string]bool, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	devs, err := mc.qmp.QueryChardev(qctx)
	if err != nil {
		return nil, err
	}
	open := map[string]bool{}
	for _, d := range devs {
		open[d.Label] = d.FrontendOpen
	}
	return open, nil
}

// runHangarAgent runs the script through hangar-agent's channel
// (docs/guest-protocol.md), waiting at most left.
func (m *Manager) runHangarAgent(ctx context.Context, mc *machine, name, script string, left, timeout time.Duration) (hangar.RunCommandResult, error) {
	var res hangar.RunCommandResult
	id := newInstanceID()
	ch := mc.await(id)
	defer mc.forget(id)
	if err := mc.send(map[string]string{"type": "run", "id": id, "script": script}); err != nil {
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q: %v; the image needs hangar-agent or qemu-guest-agent for run-command", name, err)
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case msg := <-ch:
		if msg.err != nil {
			return res, msg.err
		}
		return msg.result(), nil
	case <-t.C:
		return res, hangar.Errorf(hangar.CodeConflict, "the script did not finish within %s; it may still run in the guest", timeout)
	case <-mc.exited:
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q stopped while the script ran", name)
	case <-ctx.Done():
		return res, ctx.Err()
	}
}

// runGuestAgent runs the script through qemu-guest-agent until deadline.
func (m *Manager) runGuestAgent(ctx context.Context, mc *machine, name, script string, deadline time.Time, timeout time.Duration) (hangar.RunCommandResult, error) {
	var res hangar.RunCommandResult
	c, err := mc.qgaConn.get(m.socketPath(mc.id, qgaSocket), mc.exited)
	if err != nil {
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q: connecting to qemu-guest-agent's port: %v", name, err)
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	res, err = guestExec(rctx, c, script)
	var refused *qga.Error
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &refused):
		return res, hangar.Errorf(hangar.CodeConflict, "qemu-guest-agent in VM %q refused to run the script: %s. "+
			"It must allow guest-exec and guest-exec-status (see its --block-rpcs and allow-rpcs settings), or the image needs hangar-agent", name, refused.Desc)
	}
	mc.qgaConn.drop(c) // the connection may be broken; a later run connects again
	select {
	case <-mc.exited:
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q stopped while the script ran", name)
	default:
	}
	switch {
	case errors.Is(err, errRunTimeout):
		return res, hangar.Errorf(hangar.CodeConflict, "the script did not finish within %s; it may still run in the guest", timeout)
	case ctx.Err() != nil:
		return res, ctx.Err()
	}
	return res, hangar.Errorf(hangar.CodeConflict, "qemu-guest-agent in VM %q holds its port open but does not answer (%v); "+
		"see the guest's own logs (hangar vm serial-log %s), or restart the VM", name, err, name)
}
