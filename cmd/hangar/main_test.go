package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpValueNames: every flag of every command shows a value name that is a
// type or a placeholder, not words cobra took from back quotes in its usage
// ("--key hangar login").
func TestHelpValueNames(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.Contains(name, " ") {
				t.Errorf("%s --%s shows %q as its value", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot()
	walk(root)
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if name, _ := pflag.UnquoteUsage(f); strings.Contains(name, " ") {
			t.Errorf("--%s shows %q as its value", f.Name, name)
		}
	})
}

// TestBadOutputRefusedFirst: a bad -o is refused before the command calls the
// server (tenant create prints a key shown only once: it must not be lost).
func TestBadOutputRefusedFirst(t *testing.T) {
	root := newRoot()
	root.SetArgs([]string{"tenant", "create", "t1", "-o", "tsv", "--server", "http://127.0.0.1:1", "--key", "k"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `unknown output format "tsv"`) {
		t.Fatalf("%v", err)
	}
}
