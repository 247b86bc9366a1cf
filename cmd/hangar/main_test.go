package main

import (
	"io"
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
	root := newRoot(newGlobals())
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
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "xml"}, `unknown output format "xml"`},
		{[]string{"--query", "[?name=="}, "is not a JMESPath expression"},
	} {
		root := newRoot(newGlobals())
		// Port 1 refuses: an error that is not the one expected means a call was made.
		root.SetArgs(append([]string{"tenant", "create", "t1", "--server", "http://127.0.0.1:1", "--key", "k"}, tt.args...))
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q before any call", tt.args, err, tt.want)
		}
	}
}

// TestQueryAndTSV: --query and -o tsv print what az prints for the same document.
func TestQueryAndTSV(t *testing.T) {
	doc := []map[string]any{
		{"name": "web", "version": "1.0.0", "sizeBytes": 4194304, "tags": map[string]string{"a": "b"}, "ready": true},
		{"name": "db", "version": "2.1.0", "sizeBytes": 0.5, "tags": nil, "ready": false},
	}
	for _, tt := range []struct {
		output, query, want string
	}{
		{"tsv", "", "web\ttrue\t4194304\t1.0.0\ndb\tfalse\t0.5\t\t2.1.0\n"}, // keys in order; nested values left out, null empty
		{"tsv", "[0].name", "web\n"},
		{"table", "[].name", "web\ndb\n"},
		{"json", "[].name", "[\n  \"web\",\n  \"db\"\n]\n"},
		{"tsv", "[?ready].[name, version]", "web\n1.0.0\n"},
		{"tsv", "[?name=='none'] | [0]", ""},
		{"tsv", "length(@)", "2\n"},
	} {
		g := &globals{output: tt.output, query: tt.query}
		if err := g.checkOutput(); err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		cmd := &cobra.Command{}
		cmd.SetOut(&buf)
		if err := g.print(cmd, doc, func(io.Writer) { t.Fatal("a table was printed") }); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("-o %s --query %q: %q, want %q", tt.output, tt.query, buf.String(), tt.want)
		}
	}
}
