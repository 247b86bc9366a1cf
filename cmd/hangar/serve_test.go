package main

import "testing"

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
}
