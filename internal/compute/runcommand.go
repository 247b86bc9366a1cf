package compute

import (
	"context"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// maxScript bounds a run-command script.
const maxScript = 256 << 10

// RunCommand runs a shell script as root in the guest through the agent (like
// Azure's Run Command) and returns its output and exit code. It is how a user
// reaches a guest that has no network login, to deprovision it for example.
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
	id := newInstanceID()
	ch := mc.await(id)
	defer mc.forget(id)
	if err := mc.send(map[string]string{"type": "run", "id": id, "script": req.Script}); err != nil {
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q: %v; the image needs hangar-agent for run-command", name, err)
	}
	select {
	case msg := <-ch:
		if msg.err != nil {
			return res, msg.err
		}
		m.log.Info("run-command", "vm", name, "exitCode", msg.ExitCode)
		return msg.result(), nil
	case <-time.After(timeout):
		return res, hangar.Errorf(hangar.CodeConflict, "the script did not finish within %s; it may still run in the guest", timeout)
	case <-mc.exited:
		return res, hangar.Errorf(hangar.CodeConflict, "VM %q stopped while the script ran", name)
	case <-ctx.Done():
		return res, ctx.Err()
	}
}
