package compute

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hangarvm/hangar/internal/fabric"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/qmp"
	"github.com/hangarvm/hangar/internal/store"
)

// machine is a running QEMU this manager supervises.
type machine struct {
	id      string
	pid     int
	qmp     *qmp.Monitor
	exited  chan struct{} // closed when the QEMU process is gone
	logPath string        // QEMU's own messages

	mu       sync.Mutex
	stopping bool // an exit now is expected
	agent    net.Conn
	pending  map[string]chan agentMessage // run requests waiting for their result

	qgaConn guestAgent // qemu-guest-agent, for run-command in guests without hangar-agent

	// reports carries the guest agents' reports (hangar-agent's channel, Azure
	// health reports, the end of cloud-init) to listenAgent.
	reports chan agentMessage
}

func newMachine(id string, pid int, logPath string) *machine {
	return &machine{id: id, pid: pid, exited: make(chan struct{}), logPath: logPath, reports: make(chan agentMessage)}
}

// report hands a guest agent's report to listenAgent, unless the machine is gone.
func (mc *machine) report(msg agentMessage) {
	select {
	case mc.reports <- msg:
	case <-mc.exited:
	}
}

// send writes one message to the guest agent, if it is connected.
func (mc *machine) send(msg any) error {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.agent == nil {
		return errNoAgent
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	mc.agent.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = mc.agent.Write(append(data, '\n'))
	return err
}

var errNoAgent = errors.New("the guest agent is not connected")

// deliver hands a run result to the caller waiting for it.
func (mc *machine) deliver(msg agentMessage) {
	mc.mu.Lock()
	ch := mc.pending[msg.ID]
	delete(mc.pending, msg.ID)
	mc.mu.Unlock()
	if ch != nil {
		ch <- msg
	}
}

// await registers a run request's ID before it is sent.
func (mc *machine) await(id string) chan agentMessage {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.pending == nil {
		mc.pending = map[string]chan agentMessage{}
	}
	ch := make(chan agentMessage, 1)
	mc.pending[id] = ch
	return ch
}

func (mc *machine) forget(id string) {
	mc.mu.Lock()
	delete(mc.pending, id)
	mc.mu.Unlock()
}

func (mc *machine) expectExit() {
	mc.mu.Lock()
	mc.stopping = true
	mc.mu.Unlock()
}

func (mc *machine) exitExpected() bool {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.stopping
}

// socketDir is where a VM's unix sockets live: its directory, unless a socket path
// there would pass the 108-byte limit of socket paths (a long data dir); then a
// short directory under the system's temp dir, derived from the data dir and the
// VM's ID so a restarted server finds it again. One directory for all of a VM's
// sockets, decided by the longest socket name.
func (m *Manager) socketDir(id string) string {
	if dir := m.vmDir(id); len(filepath.Join(dir, agentSocket)) < 100 {
		return dir
	}
	sum := sha256.Sum256([]byte(m.cfg.Dir))
	return filepath.Join(os.TempDir(), "hangar-"+hex.EncodeToString(sum[:4]), id[:min(16, len(id))])
}

func (m *Manager) socketPath(id, name string) string { return filepath.Join(m.socketDir(id), name) }

func (m *Manager) machineConfig(vm *store.VM) MachineConfig {
	dir := m.vmDir(vm.ID)
	c := MachineConfig{
		QMPSocket: m.socketPath(vm.ID, qmpSocket), AgentSocket: m.socketPath(vm.ID, agentSocket), NetSocket: m.socketPath(vm.ID, netSocket),
		GuestAgentSocket: m.socketPath(vm.ID, qgaSocket),
		Name:             vm.ID, Dir: dir, VCPUs: vm.Size.VCPUs, MemoryMiB: vm.Size.MemoryMiB, Accel: m.accel,
		UEFI: vm.HyperVGeneration == "V2", Firmware: m.cfg.OVMF, Sandbox: m.cfg.Sandbox, RunAs: m.cfg.QEMUUser,
	}
	for _, d := range vm.Disks {
		c.Disks = append(c.Disks, MachineDisk{ID: diskID(d.LUN), Path: filepath.Join(dir, diskID(d.LUN)+".qcow2")})
	}
	if medium := filepath.Join(dir, "cidata.iso"); fileExists(medium) {
		c.Medium, c.MediumAs = medium, mediumDevices(vm.ProvisioningAgent)
	}
	c.SystemUUID, c.AssetTag = hangar.AsUUID(vm.ID), fabric.AssetTag
	return c
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

// start boots a prepared VM: QEMU starts paused in its own session (so it outlives
// a restart of hangar serve), the manager connects to QMP, resumes the guest and
// supervises the process, the agent channel and the provisioning timeout. The VM's
// network (internal/netstack) runs in this process and serves its SSH port.
func (m *Manager) start(ctx context.Context, vm *store.VM) error {
	ssh, err := listenSSH(0)
	if err != nil {
		return err
	}
	port := portOf(ssh)
	sshOwned := false // by the network once it runs
	defer func() {
		if !sshOwned {
			ssh.Close()
		}
	}()
	dir := m.vmDir(vm.ID)
	mcfg := m.machineConfig(vm)
	for _, f := range []string{mcfg.QMPSocket, mcfg.AgentSocket, mcfg.GuestAgentSocket, mcfg.NetSocket, filepath.Join(dir, pidFile)} {
		os.Remove(f)
	}
	if err := os.MkdirAll(m.socketDir(vm.ID), 0o700); err != nil {
		return err
	}
	var bases []string
	for _, id := range vm.DiskIDs {
		bases = append(bases, m.bases.path(id))
	}
	if err := m.giveToQEMU(dir, bases); err != nil {
		return err
	}
	cmd := exec.Command(m.cfg.QEMU, Args(mcfg)...)
	// QEMU's own messages go to a file, not a pipe: it must outlive hangar serve.
	logf, err := os.OpenFile(filepath.Join(dir, qemuLog), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	mc := newMachine(vm.ID, cmd.Process.Pid, filepath.Join(dir, qemuLog))
	go func() { cmd.Wait(); close(mc.exited) }()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mon, err := dialUntilExit(qctx, mcfg.QMPSocket, mc.exited)
	if err != nil {
		cmd.Process.Kill()
		<-mc.exited
		return fmt.Errorf("%v; QEMU said: %s", err, tailFile(mc.logPath, 2000))
	}
	mc.qmp = mon
	sshOwned = true
	if err := m.startNetwork(vm, mc, ssh); err != nil {
		cmd.Process.Kill()
		return err
	}
	running, accel := hangar.PowerRunning, m.accel
	pid := mc.pid
	if err := m.db.UpdateVM(ctx, vm.ID, store.VMUpdate{PowerState: &running, PID: &pid, SSHPort: &port, Accel: &accel, Started: true}); err != nil {
		cmd.Process.Kill()
		return err
	}
	m.mu.Lock()
	m.machines[vm.ID] = mc
	m.mu.Unlock()
	go m.supervise(vm.ID, mc)
	go m.listenAgent(vm, mc)
	go m.rotateSerial(vm.ID, vm.Name, mc)
	if err := mon.Cont(qctx); err != nil {
		return err
	}
	m.log.Info("vm started", "vm", vm.Name, "id", vm.ID, "pid", pid, "accel", accel, "sshPort", port)
	return nil
}

func dialUntilExit(ctx context.Context, path string, exited <-chan struct{}) (*qmp.Monitor, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	mon, err := qmp.Dial(ctx, path)
	if err != nil {
		select {
		case <-exited:
			return nil, fmt.Errorf("QEMU exited before its monitor answered")
		default:
		}
	}
	return mon, err
}

// tailFile returns the last n bytes of a file, trimmed.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(fi.Size()-n, 0)
	b, _ := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	return strings.TrimSpace(string(b))
}

// supervise waits for the QEMU process to end. An exit nobody asked for marks the
// VM failed, with what QEMU said.
func (m *Manager) supervise(id string, mc *machine) {
	<-mc.exited
	mc.qmp.Close()
	m.mu.Lock()
	if m.machines[id] == mc {
		delete(m.machines, id)
	}
	m.mu.Unlock()
	if mc.exitExpected() {
		return
	}
	msg := "QEMU exited unexpectedly"
	if out := tailFile(mc.logPath, 1000); out != "" {
		msg += ": " + out
	}
	msg += "; see `hangar vm serial-log` for the guest's side"
	ctx := context.Background()
	failed := hangar.PowerFailed
	zero := 0
	m.db.UpdateVM(ctx, id, store.VMUpdate{PowerState: &failed, PID: &zero, ProvisioningMessage: &msg})
	m.log.Error("vm died", "id", id, "reason", msg)
}

// listenAgent takes the guest agents' reports for the life of the machine and turns
// them into the VM's provisioning state (coalesced: see reports); a VM still
// provisioning when the timeout ends is OSProvisioningTimedOut. Reports come from
// hangar-agent's channel, from Azure health reports (servePlatform) and from the
// end of cloud-init (watchCloudInit); a VM heeds those of the agent its image names.
func (m *Manager) listenAgent(vm *store.VM, mc *machine) {
	ctx := context.Background()
	provisioning := vm.ProvisioningState == hangar.ProvisioningCreating
	var timeout <-chan time.Time
	if provisioning {
		t := time.NewTimer(vm.ProvisioningTimeout)
		defer t.Stop()
		timeout = t.C
	}
	status := &reports{interval: reportInterval, write: func(r report) {
		m.db.UpdateVM(ctx, vm.ID, store.VMUpdate{ProvisioningState: &r.state, ProvisioningMessage: &r.text})
	}}
	go m.readAgent(vm, mc)
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if provisioning && heeds(vm.ProvisioningAgent, agentFromNoCloud) {
		go m.watchCloudInit(watchCtx, vm, mc)
	}
	if provisioning && vm.ProvisioningAgent == hangar.AgentNone {
		status.add(report{hangar.ProvisioningSucceeded, "the image has no provisioning agent (--provisioning-agent none): nothing reports, the VM counts as provisioned once it runs"}, time.Now())
		provisioning = false
		m.detachMedium(ctx, vm, mc)
	}
	lastWaiting := ""
	for {
		select {
		case <-mc.exited:
			status.flush(time.Now())
			return
		case <-status.due():
			status.flush(time.Now())
		case <-timeout:
			timeout = nil
			if !provisioning {
				continue
			}
			stopWatching()
			state := hangar.ProvisioningTimedOut
			msg := fmt.Sprintf("the guest did not report ready within %s (this image's provisioning agent: %s). See what it printed with `hangar vm serial-log %s`. "+
				"A generalized image created as specialized waits for provisioning forever; an image without a guest agent never reports ready", vm.ProvisioningTimeout, vm.ProvisioningAgent, vm.Name)
			if lastWaiting != "" {
				msg += ". The agent said: " + lastWaiting
			}
			m.db.UpdateVM(ctx, vm.ID, store.VMUpdate{ProvisioningState: &state, ProvisioningMessage: &msg})
			m.log.Warn("vm provisioning timed out", "vm", vm.Name)
		case msg := <-mc.reports:
			if msg.Type == "result" {
				mc.deliver(msg)
				continue
			}
			if !heeds(vm.ProvisioningAgent, msg.from) {
				m.log.Debug("report of an agent this image does not name", "vm", vm.Name, "from", msg.from.name(), "type", msg.Type)
				continue
			}
			switch msg.Type {
			case "ready":
				rep := report{hangar.ProvisioningSucceeded, msg.from.name() + " reported ready"}
				if msg.Provisioned {
					rep.text = "provisioned as " + msg.Hostname + "; " + rep.text
				}
				if vm.OSState == hangar.Specialized {
					rep.text = "specialized image: nothing provisioned; " + msg.from.name() + " reported ready"
				}
				if provisioning || vm.OSState == hangar.Specialized {
					status.add(rep, time.Now())
				}
				provisioning = false
				stopWatching()
				m.detachMedium(ctx, vm, mc)
			case "failure":
				// A failure after ready (a later stage of cloud-init, say) does
				// not undo the VM's provisioning; its words still reach the user.
				rep := report{hangar.ProvisioningFailed, "provisioning failed in the guest; " + msg.from.name() + " said: " + msg.Reason}
				if !provisioning {
					rep = report{status.state(vm.ProvisioningState), "after provisioning, " + msg.from.name() + " reported a failure: " + msg.Reason}
				}
				status.add(rep, time.Now())
				provisioning = false
				stopWatching()
			case "waiting":
				lastWaiting = msg.Reason
			}
		}
	}
}

// readAgent connects to the agent socket (QEMU is the server) and passes on the
// messages read from it. The guest is untrusted: a line too long or malformed is
// dropped (and logged, a few times a minute at most) and reading goes on; a guest
// sending faster than the host reads is read at that pace (it only slows its own
// channel).
func (m *Manager) readAgent(vm *store.VM, mc *machine) {
	path := m.socketPath(vm.ID, agentSocket)
	var conn net.Conn
	for {
		var err error
		if conn, err = net.Dial("unix", path); err == nil {
			break
		}
		select {
		case <-mc.exited:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	mc.mu.Lock()
	mc.agent = conn
	mc.mu.Unlock()
	go func() { <-mc.exited; conn.Close() }()
	now := time.Now()
	lr := &lineReader{r: bufio.NewReaderSize(conn, 64<<10), max: maxAgentLine}
	msgs, bytesIn := newBucket(agentLineRate, agentLineBurst, now), newBucket(agentByteRate, agentByteBurst, now)
	logs := &logLimiter{interval: logInterval}
	for {
		line, n, err := lr.next()
		var long *longLine
		if err != nil && !errors.As(err, &long) {
			return
		}
		now := time.Now()
		if wait := max(msgs.take(1, now), bytesIn.take(float64(n), now)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-mc.exited:
				return
			}
		}
		msg, err := parseAgentMessage(line)
		if long != nil {
			err = long
			if id := droppedResultID(long.prefix); id != "" {
				mc.deliver(agentMessage{Type: "result", ID: id, err: hangar.Errorf(hangar.CodeTooLarge,
					"the guest's answer (%d bytes) passed the agent channel's limit of %d bytes and was dropped; "+
						"this host's hangar-agent keeps each output to its last %d bytes: update the agent in the image, or write the output to a file and read it in parts",
					long.n, maxAgentLine, hangar.MaxRunOutput)})
			}
		}
		if err != nil {
			if ok, held := logs.allow(now); ok {
				m.log.Warn("dropped a message from the guest agent", "vm", vm.Name, "id", vm.ID, "err", err, "alsoDroppedSinceLastLog", held)
			}
			continue
		}
		mc.report(msg)
	}
}

// detachMedium removes the provisioning disc once the guest reported ready: the
// file (which holds the admin password) is deleted, the device unplugged if the
// guest lets it go, and no later boot attaches it again.
func (m *Manager) detachMedium(ctx context.Context, vm *store.VM, mc *machine) {
	path := filepath.Join(m.vmDir(vm.ID), "cidata.iso")
	if !fileExists(path) {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	as := mediumDevices(vm.ProvisioningAgent)
	if as&MediumVirtio != 0 {
		if err := mc.qmp.DeviceDel(qctx, "medium"); err != nil {
			m.log.Info("provisioning medium stays plugged until the next boot", "vm", vm.Name, "err", err)
		}
	}
	if as&MediumCD != 0 {
		if err := mc.qmp.Eject(qctx, "cd"); err != nil {
			m.log.Info("provisioning disc stays in its drive until the next boot", "vm", vm.Name, "err", err)
		}
	}
	// QEMU keeps the open file; removing the name is enough for no later boot to see it.
	os.Remove(path)
}
