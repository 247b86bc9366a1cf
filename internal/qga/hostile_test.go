package qga

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// request is a command as the fake guest reads it.
type request struct {
	Execute   string          `json:"execute"`
	ID        json.RawMessage `json:"id"`
	Arguments struct {
		ID int64 `json:"id"`
	} `json:"arguments"`
	sync bool // preceded by 0xFF
}

// hostile is a guest agent that answers each command with what answer returns
// (nil: silence). It stands in for a hostile guest in these unit tests; the
// honest peer is the real qemu-ga (real_test.go).
type hostile struct {
	reqs chan request
}

func newHostile(t *testing.T, answer func(req request, w *bufio.Writer)) (*Client, *hostile, net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qga.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := &hostile{reqs: make(chan request, 100)}
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- conn
		r := bufio.NewReader(conn)
		w := bufio.NewWriter(conn)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var req request
			req.sync = bytes.HasPrefix(line, []byte{0xff})
			if json.Unmarshal(bytes.TrimLeft(line, "\xff"), &req) != nil {
				continue
			}
			select {
			case h.reqs <- req:
			default:
			}
			answer(req, w)
			if w.Flush() != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	server := <-accepted
	t.Cleanup(func() { server.Close() })
	return New(conn, Options{MaxReply: 1024, MaxRead: 64 << 10, Timeout: 5 * time.Second}), h, server
}

// honest writes the answer an honest agent gives: the sync answer, or ret.
func honest(req request, w *bufio.Writer, ret string) {
	if req.Execute == "guest-sync-delimited" {
		fmt.Fprintf(w, "\xff{\"return\": %d}\n", req.Arguments.ID)
		return
	}
	fmt.Fprintf(w, "{\"return\": %s, \"id\": %s}\n", ret, req.ID)
}

// TestHostileNoise: garbage, lines past the limit, answers with other ids or
// none, and a sync answer with the wrong number come before the real answers;
// the client skips them all and gets its own.
func TestHostileNoise(t *testing.T) {
	c, _, _ := newHostile(t, func(req request, w *bufio.Writer) {
		w.WriteString("not json\n\x00\x01\xff\xff\n{}\n{\"return\": 1} trailing\n" + strings.Repeat("x", 5000) + "\n")
		w.WriteString(`{"return": {"pid": 666}, "id": "someone-else"}` + "\n" + `{"return": {"pid": 667}}` + "\n")
		w.WriteString(`{"return": {"pid": 668}, "id": 12}` + "\n" + `{"return": {}, "error": {"class": "X", "desc": "both"}, "id": ` + string(req.ID) + "}\n")
		if req.Execute == "guest-sync-delimited" {
			fmt.Fprintf(w, "\xff{\"return\": %d}\n", req.Arguments.ID+1)
		}
		honest(req, w, `{"pid": 42}`)
	})
	pid, err := c.Exec(context.Background(), Exec{Path: "/bin/true"})
	if err != nil || pid != 42 {
		t.Fatalf("pid %d, %v", pid, err)
	}
}

// TestHostileStall: an agent that never answers costs the caller its deadline,
// not more; the next command syncs again first.
func TestHostileStall(t *testing.T) {
	var stall atomic.Bool
	stall.Store(true)
	c, h, _ := newHostile(t, func(req request, w *bufio.Writer) {
		if req.Execute == "guest-ping" && stall.Load() {
			return
		}
		honest(req, w, "{}")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a stalled ping: %v", err)
	}
	stall.Store(false)
	drain(h)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-h.reqs; !got.sync || got.Execute != "guest-sync-delimited" {
		t.Fatalf("after a timeout the client sent %+v, not a sync", got)
	}
}

func drain(h *hostile) {
	for {
		select {
		case <-h.reqs:
		default:
			return
		}
	}
}

// TestHostileOptionsTimeout: a caller without a deadline is still bounded by
// Options.Timeout.
func TestHostileOptionsTimeout(t *testing.T) {
	c, _, _ := newHostile(t, func(req request, w *bufio.Writer) {})
	c.opts.Timeout = 100 * time.Millisecond
	if err := c.Ping(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// TestHostileCancel: cancelling the caller's context interrupts a read at once.
func TestHostileCancel(t *testing.T) {
	c, h, _ := newHostile(t, func(req request, w *bufio.Writer) {})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-h.reqs; cancel() }()
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestHostileFlood: an agent that writes without end is read only up to
// Options.MaxRead for one command, then dropped with a protocol error, long
// before the command's timeout.
func TestHostileFlood(t *testing.T) {
	c, _, server := newHostile(t, func(req request, w *bufio.Writer) {})
	c.opts.Timeout, c.opts.MaxRead = time.Hour, 1<<20
	go func() {
		line := []byte(`{"return": {}, "id": "not yours"}` + "\n")
		for {
			if _, err := server.Write(line); err != nil {
				return
			}
		}
	}()
	if err := c.Ping(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v", err)
	}
}

// TestHostileHugeAnswer: an answer past MaxReply is dropped, and the caller
// hears that, not only that time ran out.
func TestHostileHugeAnswer(t *testing.T) {
	c, _, _ := newHostile(t, func(req request, w *bufio.Writer) {
		if req.Execute == "guest-sync-delimited" {
			honest(req, w, "")
			return
		}
		honest(req, w, `{"exited": true, "out-data": "`+strings.Repeat("QUFB", 1000)+`"}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.ExecStatus(ctx, 1)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "passed the limit") {
		t.Fatalf("got %v", err)
	}
}

// TestHostileBadAnswers: answers with this client's id but of the wrong shape
// are errors, never zero values taken for the truth; the guest's error words are
// cut to their bound.
func TestHostileBadAnswers(t *testing.T) {
	tests := []struct {
		name, answer string
		check        func(error) bool
	}{
		{"a pid that is no number", `{"return": {"pid": "x"}, "id": ID}`, func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"no pid", `{"return": {}, "id": ID}`, func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"a long error", `{"error": {"class": "GenericError", "desc": "` + strings.Repeat("é", 400) + `\ud800"}, "id": ID}`, func(err error) bool {
			var ge *Error
			return errors.As(err, &ge) && len(ge.Desc) <= maxErrorText+len("…") && strings.HasSuffix(ge.Desc, "…")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newHostile(t, func(req request, w *bufio.Writer) {
				if req.Execute == "guest-sync-delimited" {
					honest(req, w, "")
					return
				}
				w.WriteString(strings.ReplaceAll(tt.answer, "ID", string(req.ID)) + "\n")
			})
			if _, err := c.Exec(context.Background(), Exec{Path: "/bin/true"}); !tt.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestHostileBadStatus: a status whose output is not base64 is an error.
func TestHostileBadStatus(t *testing.T) {
	c, _, _ := newHostile(t, func(req request, w *bufio.Writer) {
		honest(req, w, `{"exited": true, "exitcode": 0, "out-data": "!!not base64"}`)
	})
	if _, err := c.ExecStatus(context.Background(), 1); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v", err)
	}
}

// TestHostileHangUp: an agent that hangs up ends the command with an error.
func TestHostileHangUp(t *testing.T) {
	c, _, server := newHostile(t, func(req request, w *bufio.Writer) {})
	server.Close()
	if err := c.Ping(context.Background()); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	c.Close()
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestHostileCloseDuringCommand: Close ends a command waiting on a silent agent
// at once (as when its VM stops), without waiting for the command's timeout.
func TestHostileCloseDuringCommand(t *testing.T) {
	c, h, _ := newHostile(t, func(req request, w *bufio.Writer) {})
	c.opts.Timeout = time.Hour
	go func() { <-h.reqs; c.Close() }()
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}
