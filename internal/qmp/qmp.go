// Package qmp speaks the QEMU Machine Protocol: JSON over a unix socket, one
// greeting, capability negotiation, then commands answered in order and
// asynchronous events in between. One typed method per command Hangar uses; every
// call takes a context.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrDisconnected is returned once the connection to QEMU is gone (QEMU exited).
var ErrDisconnected = errors.New("qmp: disconnected")

// Event is an asynchronous QMP event.
type Event struct {
	Name string          `json:"event"`
	Data json.RawMessage `json:"data"`
}

// Error is an error answer of QEMU to a command.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return "qmp: " + e.Class + ": " + e.Desc }

type response struct {
	Return json.RawMessage `json:"return"`
	Error  *Error          `json:"error"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
}

// Monitor is a connection to one QEMU's QMP socket.
type Monitor struct {
	conn    net.Conn
	mu      sync.Mutex // one command in flight at a time
	replies chan response
	events  chan Event
	done    chan struct{}
}

// Dial connects to the QMP socket at path and negotiates capabilities. It retries
// until ctx ends, since QEMU creates the socket shortly after it starts.
func Dial(ctx context.Context, path string) (*Monitor, error) {
	var conn net.Conn
	var err error
	for {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", path)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: connect %s: %w", path, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	m := &Monitor{conn: conn, replies: make(chan response), events: make(chan Event, 64), done: make(chan struct{})}
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		conn.Close()
		return nil, fmt.Errorf("qmp: greeting: %w", err)
	}
	go m.read(r)
	if err := m.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Monitor) read(r *bufio.Reader) {
	defer close(m.done)
	defer close(m.events)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var resp response
		if json.Unmarshal(line, &resp) != nil {
			continue
		}
		if resp.Event != "" {
			select {
			case m.events <- Event{Name: resp.Event, Data: resp.Data}:
			default: // nobody listens: drop rather than block replies
			}
			continue
		}
		select {
		case m.replies <- resp:
		case <-time.After(time.Minute): // a caller gave up on its reply
		}
	}
}

// Events delivers asynchronous events until the connection closes.
func (m *Monitor) Events() <-chan Event { return m.events }

// Done is closed when the connection is gone.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Close closes the connection.
func (m *Monitor) Close() error { return m.conn.Close() }

// Execute runs a command with optional arguments and decodes its return value into
// out (unless nil).
func (m *Monitor) Execute(ctx context.Context, cmd string, args any, out any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	data, _ := json.Marshal(req)
	// The deadline is this call's alone: zero (none) when ctx has none, or an
	// earlier call's would fail this one once it passed.
	dl, _ := ctx.Deadline()
	m.conn.SetWriteDeadline(dl)
	if _, err := m.conn.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	select {
	case resp := <-m.replies:
		if resp.Error != nil {
			return resp.Error
		}
		if out != nil {
			return json.Unmarshal(resp.Return, out)
		}
		return nil
	case <-m.done:
		return ErrDisconnected
	case <-ctx.Done():
		return fmt.Errorf("qmp: %s: %w", cmd, ctx.Err())
	}
}

// Status is the answer of query-status.
type Status struct {
	Running bool   `json:"running"`
	Status  string `json:"status"`
}

// QueryStatus asks whether the guest runs.
func (m *Monitor) QueryStatus(ctx context.Context) (Status, error) {
	var s Status
	return s, m.Execute(ctx, "query-status", nil, &s)
}

// Cont resumes a guest started paused (-S).
func (m *Monitor) Cont(ctx context.Context) error { return m.Execute(ctx, "cont", nil, nil) }

// SystemPowerdown presses the ACPI power button.
func (m *Monitor) SystemPowerdown(ctx context.Context) error {
	return m.Execute(ctx, "system_powerdown", nil, nil)
}

// SystemReset resets the guest, as the reset button would.
func (m *Monitor) SystemReset(ctx context.Context) error {
	return m.Execute(ctx, "system_reset", nil, nil)
}

// Quit ends QEMU after flushing its disks.
func (m *Monitor) Quit(ctx context.Context) error {
	err := m.Execute(ctx, "quit", nil, nil)
	if errors.Is(err, ErrDisconnected) {
		return nil // it quit before answering
	}
	return err
}

// ChardevChangeFile points the chardev id at the file path, which QEMU opens for
// appending: the chardev's frontend (a serial port, say) writes there from now on,
// and QEMU lets go of the file it wrote before.
func (m *Monitor) ChardevChangeFile(ctx context.Context, id, path string) error {
	return m.Execute(ctx, "chardev-change", map[string]any{"id": id,
		"backend": map[string]any{"type": "file", "data": map[string]any{"out": path, "append": true}}}, nil)
}

// DeviceDel unplugs a device by ID (the guest must cooperate for PCI devices).
func (m *Monitor) DeviceDel(ctx context.Context, id string) error {
	return m.Execute(ctx, "device_del", map[string]string{"id": id}, nil)
}

// Eject takes the disc out of a removable drive (by device ID), even if the guest
// locked the tray.
func (m *Monitor) Eject(ctx context.Context, id string) error {
	return m.Execute(ctx, "eject", map[string]any{"id": id, "force": true}, nil)
}

// Job is one entry of query-jobs.
type Job struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// QueryJobs lists the block jobs.
func (m *Monitor) QueryJobs(ctx context.Context) ([]Job, error) {
	var jobs []Job
	return jobs, m.Execute(ctx, "query-jobs", nil, &jobs)
}

// JobDismiss forgets a concluded job.
func (m *Monitor) JobDismiss(ctx context.Context, id string) error {
	return m.Execute(ctx, "job-dismiss", map[string]string{"id": id}, nil)
}

// Transaction runs several actions atomically (one point in time for all of them).
func (m *Monitor) Transaction(ctx context.Context, actions []map[string]any) error {
	return m.Execute(ctx, "transaction", map[string]any{"actions": actions}, nil)
}

// Chardev is one entry of query-chardev.
type Chardev struct {
	Label    string `json:"label"`
	Filename string `json:"filename"`
	// FrontendOpen says whether the device behind the chardev is open: for a
	// virtio-serial port, whether a program in the guest holds the port open.
	FrontendOpen bool `json:"frontend-open"`
}

// QueryChardev lists the character devices.
func (m *Monitor) QueryChardev(ctx context.Context) ([]Chardev, error) {
	var devs []Chardev
	return devs, m.Execute(ctx, "query-chardev", nil, &devs)
}
