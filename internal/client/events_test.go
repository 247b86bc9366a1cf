package client

import (
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestReadEventStream(t *testing.T) {
	stream := "retry: 2000\n\n: keep-alive\n\nid: 1\nevent: Hangar.Disk.Created\ndata: {\"id\":\"1\",\"type\":\"Hangar.Disk.Created\"}\n\n" +
		"id: 2\ndata: {\"id\":\"2\",\n" + "data: \"type\":\"Hangar.VM.Deleted\"}\n\n"
	var got []string
	err := readEventStream(strings.NewReader(stream), func(e hangar.Event) error { got = append(got, e.ID+" "+e.Type); return nil })
	if err != nil || strings.Join(got, ",") != "1 Hangar.Disk.Created,2 Hangar.VM.Deleted" {
		t.Fatalf("%q, %v", got, err)
	}
	if err := readEventStream(strings.NewReader("data: {nope\n\n"), func(hangar.Event) error { return nil }); err == nil {
		t.Fatal("an event that is not JSON was taken")
	}
}

// FuzzReadEventStream: whatever a server sends, the reader ends with events or
// an error, never more events than blank-line-ended blocks.
func FuzzReadEventStream(f *testing.F) {
	f.Add("id: 1\ndata: {\"id\":\"1\"}\n\n")
	f.Add(": keep-alive\n\nretry: 5\n\ndata: {}\ndata: \n\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		readEventStream(strings.NewReader(s), func(hangar.Event) error { n++; return nil })
		if n > strings.Count(s, "\n") {
			t.Fatalf("%d events from %d lines", n, strings.Count(s, "\n"))
		}
	})
}
