package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// pipeWith is a pipe's read end holding input: a file, as a terminal is, with
// input typed in advance.
func pipeWith(t *testing.T, input string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, input)
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

// Commands that destroy ask on a terminal, refuse without --yes when stdin is not
// one, and do it with --yes (-y) without asking.
func TestDestructiveCommandsConfirm(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		prompt string
		call   string
	}{
		{[]string{"vm", "delete", "web1"}, "Delete VM web1? [y/N] ", "DELETE /v1/vms/web1"},
		{[]string{"image", "delete", "web"}, "Delete image web with all its versions? [y/N] ", "DELETE /v1/images/web"},
		{[]string{"disk", "delete", "web-os"}, "Delete disk web-os? [y/N] ", "DELETE /v1/disks/web-os"},
		{[]string{"tenant", "key", "revoke", "alice", "k1"}, "Revoke key k1 of tenant alice? [y/N] ", "DELETE /v1/tenants/alice/keys/k1"},
		{[]string{"marketplace", "withdraw", "Contoso:Web:2024:1.0.0"}, "Withdraw Contoso:Web:2024:1.0.0 from the marketplace", "DELETE /v1/marketplace/images/Contoso:Web:2024:1.0.0"},
		{[]string{"image", "unpublish-community", "web"}, "Withdraw image web from the community repository", "DELETE /v1/images/web/community"},
		{[]string{"vm", "generalize", "web1"}, "Generalize VM web1, which can never start again afterwards? [y/N] ", "POST /v1/vms/web1/"},
	} {
		calls := func(g *globals, stdin io.Reader, extra ...string) (cli, []request) {
			srv := newFakeServer(t, 200, "null")
			r := runCLI(t, g, stdin, srv.URL, append(tt.args, extra...)...)
			return r, srv.sent()
		}
		// Not a terminal: a reader, and a pipe that really is not one.
		for _, stdin := range []io.Reader{strings.NewReader("y\n"), pipeWith(t, "y\n")} {
			if r, sent := calls(newGlobals(), stdin); r.code != exitUsage || !strings.Contains(r.stderr, "add --yes (-y)") || len(sent) > 0 {
				t.Errorf("%v without a terminal: exit %d, %q, %d calls; want it refused, naming --yes", tt.args, r.code, r.stderr, len(sent))
			}
		}
		for _, yes := range []string{"--yes", "-y"} {
			if r, sent := calls(newGlobals(), nil, yes); r.code != 0 || r.stderr != "" || len(sent) != 1 || !strings.HasPrefix(sent[0].method+" "+sent[0].path, tt.call) {
				t.Errorf("%v %s: exit %d, %q, calls %v; want %s without a question", tt.args, yes, r.code, r.stderr, sent, tt.call)
			}
		}
		for _, answer := range []struct {
			typed string
			do    bool
		}{{"y\n", true}, {"YES\n", true}, {"n\n", false}, {"\n", false}, {"", false}} {
			r, sent := calls(fakeTerminal(), pipeWith(t, answer.typed))
			if !strings.HasPrefix(r.stderr, tt.prompt) || (len(sent) == 1) != answer.do || (r.code == 0) != answer.do {
				t.Errorf("%v, answering %q: exit %d, stderr %q, %d calls; want the question %q and done %v", tt.args, answer.typed, r.code, r.stderr, len(sent), tt.prompt, answer.do)
			}
		}
	}
}

// Every command that deletes, revokes or withdraws takes --yes and -y: a new one
// cannot forget to ask.
func TestDestructiveCommandsHaveYes(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch c.Name() {
		case "delete", "revoke", "withdraw", "unpublish-community":
			if f := c.Flags().Lookup("yes"); f == nil || f.Shorthand != "y" {
				t.Errorf("%s has no --yes, -y", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(newGlobals()))
}
