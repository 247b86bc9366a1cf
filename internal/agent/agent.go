package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"
)

// Options are where the agent works and what it may touch. Tests point Root, SysDir
// and DevDir at temp directories; the guest uses "/", "/sys" and "/dev".
type Options struct {
	Root   string // root filesystem every file operation goes through
	SysDir string // sysfs, read for block devices and virtio ports
	DevDir string // device files

	// Console receives one human-readable line per event; in the guest stdout, which
	// the init system routes to the serial console. Nil discards.
	Console io.Writer
	// SetHostname sets the running system's host name; nil sets none (tests).
	SetHostname func(name string) error
	// Now gives the date of the password's last change in /etc/shadow; nil is
	// time.Now.
	Now func() time.Time
	// Shell runs the scripts of run requests; "" is /bin/sh.
	Shell string
	// RescanInterval is how often a waiting agent looks for a medium again; 0 is 5s.
	RescanInterval time.Duration
}

// Agent provisions the guest once per instance and reports over the channel.
type Agent struct {
	opts Options

	mu      sync.Mutex
	status  *Message      // nil until the first boot pass is done
	changed chan struct{} // closed and replaced whenever status changes
}

// New returns an agent working with opts.
func New(opts Options) *Agent {
	if opts.Console == nil {
		opts.Console = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Shell == "" {
		opts.Shell = "/bin/sh"
	}
	if opts.RescanInterval == 0 {
		opts.RescanInterval = 5 * time.Second
	}
	return &Agent{opts: opts, changed: make(chan struct{})}
}

// logf writes one line to the console.
func (a *Agent) logf(format string, args ...any) {
	fmt.Fprintf(a.opts.Console, "hangar-agent: "+format+"\n", args...)
}

// Boot makes one pass of the boot logic of docs/guest-protocol.md and returns the
// report, also kept as the agent's status:
//  1. a medium with a new instance-id: provision, then ready (provisioned) or failure;
//  2. a medium with the recorded instance-id (a reboot): ready, nothing changed;
//  3. no medium, an instance-id recorded (a specialized disk): ready, not provisioned;
//  4. no medium, no instance-id (a generalized disk started as specialized): waiting.
func (a *Agent) Boot() Message {
	msg := a.boot()
	switch msg.Type {
	case TypeReady:
		how := "nothing to provision"
		if *msg.Provisioned {
			how = "provisioned"
		}
		a.logf("ready (instance-id %s, hostname %s, %s)", msg.InstanceID, msg.Hostname, how)
	case TypeFailure:
		a.logf("provisioning failed: %s", msg.Reason)
	case TypeWaiting:
		a.logf("waiting for provisioning: %s", msg.Reason)
	}
	a.setStatus(msg)
	return msg
}

func (a *Agent) boot() Message {
	recorded, err := a.recordedInstanceID()
	if err != nil {
		return Failure("", fmt.Sprintf("reading %s: %v", StateInstanceID, err))
	}
	m, err := FindMedium(a.opts.SysDir, a.opts.DevDir)
	if err != nil {
		return Failure("", err.Error())
	}
	switch {
	case m != nil && m.InstanceID != recorded:
		a.logf("provisioning instance-id %s from %s", m.InstanceID, m.Device)
		hostname, err := a.provision(m)
		if err != nil {
			return Failure(m.InstanceID, err.Error())
		}
		return Ready(m.InstanceID, hostname, true)
	case m != nil || recorded != "":
		return Ready(recorded, a.currentHostname(), false)
	}
	return Waiting()
}

// recordedInstanceID returns the instance-id last provisioned, "" if none.
func (a *Agent) recordedInstanceID() (string, error) {
	b, err := readFileLimit(a.path(StateInstanceID), 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

func (a *Agent) currentHostname() string {
	b, err := readFileLimit(a.path("/etc/hostname"), 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Run boots and, while the report is waiting, looks for a medium again every
// RescanInterval, until a medium comes or ctx ends. It returns the last report.
func (a *Agent) Run(ctx context.Context) Message {
	msg := a.Boot()
	t := time.NewTicker(a.opts.RescanInterval)
	defer t.Stop()
	for msg.Type == TypeWaiting {
		select {
		case <-ctx.Done():
			return msg
		case <-t.C:
		}
		if m, err := FindMedium(a.opts.SysDir, a.opts.DevDir); err != nil || m != nil {
			msg = a.Boot()
		}
	}
	return msg
}

func (a *Agent) setStatus(m Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = &m
	close(a.changed)
	a.changed = make(chan struct{})
}

// Status returns the current report, false before the first Boot, and a channel
// closed when it changes.
func (a *Agent) Status() (Message, bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status == nil {
		return Message{}, false, a.changed
	}
	return *a.status, true, a.changed
}

// Deprovisioning (generalizing the guest before an image is captured: host keys,
// machine-id, DHCP leases, cloud-init, waagent and agent state, logs, histories,
// temp files and, with +user, the last provisioned user named in the saved
// ovf-env.xml) is Deprovision in deprovision.go, driven by `hangar-agent
// deprovision`; its policy, PlanDeprovision, is shared with the offline `hangar
// disk generalize` (package generalize).
