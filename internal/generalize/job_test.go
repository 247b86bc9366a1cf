package generalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/agent"
)

func TestJobKernelArgs(t *testing.T) {
	for _, j := range []Job{{}, {RemoveUser: true}, {DryRun: true}, {RemoveUser: true, DryRun: true}} {
		got, err := ParseJob("console=ttyS0 quiet " + strings.Join(j.KernelArgs(), " "))
		if err != nil || got != j {
			t.Errorf("%+v: parsed back as %+v, %v", j, got, err)
		}
	}
	if _, err := ParseJob("console=ttyS0 hangar.dry_run=1"); err == nil {
		t.Error("a command line without the job was accepted")
	}
}

func line(t *testing.T, m Message) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestReadMessages: what the appliance sends is read as untrusted input.
func TestReadMessages(t *testing.T) {
	report := &Report{Filesystem: "ext4", Changes: []agent.Change{{Op: agent.OpRemove, Path: "/tmp/\x1b[2Jx", What: "temporary file"}}}
	tests := []struct {
		name    string
		input   string
		log     string
		err     error
		errText string
	}{
		{"a report after progress", line(t, Message{Log: "checking\x1b]0;title\x07"}) + line(t, Message{Report: report}), "checking?]0;title?\n", nil, ""},
		{"a refusal keeps its sentinel", line(t, Message{Error: FailedOf(ErrWindows)}), "", ErrWindows, "Sysprep"},
		{"another error", line(t, Message{Error: &Failed{Message: "boom"}}), "", ErrAppliance, "boom"},
		{"an unknown kind is no refusal", line(t, Message{Error: &Failed{Kind: "windows-ish", Message: "x"}}), "", ErrAppliance, "x"},
		{"closed early", line(t, Message{Log: "a"}), "a\n", ErrAppliance, "closed before the report"},
		{"garbage", "{not json\n", "", ErrAppliance, "malformed"},
		{"an over-long line", `{"log":"` + strings.Repeat("a", MaxMessage) + "\"}\n", "", ErrAppliance, "longer than"},
		{"a flood", strings.Repeat("{}\n", MaxMessages+1), strings.Repeat("\n", MaxMessages), ErrAppliance, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			rep, err := ReadMessages(strings.NewReader(tt.input), &log)
			if tt.err == nil {
				if err != nil || rep == nil {
					t.Fatalf("%v", err)
				}
				if strings.ContainsAny(rep.Changes[0].Path, "\x1b") {
					t.Errorf("an escape survived: %q", rep.Changes[0].Path)
				}
			} else if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("%v, want %v ...%s...", err, tt.err, tt.errText)
			}
			if log.String() != tt.log {
				t.Errorf("log %q, want %q", log.String(), tt.log)
			}
		})
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", maxText)
	if got := Clean(long); len(got) > maxText+3 || !strings.HasSuffix(got, "...") {
		t.Errorf("long text: %d bytes", len(got))
	}
	if got := Clean("a\x00b\xffc\nd"); got != "a?b?c?d" {
		t.Errorf("%q", got)
	}
}

func FuzzReadMessages(f *testing.F) {
	f.Add([]byte(`{"log":"x"}` + "\n" + `{"report":{"changes":[{"op":"remove","path":"/a"}]}}` + "\n"))
	f.Add([]byte(`{"error":{"kind":"windows","message":"m"}}` + "\n"))
	f.Add([]byte("\n\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ReadMessages(bytes.NewReader(data), &bytes.Buffer{})
		if (rep == nil) == (err == nil) {
			t.Fatalf("report %v and error %v", rep, err)
		}
		if rep != nil {
			for _, c := range rep.Changes {
				if strings.ContainsAny(c.Path+c.What, "\x00\x1b\n") {
					t.Fatalf("uncleaned text %q", c.Path)
				}
			}
		}
	})
}
