package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user runs (a leaf of the tree) shows in its --help examples that
// run it.
func TestEveryLeafHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.HasSubCommands() {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s has no Example", c.CommandPath())
			} else if !strings.Contains(c.Example, c.CommandPath()) {
				t.Errorf("%s: its examples do not run it:\n%s", c.CommandPath(), c.Example)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(newGlobals()))
}
