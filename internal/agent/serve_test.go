package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pipeChannel is the guest's end of a fake channel; host is the other end.
type pipeChannel struct {
	io.Reader
	io.Writer
}

type hostEnd struct {
	t     *testing.T
	w     *io.PipeWriter // host → guest
	lines *bufio.Scanner // guest → host
}

func newChannel(t *testing.T) (*pipeChannel, *hostEnd) {
	toGuestR, toGuestW := io.Pipe()
	toHostR, toHostW := io.Pipe()
	sc := bufio.NewScanner(toHostR)
	sc.Buffer(nil, 8<<20)
	return &pipeChannel{Reader: toGuestR, Writer: toHostW}, &hostEnd{t: t, w: toGuestW, lines: sc}
}

func (h *hostEnd) send(m Message) {
	h.t.Helper()
	b, _ := json.Marshal(m)
	if _, err := h.w.Write(append(b, '\n')); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hostEnd) recv() Message {
	h.t.Helper()
	done := make(chan bool, 1)
	var m Message
	go func() {
		ok := h.lines.Scan()
		if ok {
			json.Unmarshal(h.lines.Bytes(), &m)
		}
		done <- ok
	}()
	select {
	case ok := <-done:
		if !ok {
			h.t.Fatal("channel closed")
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("no message from the guest in 10s")
	}
	return m
}

// TestServe: the status first, run requests answered, unknown and malformed lines
// ignored, EOF ends Serve without error.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	a := New(Options{Root: dir, SysDir: filepath.Join(dir, "sys"), DevDir: filepath.Join(dir, "dev")})
	a.setStatus(Ready("i-1", "vm1", true))
	guest, host := newChannel(t)
	served := make(chan error, 1)
	go func() { served <- a.Serve(context.Background(), guest) }()

	if got := host.recv(); !sameMessage(got, Ready("i-1", "vm1", true)) {
		t.Fatalf("first message %s", show(got))
	}
	host.w.Write([]byte("not json\n{\"type\":\"future\"}\n\n"))
	host.send(Message{Type: TypeRun, ID: "r1", Script: "#!/bin/sh\necho out; echo err >&2; pwd; exit 3\n"})
	got := host.recv()
	if got.Type != TypeResult || got.ID != "r1" || got.ExitCode == nil || *got.ExitCode != 3 ||
		string(got.Stdout) != "out\n"+dir+"\n" || string(got.Stderr) != "err\n" || got.StdoutTruncated || got.StderrTruncated {
		t.Errorf("result %s", show(got))
	}
	// A long output keeps its end, and says it was cut.
	host.send(Message{Type: TypeRun, ID: "r2", Script: "head -c 3000000 /dev/zero | tr '\\0' x; echo END; echo done >&2"})
	got = host.recv()
	if got.ID != "r2" || *got.ExitCode != 0 || len(got.Stdout) != MaxOutput || !strings.HasSuffix(string(got.Stdout), "xxxxEND\n") ||
		!got.StdoutTruncated || string(got.Stderr) != "done\n" || got.StderrTruncated {
		t.Errorf("big result: id %s code %d stdout %d bytes, truncated %v; stderr %q", got.ID, *got.ExitCode, len(got.Stdout), got.StdoutTruncated, got.Stderr)
	}
	// Binary output arrives exactly, in one line of bounded length.
	bin := make([]byte, 256*40)
	for i := range bin {
		bin[i] = byte(i)
	}
	binFile := filepath.Join(dir, "bin")
	if err := os.WriteFile(binFile, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	host.send(Message{Type: TypeRun, ID: "r3", Script: "cat " + binFile + "; cat " + binFile + " >&2"})
	got = host.recv()
	if got.ID != "r3" || !bytes.Equal(got.Stdout, bin) || !bytes.Equal(got.Stderr, bin) {
		t.Errorf("binary result: id %s stdout %d bytes, stderr %d bytes", got.ID, len(got.Stdout), len(got.Stderr))
	}
	// A status change is pushed.
	a.setStatus(Failure("i-1", "something"))
	if got := host.recv(); !sameMessage(got, Failure("i-1", "something")) {
		t.Errorf("pushed status %s", show(got))
	}
	host.w.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after EOF = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end on EOF")
	}
}

func TestRunScriptWithoutShell(t *testing.T) {
	a := New(Options{Root: t.TempDir(), Shell: "/nonexistent/sh"})
	got := a.runScript(context.Background(), Message{Type: TypeRun, ID: "x", Script: "true"})
	if *got.ExitCode != 127 || !strings.Contains(string(got.Stderr), "hangar-agent:") {
		t.Errorf("result %s", show(got))
	}
}

// TestRunWaitsForMedium: a generalized disk reports waiting, then ready once a
// medium is attached, and the channel hears both.
func TestRunWaitsForMedium(t *testing.T) {
	e := newEnv(t)
	a := e.agent()
	guest, host := newChannel(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Serve(ctx, guest)
	done := make(chan Message, 1)
	go func() { done <- a.Run(ctx) }()
	if got := host.recv(); !sameMessage(got, Waiting()) {
		t.Fatalf("first report %s", show(got))
	}
	e.attach(keyConfig(t, "i-7"))
	if got := host.recv(); !sameMessage(got, Ready("i-7", "vm1", true)) {
		t.Fatalf("second report %s", show(got))
	}
	if got := <-done; got.Type != TypeReady {
		t.Errorf("Run returned %s", show(got))
	}
}

func TestFindChannel(t *testing.T) {
	dir := t.TempDir()
	for name, port := range map[string]string{"vport1p1": "org.qemu.guest_agent.0", "vport2p1": PortName} {
		os.MkdirAll(filepath.Join(dir, "class", "virtio-ports", name), 0o755)
		os.WriteFile(filepath.Join(dir, "class", "virtio-ports", name, "name"), []byte(port+"\n"), 0o444)
	}
	got, err := FindChannel(dir, "/dev")
	if err != nil || got != "/dev/vport2p1" {
		t.Errorf("FindChannel = %q, %v", got, err)
	}
	if _, err := FindChannel(t.TempDir(), "/dev"); err != ErrNoChannel {
		t.Errorf("FindChannel without ports = %v", err)
	}
}

func TestMessageJSON(t *testing.T) {
	zero := 0
	for _, tt := range []struct {
		m    Message
		want string
	}{
		{Ready("i", "h", false), `{"type":"ready","instanceId":"i","provisioned":false,"hostname":"h"}`},
		{Failure("i", `user name "root" is reserved`), `{"type":"failure","instanceId":"i","reason":"user name \"root\" is reserved"}`},
		{Waiting(), `{"type":"waiting","reason":"` + WaitingReason + `"}`},
		{Message{Type: TypeResult, ID: "1", ExitCode: &zero}, `{"type":"result","id":"1","exitCode":0}`},
	} {
		if got := show(tt.m); got != tt.want {
			t.Errorf("got %s\nwant %s", got, tt.want)
		}
	}
}

// TestTail: the last max bytes are kept, whatever the sizes of the writes.
func TestTail(t *testing.T) {
	for _, sizes := range [][]int{{1}, {10}, {3, 3, 3, 3}, {7, 1, 7, 1, 7}, {25}, {9, 9, 9, 9, 9, 9}} {
		tl := &tail{max: 10}
		var all []byte
		n := 0
		for _, size := range sizes {
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(n)
				n++
			}
			all = append(all, p...)
			tl.Write(p)
			if len(tl.buf) > 2*tl.max {
				t.Fatalf("writes %v: %d bytes held", sizes, len(tl.buf))
			}
		}
		want := all[max(0, len(all)-10):]
		if !bytes.Equal(tl.bytes(), want) || tl.truncated() != (len(all) > 10) {
			t.Errorf("writes %v: kept %v (truncated %v), want %v", sizes, tl.bytes(), tl.truncated(), want)
		}
	}
}
