package qga

import (
	"context"
	"fmt"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Ping asks the agent whether it answers (guest-ping).
func (c *Client) Ping(ctx context.Context) error {
	return c.Execute(ctx, "guest-ping", nil, nil)
}

// Info is the answer of guest-info, cut to what Hangar uses.
type Info struct {
	Version  string `json:"version"`
	Commands []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	} `json:"supported_commands"`
}

// Enabled reports whether the agent offers the command cmd.
func (i Info) Enabled(cmd string) bool {
	for _, c := range i.Commands {
		if c.Name == cmd {
			return c.Enabled
		}
	}
	return false
}

// Info asks the agent its version and commands (guest-info). An administrator
// may disable guest-exec (qemu-ga --block-rpcs): Info says so.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.Execute(ctx, "guest-info", nil, &i)
	i.Version = hangar.Clip(i.Version, 64)
	return i, err
}

// Exec is a program for the agent to start (guest-exec).
type Exec struct {
	Path string   // the program, as the guest's execvp finds it
	Args []string // its arguments, after the program name
	// Env, when not nil, is the program's whole environment (NAME=value).
	Env []string
	// Input is written to the program's standard input, which is then closed.
	Input []byte
	// CaptureOutput keeps the program's standard output and error for
	// ExecStatus; else they go where the agent's own go.
	CaptureOutput bool
}

// Exec starts a program in the guest and returns its process ID, for
// ExecStatus. The agent answers once the program started, not when it ends.
func (c *Client) Exec(ctx context.Context, e Exec) (int64, error) {
	args := map[string]any{"path": e.Path, "capture-output": e.CaptureOutput}
	if e.Args != nil {
		args["arg"] = e.Args
	}
	if e.Env != nil {
		args["env"] = e.Env
	}
	if e.Input != nil {
		args["input-data"] = e.Input // []byte: base64, as the agent wants it
	}
	var out struct {
		PID *int64 `json:"pid"`
	}
	if err := c.Execute(ctx, "guest-exec", args, &out); err != nil {
		return 0, err
	}
	if out.PID == nil {
		return 0, fmt.Errorf("%w: guest-exec: an answer without a pid", ErrProtocol)
	}
	return *out.PID, nil
}

// ExecStatus is the state of a program started by Exec (guest-exec-status).
type ExecStatus struct {
	Exited bool `json:"exited"`
	// ExitCode is the program's exit status, when it exited rather than being
	// killed by Signal (then not 0).
	ExitCode int `json:"exitcode"`
	Signal   int `json:"signal"`
	// Stdout and Stderr are what the agent captured, complete once Exited (the
	// agent keeps the first 16 MiB of each, and then says Truncated).
	Stdout          []byte `json:"out-data"`
	Stderr          []byte `json:"err-data"`
	StdoutTruncated bool   `json:"out-truncated"`
	StderrTruncated bool   `json:"err-truncated"`
}

// ExecStatus asks about a program started by Exec. Once it answers Exited, the
// agent forgets the program: a second question about it is an *Error.
func (c *Client) ExecStatus(ctx context.Context, pid int64) (ExecStatus, error) {
	var s ExecStatus
	if err := c.Execute(ctx, "guest-exec-status", map[string]int64{"pid": pid}, &s); err != nil {
		return ExecStatus{}, err
	}
	return s, nil
}

// Wait asks about the program pid until it exited or ctx ends, at growing
// intervals (from 10 ms to 1 s): each question costs the guest little, and a
// short script answers quickly.
func (c *Client) Wait(ctx context.Context, pid int64) (ExecStatus, error) {
	interval := 10 * time.Millisecond
	for {
		s, err := c.ExecStatus(ctx, pid)
		if err != nil || s.Exited {
			return s, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ExecStatus{}, fmt.Errorf("qga: program %d still runs: %w", pid, ctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, time.Second)
	}
}
