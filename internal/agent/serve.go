package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
)

// Limits of the channel.
const (
	MaxMessage = 8 << 20 // bytes of one line from the host
	// MaxOutput is how many bytes of stdout, and of stderr, are kept from a
	// script: the last ones (hangar.MaxRunOutput, which the host enforces too). A
	// result stays well under the host's limit of 4 MiB a message.
	MaxOutput     = 1 << 20
	maxConcurrent = 4 // scripts run at once; more requests wait
)

// Serve speaks the agent channel over rw until reading from it fails (io.EOF: the
// host went away, which ends Serve without error) or ctx ends. It sends the current
// status first, once the first boot pass is done, and again whenever it changes,
// and answers each run request with a result. Writes are serialized.
func (a *Agent) Serve(ctx context.Context, rw io.ReadWriter) error {
	var wmu sync.Mutex
	send := func(m Message) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		wmu.Lock()
		defer wmu.Unlock()
		_, err = rw.Write(append(b, '\n'))
		return err
	}

	readErr := make(chan error, 1)
	go func() { readErr <- a.readRequests(ctx, rw, send) }()

	for {
		status, ok, changed := a.Status()
		if ok {
			if err := send(status); err != nil {
				return fmt.Errorf("writing to the agent channel: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-changed:
		}
	}
}

// readRequests reads host messages until an error and starts a run for each run
// request; other message types are ignored, as later protocol versions may add some.
func (a *Agent) readRequests(ctx context.Context, r io.Reader, send func(Message) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxMessage)
	sem := make(chan struct{}, maxConcurrent)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		req, err := ParseMessage(line)
		if err != nil {
			a.logf("ignoring a message from the host: %v", err)
			continue
		}
		if req.Type != TypeRun {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		go func() {
			defer func() { <-sem }()
			if err := send(a.runScript(ctx, req)); err != nil {
				a.logf("sending the result of run %s: %v", req.ID, err)
			}
		}()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the agent channel: %w", err)
	}
	return io.EOF
}

// ParseMessage decodes one line of the channel.
func ParseMessage(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("not a JSON message: %w", err)
	}
	if m.Type == "" {
		return Message{}, errors.New("message without a type")
	}
	return m, nil
}

// runScript runs a run request's script with the shell, as the agent's user (root
// in the guest), and returns its result. Each output keeps its last MaxOutput bytes.
func (a *Agent) runScript(ctx context.Context, req Message) Message {
	cmd := exec.CommandContext(ctx, a.opts.Shell, "-c", req.Script)
	cmd.Dir = a.opts.Root
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8",
	}
	stdout, stderr := &tail{max: MaxOutput}, &tail{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode() // -1 when killed by a signal
		} else {
			code = 127
			fmt.Fprintf(stderr, "hangar-agent: %v\n", err)
		}
	}
	return Message{Type: TypeResult, ID: req.ID, ExitCode: &code, Stdout: stdout.bytes(), Stderr: stderr.bytes(),
		StdoutTruncated: stdout.truncated(), StderrTruncated: stderr.truncated()}
}

// tail keeps the last max bytes written to it, in at most twice that memory.
type tail struct {
	buf   []byte
	max   int
	total int64
}

func (t *tail) Write(p []byte) (int, error) {
	t.total += int64(len(p))
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return len(p), nil
	}
	if len(t.buf)+len(p) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-(t.max-len(p)):]...)
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

func (t *tail) bytes() []byte {
	if len(t.buf) > t.max {
		return t.buf[len(t.buf)-t.max:]
	}
	return t.buf
}

func (t *tail) truncated() bool { return t.total > int64(t.max) }
