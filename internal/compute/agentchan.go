package compute

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The agent channel is written by the guest, which is untrusted: the host bounds
// what it reads (docs/guest-protocol.md, "Limits").
const (
	// maxAgentLine bounds one message. A result holds two outputs of at most
	// hangar.MaxRunOutput bytes each, base64-encoded (4/3), with room to spare.
	maxAgentLine = 4 << 20
	// The host reads at most agentLineRate messages and agentByteRate bytes a
	// second from a guest, after bursts of agentLineBurst and agentByteBurst. A
	// guest that sends more is read more slowly: it only slows its own channel.
	agentLineRate, agentLineBurst = 50, 200
	agentByteRate, agentByteBurst = 8 << 20, 2 * maxAgentLine
	// maxReportText bounds the guest's words kept with a VM (a failure's reason,
	// a host name).
	maxReportText = 1024
	// reportInterval is the least time between two writes of a VM's provisioning
	// state from the guest's reports; reports in between are coalesced.
	reportInterval = time.Second
	// logInterval is the least time between two log lines about one guest's
	// channel; lines in between are counted.
	logInterval = 10 * time.Second
)

// agentMessage is one message of the agent channel (docs/guest-protocol.md), as the
// host reads it.
type agentMessage struct {
	// from names the agent that sent a report: hangar-agent when empty.
	from        agentSource
	Type        string `json:"type"`
	InstanceID  string `json:"instanceId"`
	Provisioned bool   `json:"provisioned"`
	Hostname    string `json:"hostname"`
	Reason      string `json:"reason"`
	ID          string `json:"id"`
	ExitCode    int    `json:"exitCode"`
	// A result's outputs: base64 (any bytes), or, from agents older than the
	// base64 fields, JSON strings.
	StdoutBase64    []byte `json:"stdoutBase64"`
	StderrBase64    []byte `json:"stderrBase64"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	StdoutTruncated bool   `json:"stdoutTruncated"`
	StderrTruncated bool   `json:"stderrTruncated"`

	// err, set by the host, says why a result never came through.
	err error
}

var errMalformed = errors.New("malformed agent message")

// parseAgentMessage decodes one line of the channel. It refuses what is not one
// JSON object of a known type, and cuts the guest's words to their bounds.
func parseAgentMessage(line []byte) (agentMessage, error) {
	var msg agentMessage
	if len(line) > maxAgentLine {
		return msg, fmt.Errorf("%w: %d bytes, more than %d", errMalformed, len(line), maxAgentLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&msg); err != nil {
		return agentMessage{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return agentMessage{}, fmt.Errorf("%w: data after the JSON object", errMalformed)
	}
	switch msg.Type {
	case "ready", "failure", "waiting":
	case "result":
		if msg.ID == "" || len(msg.ID) > 64 {
			return agentMessage{}, fmt.Errorf("%w: a result without a valid id", errMalformed)
		}
	default:
		return agentMessage{}, fmt.Errorf("%w: unknown type %q", errMalformed, hangar.Clip(msg.Type, 64))
	}
	msg.InstanceID, msg.Hostname, msg.Reason = hangar.Clip(msg.InstanceID, maxReportText), hangar.Clip(msg.Hostname, maxReportText), hangar.Clip(msg.Reason, maxReportText)
	return msg, nil
}

// result is what a run's answer tells the user, each output cut to its last
// hangar.MaxRunOutput bytes (the guest's own cut is trusted only to add a mark).
func (msg agentMessage) result() hangar.RunCommandResult {
	r := hangar.RunCommandResult{ExitCode: msg.ExitCode}
	stdout, stderr := msg.StdoutBase64, msg.StderrBase64
	if stdout == nil {
		stdout = []byte(msg.Stdout)
	}
	if stderr == nil {
		stderr = []byte(msg.Stderr)
	}
	r.Stdout, r.StdoutBase64, r.StdoutTruncated = output(stdout, msg.StdoutTruncated)
	r.Stderr, r.StderrBase64, r.StderrTruncated = output(stderr, msg.StderrTruncated)
	return r
}

// output is one stream of a result: its last hangar.MaxRunOutput bytes as text, and,
// when they are not valid UTF-8, exactly, for base64.
func output(b []byte, truncated bool) (string, []byte, bool) {
	if len(b) > hangar.MaxRunOutput {
		b, truncated = b[len(b)-hangar.MaxRunOutput:], true
	}
	if truncated {
		// The cut may have split a character: drop its tail, so that text stays
		// text. Bytes that are not text stay exact.
		t := b
		for i := 0; i < utf8.UTFMax-1 && len(t) > 0 && !utf8.RuneStart(t[0]); i++ {
			t = t[1:]
		}
		if utf8.Valid(t) {
			return string(t), nil, true
		}
	}
	if utf8.Valid(b) {
		return string(b), nil, truncated
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), b, truncated
}

// lineReader splits the channel into lines without ever holding more than max
// bytes of one.
type lineReader struct {
	r   *bufio.Reader
	max int
}

// longLine is a line longer than the reader's max: it was read to its end and
// dropped. prefix holds its first bytes.
type longLine struct {
	n      int
	prefix []byte
}

func (l *longLine) Error() string {
	return fmt.Sprintf("dropped a message of %d bytes (at most %d are read)", l.n, maxAgentLine)
}

// next returns the next line, without its newline, and the bytes it took from the
// channel. A line longer than max is consumed and reported as a *longLine.
func (lr *lineReader) next() ([]byte, int, error) {
	var line []byte
	n := 0
	over := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n += len(chunk)
		if !over {
			if len(line)+len(chunk) > lr.max+1 { // +1: the newline
				over = true
				line = append(line, chunk[:min(len(chunk), max(0, 256-len(line)))]...)
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			if over {
				return nil, n, &longLine{n: n, prefix: line[:min(len(line), 256)]}
			}
			return bytes.TrimSuffix(line, []byte{'\n'}), n, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if len(line) > 0 && len(line) <= lr.max && !over && err == io.EOF {
				return line, n, nil // a last line without its newline
			}
			return nil, n, err
		}
	}
}

var resultIDPattern = regexp.MustCompile(`^\s*\{\s*"type"\s*:\s*"result"\s*,\s*"id"\s*:\s*"([A-Za-z0-9_.-]{1,64})"`)

// droppedResultID finds which run a dropped line answered, from its first bytes,
// so that the caller waiting for it hears why instead of waiting out its timeout.
// The agent writes "type" and "id" first.
func droppedResultID(prefix []byte) string {
	if m := resultIDPattern.FindSubmatch(prefix); m != nil {
		return string(m[1])
	}
	return ""
}

// bucket is a token bucket whose tokens may go into debt: take says how long to
// wait for the debt to be paid.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate, burst float64, now time.Time) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *bucket) take(n float64, now time.Time) time.Duration {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// logLimiter lets one line through per interval and counts the others.
type logLimiter struct {
	interval   time.Duration
	next       time.Time
	suppressed int
}

// allow reports whether to log now and how many lines were held back since the
// last one.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(l.interval), 0
	return true, n
}

// report is a VM's provisioning state as the guest's reports set it.
type report struct {
	state hangar.ProvisioningState
	text  string
}

// reports coalesces a guest's reports into writes of the VM's provisioning state:
// a report equal to the last one written is not written again, and at most one
// write is made per interval, the latest report winning. A guest flooding its
// channel with failures costs the database one write a second at most.
type reports struct {
	interval time.Duration
	write    func(report)

	written, pending *report
	last             time.Time // of the last write
	timer            *time.Timer
}

// state is the provisioning state of the last report taken, written or not;
// before any, the VM's as it was.
func (r *reports) state(before hangar.ProvisioningState) hangar.ProvisioningState {
	switch {
	case r.pending != nil:
		return r.pending.state
	case r.written != nil:
		return r.written.state
	}
	return before
}

// add takes a report at time now: written now, or when due() fires.
func (r *reports) add(rep report, now time.Time) {
	if r.written != nil && *r.written == rep {
		r.pending = nil
		return
	}
	r.pending = &rep
	if now.Sub(r.last) >= r.interval {
		r.flush(now)
		return
	}
	if r.timer == nil {
		r.timer = time.NewTimer(r.last.Add(r.interval).Sub(now))
	}
}

// due fires when a held report is to be written; nil when none is held.
func (r *reports) due() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C
}

// flush writes the held report, if any.
func (r *reports) flush(now time.Time) {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.pending == nil {
		return
	}
	rep := *r.pending
	r.pending = nil
	r.write(rep)
	r.written, r.last = &rep, now
}
