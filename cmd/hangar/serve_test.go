package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStableHostName(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		machine string
		given   bool
		want    string
	}{
		{"box-1", false, "box-1"},        // first start: the machine's name, remembered
		{"box-2", false, "box-1"},        // the machine was renamed: the data dir keeps its name
		{"compute-7", true, "compute-7"}, // --host-name wins, and is remembered
		{"box-3", false, "compute-7"},
	}
	for i, s := range steps {
		got, err := stableHostName(dir, s.machine, s.given)
		if err != nil || got != s.want {
			t.Fatalf("step %d: stableHostName(%q, given %v) = %q, %v; want %q", i, s.machine, s.given, got, err, s.want)
		}
	}
	// The file is replaced by rename, never rewritten in place: no temp file stays,
	// and the data dir holds the whole name.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "host.name" {
		t.Errorf("data dir holds %v, want only host.name", entries)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "host.name")); string(data) != "compute-7\n" {
		t.Errorf("host.name holds %q", data)
	}
}

// An empty node.id (what a crash during a non-atomic write could leave) is not an
// identity: a new one is made and written whole.
func TestNodeIDSurvivesAnEmptyFile(t *testing.T) {
	dir := t.TempDir()
	first, err := readNodeID(dir)
	if err != nil || len(first) != 32 {
		t.Fatalf("readNodeID = %q, %v", first, err)
	}
	if again, _ := readNodeID(dir); again != first {
		t.Fatalf("node id changed across starts: %q then %q", first, again)
	}
	os.WriteFile(filepath.Join(dir, "node.id"), nil, 0o600)
	fresh, err := readNodeID(dir)
	if err != nil || len(fresh) != 32 {
		t.Fatalf("after an empty file: %q, %v", fresh, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "node.id")); string(data) != fresh+"\n" {
		t.Errorf("node.id holds %q, want %q", data, fresh)
	}
}

// --egress-deny: the private ranges by default, a list replaces them, "" empties it,
// and a bad CIDR stops serve with a message naming the flag.
func TestEgressDenyFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int // prefixes
		err  bool
	}{
		{nil, 6, false},
		{[]string{"--egress-deny", "10.0.0.0/8,192.0.2.7"}, 2, false},
		{[]string{"--egress-deny", ""}, 0, false},
		{[]string{"--egress-deny", "10.0.0.0/40"}, 0, true},
	} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		o := &serveOptions{role: "api", heartbeat: 2e9, hostDownAfter: 30e9}
		o.egressDeny, _ = cmd.Flags().GetStringSlice("egress-deny")
		c, err := computeConfig(o, nil, "n1", "127.0.0.1:1")
		if (err != nil) != tt.err || len(c.EgressDeny) != tt.want {
			t.Errorf("%v: %d prefixes, %v", tt.args, len(c.EgressDeny), err)
		}
	}
}
