package generalize

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hangarvm/hangar/internal/agent"
)

// Port is the name of the appliance's virtio-serial port that carries its
// messages to the host.
const Port = "org.hangar.appliance.0"

// Job is a generalize job as the appliance receives it, on its kernel command
// line (the appliance has no other input: no network, no shared directory).
type Job struct {
	RemoveUser bool
	DryRun     bool
}

const jobArg = "hangar.job=generalize"

// KernelArgs are the job's words of the appliance's kernel command line.
func (j Job) KernelArgs() []string {
	return []string{jobArg, fmt.Sprintf("hangar.remove_user=%d", b2i(j.RemoveUser)), fmt.Sprintf("hangar.dry_run=%d", b2i(j.DryRun))}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ParseJob reads the job from a kernel command line.
func ParseJob(cmdline string) (Job, error) {
	var j Job
	found := false
	for _, w := range strings.Fields(cmdline) {
		switch w {
		case jobArg:
			found = true
		case "hangar.remove_user=1":
			j.RemoveUser = true
		case "hangar.dry_run=1":
			j.DryRun = true
		}
	}
	if !found {
		return j, errors.New("no hangar.job=generalize on the kernel command line")
	}
	return j, nil
}

// Message is one line of the report channel, JSON: progress lines, then one
// report or one error, then the appliance powers off.
type Message struct {
	Log    string  `json:"log,omitempty"`
	Report *Report `json:"report,omitempty"`
	Error  *Failed `json:"error,omitempty"`
}

// Failed is a job's error as it crosses the channel.
type Failed struct {
	Kind    string `json:"kind,omitempty"` // a key of refusals, or "" for any other error
	Message string `json:"message"`
}

// FailedOf is the channel form of err.
func FailedOf(err error) *Failed {
	f := &Failed{Message: err.Error()}
	for kind, sentinel := range refusals {
		if errors.Is(err, sentinel) {
			f.Kind = kind
		}
	}
	return f
}

// Err is the error f stands for: its message, wrapping the sentinel of its kind.
func (f *Failed) Err() error {
	if sentinel := refusals[f.Kind]; sentinel != nil {
		return &refusal{sentinel: sentinel, msg: f.Message}
	}
	return fmt.Errorf("%w: %s", ErrAppliance, f.Message)
}

type refusal struct {
	sentinel error
	msg      string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.sentinel }

// Limits on what the host reads from the appliance, which a hostile file
// system may have taken over.
const (
	MaxMessage  = 4 << 20 // one line: a report lists at most a few thousand changes
	MaxMessages = 100000  // lines in one job
	maxText     = 4096    // a log line or error message as shown
)

// ReadMessages reads the report channel until the report or the error: it
// passes progress lines to log (cleaned of control characters) and returns the
// report, the job's error, or an error saying how the channel broke its rules.
func ReadMessages(r io.Reader, log io.Writer) (*Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 0; n < MaxMessages; n++ {
		line, err := readLine(br, MaxMessage)
		if err != nil {
			return nil, fmt.Errorf("%w: the report channel: %v", ErrAppliance, err)
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("%w: a malformed message on the report channel: %v", ErrAppliance, err)
		}
		switch {
		case m.Error != nil:
			m.Error.Message = Clean(m.Error.Message)
			return nil, m.Error.Err()
		case m.Report != nil:
			m.Report.clean()
			return m.Report, nil
		case log != nil:
			fmt.Fprintln(log, Clean(m.Log))
		}
	}
	return nil, fmt.Errorf("%w: more than %d messages on the report channel", ErrAppliance, MaxMessages)
}

// readLine reads one '\n'-terminated line of at most limit bytes.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, fmt.Errorf("a message longer than %d bytes", limit)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, errors.New("closed before the report (did the appliance crash? see its console)")
		default:
			return nil, err
		}
	}
}

// Clean makes text from the appliance safe to show: valid UTF-8, no control
// characters (no terminal escapes), at most maxText bytes.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// clean makes the report's text, which comes from the guest's file system,
// safe to show.
func (r *Report) clean() {
	for _, s := range []*string{&r.Scheme, &r.Filesystem, &r.Label, &r.User, &r.Repaired, &r.Partition.Type, &r.Partition.Name} {
		*s = Clean(*s)
	}
	for i := range r.Notes {
		r.Notes[i] = Clean(r.Notes[i])
	}
	for i := range r.Changes {
		c := &r.Changes[i]
		c.Op, c.Path, c.What = agent.ChangeOp(Clean(string(c.Op))), Clean(c.Path), Clean(c.What)
	}
}
