package compute

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/qga"
	"github.com/hangarvm/hangar/internal/qga/qgatest"
	"github.com/hangarvm/hangar/internal/qmp"
)

// realGuestAgent connects to Debian's qemu-ga running on this host (the real
// peer, without a VM): run-command's scripts run here, as this test's user.
func realGuestAgent(t *testing.T) *qga.Client {
	t.Helper()
	path := qgatest.Start(t)
	g := &guestAgent{}
	exited := make(chan struct{})
	t.Cleanup(func() { close(exited) })
	c, err := g.get(path, exited)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGuestExecRules runs scripts through the real qemu-ga with run-command's
// rules: exit code, both outputs, hangar-agent's environment and directory, no
// standard input, binary output exact, each output cut to its last MaxRunOutput
// bytes and marked, and scripts longer than one argument may be.
func TestGuestExecRules(t *testing.T) {
	c := realGuestAgent(t)
	host, _ := os.Hostname()
	big := strings.Repeat("# a comment line to make the script longer than one argument may be\n", 3000) + "echo big\n"
	if len(big) < 160<<10 || len(big) > maxScript {
		t.Fatalf("script of %d bytes", len(big))
	}
	long := hangar.MaxRunOutput + 5
	tests := []struct {
		name, script       string
		exit               int
		stdout, stderr     string
		stdoutTrunc        bool
		stderrTrunc        bool
		stdoutRaw          []byte
		stdoutLen, errLen  int
		stdoutEnd, errEnds string
	}{
		{name: "exit code and outputs", script: "hostname; id -u; echo oops >&2; exit 3", exit: 3,
			stdout: host + "\n" + strconv.Itoa(os.Getuid()) + "\n", stderr: "oops\n"},
		{name: "environment, directory, no input", script: `pwd; echo "$HOME $LANG $PATH"; cat; echo end`,
			stdout: "/\n/root C.UTF-8 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nend\n"},
		{name: "binary output", script: `printf '\000\377abc'`, stdout: "\x00\uFFFDabc", stdoutRaw: []byte("\x00\xffabc")},
		{name: "outputs past the limit keep their end", script: "head -c " + strconv.Itoa(3*hangar.MaxRunOutput) + " /dev/zero | tr '\\000' a; printf END; " +
			"head -c " + strconv.Itoa(long) + " /dev/zero | tr '\\000' b >&2; exit 4",
			exit: 4, stdoutTrunc: true, stderrTrunc: true, stdoutLen: hangar.MaxRunOutput, errLen: hangar.MaxRunOutput, stdoutEnd: "aaaEND", errEnds: "bbb"},
		{name: "an output of exactly the limit is whole", script: "head -c " + strconv.Itoa(hangar.MaxRunOutput) + " /dev/zero | tr '\\000' c",
			stdoutLen: hangar.MaxRunOutput, stdoutEnd: "ccc"},
		{name: "a script longer than an argument", script: big, stdout: "big\n"},
		{name: "killed by a signal", script: "echo before; kill -9 $$", exit: 137, stdout: "before\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := guestExec(ctx, c, tt.script)
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tt.exit || r.StdoutTruncated != tt.stdoutTrunc || r.StderrTruncated != tt.stderrTrunc {
				t.Fatalf("exit %d (want %d), truncated %v %v; stderr %.200q", r.ExitCode, tt.exit, r.StdoutTruncated, r.StderrTruncated, r.Stderr)
			}
			if tt.stdoutLen == 0 && r.Stdout != tt.stdout {
				t.Errorf("stdout %.300q, want %q", r.Stdout, tt.stdout)
			}
			if tt.errLen == 0 && !strings.Contains(r.Stderr, tt.stderr) {
				t.Errorf("stderr %.300q, want %q", r.Stderr, tt.stderr)
			}
			if !bytes.Equal(r.StdoutBase64, tt.stdoutRaw) {
				t.Errorf("stdout bytes %q, want %q", r.StdoutBase64, tt.stdoutRaw)
			}
			if tt.stdoutLen != 0 && (len(r.Stdout) != tt.stdoutLen || !strings.HasSuffix(r.Stdout, tt.stdoutEnd)) {
				t.Errorf("stdout of %d bytes ending %q", len(r.Stdout), r.Stdout[max(0, len(r.Stdout)-10):])
			}
			if tt.errLen != 0 && (len(r.Stderr) != tt.errLen || !strings.HasSuffix(r.Stderr, tt.errEnds)) {
				t.Errorf("stderr of %d bytes ending %q", len(r.Stderr), r.Stderr[max(0, len(r.Stderr)-10):])
			}
		})
	}
}

// TestGuestExecTimeout: a script that outlives its time ends the run with
// errRunTimeout; the agent's connection then serves the next run.
func TestGuestExecTimeout(t *testing.T) {
	c := realGuestAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := guestExec(ctx, c, "sleep 3"); !errors.Is(err, errRunTimeout) {
		t.Fatalf("got %v", err)
	}
	r, err := guestExec(context.Background(), c, "echo after")
	if err != nil || r.Stdout != "after\n" {
		t.Fatalf("the next run: %+v, %v", r, err)
	}
}

// TestChooseAgent: hangar-agent when its port is open, whatever else; else
// qemu-guest-agent when its port is; else none.
func TestChooseAgent(t *testing.T) {
	for _, tt := range []struct {
		hangar, qga bool
		want        string
	}{{true, true, agentHangar}, {true, false, agentHangar}, {false, true, agentQGA}, {false, false, ""}} {
		if got := chooseAgent(tt.hangar, tt.qga); got != tt.want {
			t.Errorf("hangar-agent open %v, qemu-guest-agent open %v: %q, want %q", tt.hangar, tt.qga, got, tt.want)
		}
	}
}

// TestAgentPortsOnRealQEMU runs a real QEMU (paused: no guest) with a VM's
// command line: both agent ports exist and are closed, so no agent is chosen;
// a run through the closed qemu-guest-agent port ends at its deadline, saying
// the agent does not answer.
func TestAgentPortsOnRealQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (scripts/deps.sh)")
	}
	m := &Manager{cfg: Config{Dir: t.TempDir()}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	id := "0123456789abcdef"
	dir := m.vmDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := MachineConfig{Name: id, Dir: dir, QMPSocket: m.socketPath(id, qmpSocket), AgentSocket: m.socketPath(id, agentSocket),
		GuestAgentSocket: m.socketPath(id, qgaSocket), VCPUs: 1, MemoryMiB: 64, Accel: "tcg"}
	cmd := exec.Command(qemu, Args(c)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mon, err := qmp.Dial(ctx, c.QMPSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mc := &machine{id: id, pid: cmd.Process.Pid, qmp: mon, exited: exited}

	devs, err := mon.QueryChardev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range devs {
		if d.Label == agentChardev || d.Label == qgaChardev {
			seen[d.Label] = true
			if d.FrontendOpen {
				t.Errorf("port %s open without a guest", d.Label)
			}
		}
	}
	if !seen[agentChardev] || !seen[qgaChardev] || filepath.Dir(c.GuestAgentSocket) != filepath.Dir(c.AgentSocket) {
		t.Fatalf("chardevs %+v", devs)
	}
	if which, err := m.waitAgent(ctx, mc, 0); which != "" || err != nil {
		t.Fatalf("chose %q, %v", which, err)
	}
	_, err = m.runGuestAgent(ctx, mc, "vm", "echo hi", time.Now().Add(300*time.Millisecond), 300*time.Millisecond)
	if hangar.ErrorCode(err) != hangar.CodeConflict || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("a run through a closed port: %v", err)
	}
}

// TestGuestExecConcurrent: runs in one guest at the same time share its agent's
// connection, and each gets its own result.
func TestGuestExecConcurrent(t *testing.T) {
	c := realGuestAgent(t)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			want := "run " + strconv.Itoa(i) + "\n"
			r, err := guestExec(context.Background(), c, "sleep 0.2; echo run "+strconv.Itoa(i)+"; exit "+strconv.Itoa(i))
			if err == nil && (r.Stdout != want || r.ExitCode != i) {
				err = errors.New("run " + strconv.Itoa(i) + " got " + strconv.Quote(r.Stdout) + " exit " + strconv.Itoa(r.ExitCode))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRunGuestAgent runs scripts the way RunCommand does once it chose
// qemu-guest-agent, against the real qemu-ga at the VM's socket path: a result;
// an agent that refuses guest-exec gets an error saying what to allow; a VM
// that stops meanwhile is said to have stopped.
func TestRunGuestAgent(t *testing.T) {
	setup := func(t *testing.T, extra ...string) (*Manager, *machine) {
		path := qgatest.Start(t, extra...)
		m := &Manager{cfg: Config{Dir: t.TempDir()}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		id := "0123456789abcdef"
		if err := os.MkdirAll(m.socketDir(id), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path, m.socketPath(id, qgaSocket)); err != nil {
			t.Fatal(err)
		}
		mc := &machine{id: id, exited: make(chan struct{})}
		return m, mc
	}
	deadline := func() time.Time { return time.Now().Add(time.Minute) }
	t.Run("a result", func(t *testing.T) {
		m, mc := setup(t)
		r, err := m.runGuestAgent(context.Background(), mc, "vm", "echo hello; exit 2", deadline(), time.Minute)
		if err != nil || r.Stdout != "hello\n" || r.ExitCode != 2 {
			t.Fatalf("%+v, %v", r, err)
		}
		close(mc.exited)
	})
	t.Run("guest-exec refused", func(t *testing.T) {
		m, mc := setup(t, "--block-rpcs=guest-exec")
		_, err := m.runGuestAgent(context.Background(), mc, "vm", "true", deadline(), time.Minute)
		if hangar.ErrorCode(err) != hangar.CodeConflict || !strings.Contains(err.Error(), "refused to run the script") || !strings.Contains(err.Error(), "allow guest-exec") {
			t.Fatalf("got %v", err)
		}
		close(mc.exited)
	})
	t.Run("the VM stops", func(t *testing.T) {
		m, mc := setup(t)
		go func() { time.Sleep(200 * time.Millisecond); close(mc.exited) }()
		_, err := m.runGuestAgent(context.Background(), mc, "vm", "sleep 3", deadline(), time.Minute)
		if hangar.ErrorCode(err) != hangar.CodeConflict || !strings.Contains(err.Error(), "stopped while the script ran") {
			t.Fatalf("got %v", err)
		}
	})
}
