package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	// Flag errors stop deprovision before it looks at any file.
	for args, want := range map[string]int{"version": 0, "help": 0, "bogus": 2, "deprovision --bogus": 2, "deprovision+user extra": 2} {
		if got := run(strings.Fields(args)); got != want {
			t.Errorf("hangar-agent %s exited %d, want %d", args, got, want)
		}
	}
}

// TestDeprovisionCommand runs the sub-command on a temp root: at a terminal it
// asks before changing anything (unless --force); a script is not asked.
func TestDeprovisionCommand(t *testing.T) {
	defer func(r string) { rootDir = r }(rootDir)
	tests := []struct {
		name        string
		cmd         string
		args        []string
		interactive bool
		answer      string
		code        int
		changed     bool
		out         string
	}{
		{name: "a script (no terminal) goes ahead", cmd: "deprovision", code: 0, changed: true, out: "removed /etc/ssh/ssh_host_ed25519_key (SSH host key)"},
		{name: "dry run", cmd: "deprovision", args: []string{"--dry-run"}, code: 0, out: "would remove /etc/ssh/ssh_host_ed25519_key (SSH host key)"},
		{name: "declined", cmd: "deprovision", interactive: true, answer: "n\n", code: 1, out: "Generalize it? [y/N]"},
		{name: "accepted", cmd: "deprovision", interactive: true, answer: "y\n", code: 0, changed: true, out: "removed /etc/ssh/ssh_host_ed25519_key"},
		{name: "forced", cmd: "deprovision+user", args: []string{"--force"}, code: 0, changed: true, out: "this machine is generalized"},
		{name: "help", cmd: "deprovision+user", args: []string{"--help"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootDir = t.TempDir()
			key := filepath.Join(rootDir, "etc/ssh/ssh_host_ed25519_key")
			os.MkdirAll(filepath.Dir(key), 0o755)
			os.WriteFile(key, []byte("key"), 0o600)
			var out, errw bytes.Buffer
			code := deprovision(tt.cmd, tt.args, strings.NewReader(tt.answer), tt.interactive, &out, &errw)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errw.String())
			}
			if _, err := os.Stat(key); (err != nil) != tt.changed {
				t.Errorf("host key removed: %v, want %v", err != nil, tt.changed)
			}
			if !strings.Contains(out.String()+errw.String(), tt.out) {
				t.Errorf("output lacks %q:\n%s%s", tt.out, out.String(), errw.String())
			}
		})
	}
}
