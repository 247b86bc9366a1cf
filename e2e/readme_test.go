package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeTour is a stranger following the README: it clones the repository,
// runs the README's first command (make serve) there, waits for /healthz, runs every
// command of the README's tour that needs no VM exactly as written, in order, and
// stops the server. It tests what is committed (a clone of HEAD), on a machine that
// already has the packages, as CI is.
func TestReadmeTour(t *testing.T) {
	if os.Getenv("HANGAR_E2E_SKIP_VMS") != "" {
		t.Skip("HANGAR_E2E_SKIP_VMS: the README tour ran on the other pass (it runs on the embedded default)")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("the tour clones the repository: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "hangar")
	if out, err := exec.Command("git", "clone", "--quiet", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := tourScript(t, string(readme))

	addr := freeAddr(t)
	serveLog := &lockedBuffer{}
	serve := exec.Command("make", "serve", "SERVE_FLAGS=--listen "+addr)
	serve.Dir, serve.Stdout, serve.Stderr = clone, serveLog, serveLog
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // make and the server it starts
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-serve.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-serve.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// make serve builds Hangar and the appliance first: minutes on a cold clone.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for healthy := false; !healthy; {
		select {
		case err := <-exited:
			t.Fatalf("make serve ended (%v) before /healthz answered; its output:\n%s", err, serveLog.String())
		case <-ctx.Done():
			t.Fatalf("/healthz did not answer 200; make serve's output:\n%s", serveLog.String())
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			healthy = resp.StatusCode == http.StatusOK
		}
	}

	// The tour talks to the README's address; this server listens where the test
	// found a free port.
	script = strings.ReplaceAll(script, "127.0.0.1:7070", addr)
	tour := exec.Command("bash", "-c", "set -euo pipefail -x\n"+script)
	tour.Dir = clone
	// hangar login saves its file under XDG_CONFIG_HOME: not the user's own.
	tour.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HANGAR_KEY=", "HANGAR_SERVER=")
	out, err := tour.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's tour failed (%v); the last command shown after + failed:\n%s\nserver output:\n%s", err, tail(string(out), 60), tail(serveLog.String(), 40))
	}

	checkAfterTour(t, clone, addr)
}

// tourScript returns the shell blocks of the README from "A tour of the CLI" up to
// "Virtual machines" (which needs a guest image), joined in order. Placeholders a
// user would have to replace are refused: every command must run as written.
func tourScript(t *testing.T, readme string) string {
	t.Helper()
	start := strings.Index(readme, "## A tour of the CLI")
	end := strings.Index(readme, "### Virtual machines")
	if start < 0 || end < start {
		t.Fatal(`the README has no "## A tour of the CLI" followed by "### Virtual machines": update this test with it`)
	}
	var blocks []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(readme[start:end]))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in:
			if strings.ContainsAny(strings.SplitN(line, " #", 2)[0], "<>[]") {
				t.Errorf("README tour line %q has a placeholder a user must fill in: write it so it runs as written", line)
			}
			blocks = append(blocks, line)
		}
	}
	if len(blocks) < 20 {
		t.Fatalf("found only %d tour lines in the README", len(blocks))
	}
	return strings.Join(blocks, "\n")
}

// checkAfterTour looks, as the user would, at what the tour left behind.
func checkAfterTour(t *testing.T, clone, addr string) {
	t.Helper()
	admin, err := os.ReadFile(filepath.Join(clone, "hangar-data", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, args...)
		c.Dir = clone
		c.Env = append(os.Environ(), "HANGAR_SERVER=http://"+addr, "HANGAR_KEY="+strings.TrimSpace(string(admin)), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, want := range []string{"contoso", "alice", "bob"} {
		if out := run("bin/hangar", "tenant", "list"); !strings.Contains(out, want) {
			t.Errorf("tenant list after the tour lacks %s:\n%s", want, out)
		}
	}
	if out := run("bin/hangar", "tenant", "key", "list", "alice", "--query", "[].name", "-o", "tsv"); strings.Contains(out, "ci") {
		t.Errorf("the key the tour revoked is still listed:\n%s", out)
	}
	if out := run("bin/hangar", "vm", "image", "list", "--all"); !strings.Contains(out, "Contoso:WebServer:2024:1.0.0") {
		t.Errorf("the image contoso published is not in the marketplace:\n%s", out)
	}
	// A fixed VHD is a raw image with a footer: qemu-img reads it as VHD when told to.
	if out := run("qemu-img", "compare", "-q", "-f", "vpc", "-F", "vpc", "debian.vhd", "debian-fixed.vhd"); out != "" {
		t.Errorf("the downloaded fixed VHD differs from the uploaded one:\n%s", out)
	}
	if out := run("qemu-img", "info", "-f", "vpc", "--output", "json", "db-os.vhd"); !strings.Contains(out, `"virtual-size": 134217728`) {
		t.Errorf("the converted disk is not 128 MiB to qemu-img:\n%s", out)
	}
	if out := run("qemu-img", "compare", "-q", "db-os.qcow2", "db-os-copy.qcow2"); out != "" {
		t.Errorf("the downloaded qcow2 differs from the uploaded one:\n%s", out)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("[... %d lines]", len(l)-lines)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
