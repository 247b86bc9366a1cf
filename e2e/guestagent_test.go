package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCommand runs a script in a VM with hangar vm run-command (2 minutes at most).
func (s *server) runCommand(key, vm, script string) (runResult, string, error) {
	s.t.Helper()
	var res runResult
	stdout, stderr, err := s.hangar(key, "vm", "run-command", vm, "--script", script, "--timeout", "2m", "-o", "json")
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil && err == nil {
		s.t.Fatalf("run-command: bad JSON %v: %s", jerr, stdout)
	}
	return res, stderr, err
}

// runResult is run-command's answer, as -o json prints it.
type runResult struct {
	ExitCode        int    `json:"exitCode"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	StdoutTruncated bool   `json:"stdoutTruncated"`
	StderrTruncated bool   `json:"stderrTruncated"`
}

// TestRunCommandThroughQEMUGuestAgent boots the stock NoCloud guest
// (images/stockguest: Debian's cloud-init and qemu-guest-agent, no hangar-agent)
// and runs scripts in it: they go through qemu-guest-agent's guest-exec, with
// run-command's rules (output, exit code, the last 1 MiB of a longer output).
// HANGAR_STOCKGUEST names the directory holding the built nocloud.raw.
func TestRunCommandThroughQEMUGuestAgent(t *testing.T) {
	dir := stockGuestDir(t)
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", filepath.Join(dir, "nocloud.raw"), "--name", "stock")
	osImage(s, alice, "nocloud", "stock")
	s.ok(alice, "vm", "create", "--name", "q", "--image", "nocloud", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t), "--no-wait")

	run := func(script string) (runResult, string, error) { return s.runCommand(alice, "q", script) }
	// qemu-guest-agent starts late in boot (after cloud-init's first stage):
	// until it holds its port open, run-command says no agent listens.
	var res runResult
	var lastErr string
	eventually(t, 6*time.Minute, "run-command answering through qemu-guest-agent", func() bool {
		var err error
		res, lastErr, err = run("hostname; id -u; exit 3")
		return err != nil && res.ExitCode == 3
	})
	if res.Stdout != "q\n0\n" || res.StdoutTruncated {
		t.Fatalf("run-command: %+v (%s)", res, lastErr)
	}
	if log := s.log.String(); !strings.Contains(log, `"agent":"qemu-guest-agent"`) {
		t.Fatalf("the run did not go through qemu-guest-agent; the server logged:\n%s", log)
	}

	// Outputs past the limit keep their last 1 MiB, marked.
	res, stderr, err := run("head -c 1500000 /dev/zero | tr '\\000' x; printf END; head -c 1100000 /dev/zero | tr '\\000' y >&2; printf ERR >&2")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run-command: %v %s", err, stderr)
	}
	if !res.StdoutTruncated || len(res.Stdout) != 1<<20 || !strings.HasSuffix(res.Stdout, "xxxEND") ||
		!res.StderrTruncated || len(res.Stderr) != 1<<20 || !strings.HasSuffix(res.Stderr, "yyyERR") {
		t.Fatalf("long outputs: stdout %d bytes (truncated %v), stderr %d bytes (truncated %v)",
			len(res.Stdout), res.StdoutTruncated, len(res.Stderr), res.StderrTruncated)
	}
	s.ok(alice, "vm", "delete", "q", "--yes")
}
