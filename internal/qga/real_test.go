package qga

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/qga/qgatest"
)

func dialReal(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRealAgentExec runs a program through the real qemu-ga: its input, its two
// outputs and its exit code come back.
func TestRealAgentExec(t *testing.T) {
	c := dialReal(t, qgatest.Start(t))
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version == "" || !info.Enabled("guest-exec") || !info.Enabled("guest-exec-status") || info.Enabled("no-such-command") {
		t.Fatalf("guest-info: %+v", info)
	}
	pid, err := c.Exec(ctx, Exec{Path: "/bin/sh", Args: []string{"-c", `cat; echo "to stderr $FOO" >&2; exit 3`},
		Env: []string{"PATH=/usr/bin:/bin", "FOO=bar"}, Input: []byte("from stdin\x00\xff\n"), CaptureOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Wait(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Exited || s.ExitCode != 3 || s.Signal != 0 || string(s.Stdout) != "from stdin\x00\xff\n" || string(s.Stderr) != "to stderr bar\n" || s.StdoutTruncated {
		t.Fatalf("status %+v (stdout %q, stderr %q)", s, s.Stdout, s.Stderr)
	}
	// The agent forgets a program once it said it exited; its error answer
	// leaves the connection usable.
	_, err = c.ExecStatus(ctx, pid)
	var ge *Error
	if !errors.As(err, &ge) || ge.Class != "GenericError" {
		t.Fatalf("a second status: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("after an error answer: %v", err)
	}
}

// TestRealAgentSignal: a program killed by a signal says which, not an exit code.
func TestRealAgentSignal(t *testing.T) {
	c := dialReal(t, qgatest.Start(t))
	ctx := context.Background()
	pid, err := c.Exec(ctx, Exec{Path: "/bin/sh", Args: []string{"-c", "kill -9 $$"}, CaptureOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Wait(ctx, pid)
	if err != nil || !s.Exited || s.Signal != 9 {
		t.Fatalf("status %+v, %v", s, err)
	}
	if _, err := c.Exec(ctx, Exec{Path: "/nonexistent/program"}); !errors.As(err, new(*Error)) {
		t.Fatalf("a missing program: %v", err)
	}
}

// TestRealAgentStaleStream: the connection holds what a previous client left, an
// unread answer and half a command; a new client's first command still gets its
// own answer (the sync drops both).
func TestRealAgentStaleStream(t *testing.T) {
	path := qgatest.Start(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An answer nobody reads, an answer with a stale id, and half a command.
	if _, err := conn.Write([]byte(`{"execute":"guest-info"}` + "\n" + `{"execute":"guest-ping","id":"hangar-000000000000-1"}` + "\n" + `{"execute":"guest-exec","arguments":{"pa`)); err != nil {
		t.Fatal(err)
	}
	c := New(conn, Options{})
	c.prefix = "hangar-000000000000" // the stale answer's id would be this client's first
	var s ExecStatus
	err = c.Execute(context.Background(), "guest-exec-status", map[string]int64{"pid": 1}, &s)
	var ge *Error
	if !errors.As(err, &ge) || ge.Desc != "Invalid parameter 'pid'" {
		t.Fatalf("got %v, %+v: not the answer to this command", err, s)
	}
}
