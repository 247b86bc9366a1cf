// Package qgatest runs Debian's real qemu-ga on a unix socket of its own, as it
// would run in a guest on its virtio-serial port: the honest peer of the tests
// of package qga and of run-command, without a VM. The programs it starts run on
// this host, as the test's user.
package qgatest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary is where Debian's qemu-guest-agent package puts the agent.
const Binary = "/usr/sbin/qemu-ga"

// Start starts qemu-ga listening on a new unix socket, with extra arguments
// (--block-rpcs=guest-exec, say), and returns the socket's path; the agent stops
// when the test ends. The test is skipped when qemu-ga is not installed
// (scripts/deps.sh installs it).
func Start(t testing.TB, extra ...string) string {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skip("qemu-ga missing: run scripts/deps.sh (make test does) first")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "qga.sock")
	cmd := exec.Command(Binary, append([]string{"--method=unix-listen", "--path=" + path, "--pidfile=" + filepath.Join(dir, "qga.pid"), "--statedir=" + dir}, extra...)...)
	cmd.Dir = dir
	log, err := os.Create(filepath.Join(dir, "qga.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("qemu-ga said:\n%s", b)
		}
	})
	// The socket file appears at bind, a moment before the agent listens: ready is
	// when a connection is taken.
	for {
		if conn, err := net.Dial("unix", path); err == nil {
			conn.Close()
			return path
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("qemu-ga exited:\n%s", b)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
