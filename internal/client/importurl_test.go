package client

import (
	"bufio"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestReadImportEvents(t *testing.T) {
	cases := []struct {
		name, stream string
		disk, err    string
		progress     int
	}{
		{"disk", `{"progress":{"phase":"fetching","bytes":0,"total":10}}` + "\n" + `{"progress":{"phase":"storing","bytes":10,"total":10}}` + "\n" + `{"disk":{"name":"d"}}` + "\n", "d", "", 2},
		{"error", `{"progress":{"phase":"fetching","bytes":0,"total":-1}}` + "\n" + `{"error":{"code":"ChecksumMismatch","message":"no"}}` + "\n", "", "no", 1},
		{"cut short", `{"progress":{"phase":"fetching","bytes":0,"total":-1}}` + "\n", "", "ended without a result", 1},
		{"garbage", "<html>\n", "", "not JSON lines", 0},
		{"line too long", strings.Repeat("x", maxEventLine+10), "", "broke", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			dk, err := readImportEvents(bufio.NewReader(strings.NewReader(c.stream)), func(hangar.DiskImportProgress) { n++ })
			if dk.Name != c.disk || n != c.progress || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got disk %q, %d progress lines, error %v", dk.Name, n, err)
			}
		})
	}
}

func FuzzReadImportEvents(f *testing.F) {
	f.Add(`{"progress":{"phase":"fetching","bytes":1,"total":2}}` + "\n" + `{"disk":{"name":"d"}}`)
	f.Add(`{"error":{"code":"","message":"x"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		_, err := readImportEvents(bufio.NewReader(strings.NewReader(s)), func(hangar.DiskImportProgress) { n++ })
		if err == nil && n > strings.Count(s, "\n")+1 {
			t.Fatalf("%d progress events from %d lines", n, strings.Count(s, "\n")+1)
		}
	})
}
