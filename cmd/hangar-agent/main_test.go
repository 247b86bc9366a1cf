package main

import "testing"

func TestCommands(t *testing.T) {
	for args, want := range map[string]int{"version": 0, "help": 0, "bogus": 2, "deprovision": 2} {
		if got := run([]string{args}); got != want {
			t.Errorf("hangar-agent %s exited %d, want %d", args, got, want)
		}
	}
}
