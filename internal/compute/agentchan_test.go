package compute

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// lockedLog collects log lines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// guestChannel runs readAgent against a fake QEMU agent socket and returns the
// guest's end of it, the messages the host passes on, the machine and the log.
func guestChannel(t *testing.T) (net.Conn, <-chan agentMessage, *machine, *lockedLog) {
	t.Helper()
	log := &lockedLog{}
	m := &Manager{cfg: Config{Dir: t.TempDir()}, log: slog.New(slog.NewTextHandler(log, nil))}
	vm := &store.VM{VM: hangar.VM{ID: "0123456789abcdef", Name: "web"}}
	if err := os.MkdirAll(m.socketDir(vm.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", m.socketPath(vm.ID, agentSocket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mc := newMachine(vm.ID, 0, "")
	t.Cleanup(func() { close(mc.exited) })
	out := mc.reports
	go m.readAgent(vm, mc)
	guest, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { guest.Close() })
	return guest, out, mc, log
}

func recvMessage(t *testing.T, out <-chan agentMessage) agentMessage {
	t.Helper()
	select {
	case msg := <-out:
		return msg
	case <-time.After(30 * time.Second):
		t.Fatal("the host passed no message on in 30s")
	}
	return agentMessage{}
}

// TestReadAgentHostile: a guest writes an over-long line, garbage and messages of
// no known type. Each is dropped and logged; the messages after them still arrive.
func TestReadAgentHostile(t *testing.T) {
	guest, out, _, log := guestChannel(t)
	go func() {
		w := bufio.NewWriter(guest)
		w.Write(bytes.Repeat([]byte("x"), maxAgentLine+100))
		w.WriteString("\n")
		w.WriteString("not json\n\x00\xff\xfe\n{}\n{\"type\":\"bogus\"}\n{\"type\":\"result\"}\n{\"type\":\"ready\"} trailing\n[1,2]\n")
		w.WriteString(`{"type":"ready","instanceId":"i-1","provisioned":true,"hostname":"web"}` + "\n")
		w.Flush()
	}()
	msg := recvMessage(t, out)
	if msg.Type != "ready" || msg.Hostname != "web" || !msg.Provisioned {
		t.Fatalf("after the garbage the host passed on %+v, want the ready report", msg)
	}
	if !strings.Contains(log.String(), "dropped a message from the guest agent") || !strings.Contains(log.String(), "dropped a message of") {
		t.Fatalf("the dropped lines were not logged:\n%s", log.String())
	}
	// Logging is rate-limited: eight dropped lines, one log line.
	if n := strings.Count(log.String(), "dropped a message from the guest agent"); n != 1 {
		t.Fatalf("%d log lines for 8 dropped messages, want 1", n)
	}
	// A result after all that is delivered to the run waiting for it.
	go guest.Write([]byte(`{"type":"result","id":"run-1","exitCode":3,"stdoutBase64":"` + base64.StdEncoding.EncodeToString([]byte{0, 0xff, 'a'}) + `"}` + "\n"))
	res := recvMessage(t, out)
	if got := res.result(); res.ID != "run-1" || got.ExitCode != 3 || !bytes.Equal(got.StdoutBytes(), []byte{0, 0xff, 'a'}) {
		t.Fatalf("result after the garbage: %+v", got)
	}
}

// TestReadAgentOverlongResult: a result too long to read fails its run at once, with
// a message that says why, instead of leaving the caller to its timeout.
func TestReadAgentOverlongResult(t *testing.T) {
	guest, out, mc, _ := guestChannel(t)
	ch := mc.await("run-7")
	go func() {
		w := bufio.NewWriter(guest)
		w.WriteString(`{"type":"result","id":"run-7","exitCode":0,"stdout":"`)
		w.Write(bytes.Repeat([]byte(`\u0001`), maxAgentLine/6+10))
		w.WriteString("\"}\n")
		w.WriteString(`{"type":"waiting","reason":"still here"}` + "\n")
		w.Flush()
	}()
	select {
	case msg := <-ch:
		if hangar.ErrorCode(msg.err) != hangar.CodeTooLarge || !strings.Contains(msg.err.Error(), "limit") {
			t.Fatalf("the run's answer: %+v", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run waiting for the dropped result heard nothing")
	}
	if msg := recvMessage(t, out); msg.Type != "waiting" {
		t.Fatalf("after the dropped result: %+v", msg)
	}
}

// TestReadAgentFlood: a guest writing messages as fast as it can is read at the
// host's pace; every message still arrives, in order.
func TestReadAgentFlood(t *testing.T) {
	guest, out, _, _ := guestChannel(t)
	const n = agentLineBurst + 20 // past the burst: the last ones are paced
	go func() {
		w := bufio.NewWriter(guest)
		for i := range n {
			json.NewEncoder(w).Encode(map[string]any{"type": "failure", "reason": strings.Repeat("r", i%50)})
		}
		w.Flush()
	}()
	for i := range n {
		if msg := recvMessage(t, out); msg.Type != "failure" || len(msg.Reason) != i%50 {
			t.Fatalf("message %d: %+v", i, msg)
		}
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := newBucket(10, 20, t0)
	for i := range 20 {
		if w := b.take(1, t0); w != 0 {
			t.Fatalf("take %d within the burst waits %s", i, w)
		}
	}
	if w := b.take(1, t0); w != 100*time.Millisecond {
		t.Fatalf("past the burst: wait %s, want 100ms", w)
	}
	// A second later ten tokens came back, minus the debt of one.
	if w := b.take(9, t0.Add(time.Second)); w != 0 {
		t.Fatalf("after a second: wait %s", w)
	}
	// More than the burst at once: a debt to wait out, not a refusal.
	if w := b.take(50, t0.Add(time.Second)); w != 5*time.Second {
		t.Fatalf("a take of 50: wait %s, want 5s", w)
	}
}

// TestReportsCoalesce: ten thousand failure reports in a burst cost two writes (the
// first, then the last one when due), and equal reports none.
func TestReportsCoalesce(t *testing.T) {
	var writes []report
	r := &reports{interval: time.Second, write: func(rep report) { writes = append(writes, rep) }}
	t0 := time.Unix(1000, 0)
	for i := range 10000 {
		r.add(report{hangar.ProvisioningFailed, "flood " + strings.Repeat("x", i%7)}, t0)
	}
	if len(writes) != 1 || r.due() == nil {
		t.Fatalf("%d writes for a burst of 10000 reports, want 1 and one held", len(writes))
	}
	r.flush(t0.Add(time.Second))
	if len(writes) != 2 || writes[1].text != "flood "+strings.Repeat("x", 9999%7) || r.due() != nil {
		t.Fatalf("writes after the flush: %+v", writes)
	}
	// The same report again, later: nothing to write.
	r.add(writes[1], t0.Add(5*time.Second))
	if len(writes) != 2 || r.due() != nil {
		t.Fatalf("an unchanged report was written again: %+v", writes)
	}
	// A new one, later than the interval: written at once.
	r.add(report{hangar.ProvisioningSucceeded, "ready"}, t0.Add(6*time.Second))
	if len(writes) != 3 || writes[2].state != hangar.ProvisioningSucceeded {
		t.Fatalf("a new report after the interval: %+v", writes)
	}
}

func TestResultOutputs(t *testing.T) {
	big := bytes.Repeat([]byte("é"), hangar.MaxRunOutput) // 2 bytes each: the cut splits one
	for _, tc := range []struct {
		name      string
		msg       agentMessage
		stdout    []byte
		text      bool
		truncated bool
	}{
		{"text", agentMessage{StdoutBase64: []byte("hello\n")}, []byte("hello\n"), true, false},
		{"binary", agentMessage{StdoutBase64: []byte{0xff, 0, 'x'}}, []byte{0xff, 0, 'x'}, false, false},
		{"an older agent's string", agentMessage{Stdout: "old\n"}, []byte("old\n"), true, false},
		{"cut by the guest", agentMessage{StdoutBase64: []byte("end\n"), StdoutTruncated: true}, []byte("end\n"), true, true},
		{"binary, too long: the last bytes exactly", agentMessage{StdoutBase64: append([]byte{0xff}, bytes.Repeat([]byte{0xa9, 0xff}, hangar.MaxRunOutput/2)...)},
			bytes.Repeat([]byte{0xa9, 0xff}, hangar.MaxRunOutput/2), false, true},
		{"too long: cut by the host", agentMessage{StdoutBase64: append(bytes.Clone(big), 'a')}, append(bytes.Clone(big[hangar.MaxRunOutput+2:]), 'a'), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.msg.result()
			if !bytes.Equal(r.StdoutBytes(), tc.stdout) || (r.StdoutBase64 == nil) != tc.text || r.StdoutTruncated != tc.truncated {
				t.Fatalf("stdout %d bytes (base64 %v, truncated %v), want %d bytes (text %v, truncated %v)",
					len(r.StdoutBytes()), r.StdoutBase64 != nil, r.StdoutTruncated, len(tc.stdout), tc.text, tc.truncated)
			}
			if len(r.StdoutBytes()) > hangar.MaxRunOutput {
				t.Fatalf("%d bytes kept", len(r.StdoutBytes()))
			}
		})
	}
}

// FuzzAgentChannel feeds arbitrary bytes to the host's side of the agent channel,
// with a small line limit: nothing panics, no line passed on is longer than the
// limit, every message passed on has a known type, and a result's outputs stay
// within their bound.
func FuzzAgentChannel(f *testing.F) {
	f.Add([]byte(`{"type":"ready","instanceId":"i","provisioned":true,"hostname":"h"}` + "\n"))
	f.Add([]byte(`{"type":"result","id":"r1","exitCode":0,"stdoutBase64":"AP8=","stderr":"e"}` + "\n"))
	f.Add([]byte("{\"type\":\"failure\",\"reason\":\"" + strings.Repeat("x", 200) + "\"}\nnot json\n\n"))
	f.Add([]byte(`{"type":"result","id":"run-1","stdoutBase64":"!!"}` + "\n{\"type\":\"waiting\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 128
		lr := &lineReader{r: bufio.NewReaderSize(bytes.NewReader(data), 16), max: limit}
		for {
			line, n, err := lr.next()
			var long *longLine
			if err != nil && !asLong(err, &long) {
				if err != io.EOF {
					t.Fatalf("reader error %v", err)
				}
				return
			}
			if n == 0 {
				t.Fatal("a line took no bytes")
			}
			if long != nil {
				droppedResultID(long.prefix)
				continue
			}
			if len(line) > limit {
				t.Fatalf("a line of %d bytes passed a limit of %d", len(line), limit)
			}
			msg, err := parseAgentMessage(line)
			if err != nil {
				continue
			}
			switch msg.Type {
			case "ready", "failure", "waiting", "result":
			default:
				t.Fatalf("type %q passed", msg.Type)
			}
			if len(msg.Reason) > maxReportText+len("…") {
				t.Fatalf("a reason of %d bytes", len(msg.Reason))
			}
			r := msg.result()
			if len(r.StdoutBytes()) > hangar.MaxRunOutput || len(r.StderrBytes()) > hangar.MaxRunOutput {
				t.Fatal("an output past its bound")
			}
		}
	})
}

func asLong(err error, long **longLine) bool {
	l, ok := err.(*longLine)
	*long = l
	return ok
}

// TestReportsState: the state of the last report taken counts, written or still
// held, so that a report coalesced away is not forgotten.
func TestReportsState(t *testing.T) {
	r := &reports{interval: time.Minute, write: func(report) {}}
	t0 := time.Unix(1000, 0)
	if got := r.state(hangar.ProvisioningCreating); got != hangar.ProvisioningCreating {
		t.Errorf("before any report: %s", got)
	}
	r.add(report{hangar.ProvisioningSucceeded, "ready"}, t0) // written
	if got := r.state(hangar.ProvisioningCreating); got != hangar.ProvisioningSucceeded {
		t.Errorf("after a written report: %s", got)
	}
	r.add(report{hangar.ProvisioningFailed, "failed"}, t0.Add(time.Second)) // held
	if got := r.state(hangar.ProvisioningCreating); got != hangar.ProvisioningFailed {
		t.Errorf("with a held report: %s", got)
	}
}
