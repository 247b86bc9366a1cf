package compute

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/qmp"
)

// TestRotateSerial runs a real QEMU (paused: no guest needed) whose serial port
// writes to the VM's serial log, and rotates that log: the old file keeps its end,
// QEMU holds the new file open (so the guest's next bytes land there), and the API
// view reads across both.
func TestRotateSerial(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (scripts/deps.sh)")
	}
	m := &Manager{cfg: Config{Dir: t.TempDir(), SerialLogMax: 64}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	id := "0123456789abcdef"
	if err := os.MkdirAll(m.vmDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	cur, prev := m.serialPaths(id)
	sock := filepath.Join(m.vmDir(id), qmpSocket)
	cmd := exec.Command(qemu, "-machine", "pc,accel=tcg", "-nodefaults", "-no-user-config", "-display", "none", "-S",
		"-chardev", "socket,id=qmp,path="+sock+",server=on,wait=off", "-mon", "chardev=qmp,mode=control",
		"-chardev", "file,id="+serialChardev+",path="+cur+",append=on", "-serial", "chardev:"+serialChardev)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mon, err := qmp.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mc := &machine{id: id, pid: cmd.Process.Pid, qmp: mon}

	// What the guest wrote so far, past the bound (QEMU appends, so this is as if
	// QEMU had written it).
	old := []byte(strings.Repeat("early boot line\n", 4) + strings.Repeat("later line\n", 10))
	if err := os.WriteFile(cur, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.rotateSerialOnce(id, mc); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(prev); !bytes.Equal(got, old[len(old)-64:]) {
		t.Fatalf("the previous log holds %q, want the last 64 bytes %q", got, old[len(old)-64:])
	}
	if got, err := os.ReadFile(cur); err != nil || len(got) != 0 {
		t.Fatalf("the new log: %q %v", got, err)
	}
	if !holdsOpen(t, cmd.Process.Pid, cur) {
		t.Fatalf("QEMU does not write %s after the rotation", cur)
	}
	// Under the bound, nothing changes.
	if err := os.WriteFile(cur, []byte("new line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.rotateSerialOnce(id, mc); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(cur); string(got) != "new line\n" {
		t.Fatalf("a log under its bound was rotated: %q", got)
	}
	// The API view: the end of the previous log, then the current one.
	got, err := m.readSerial(id, 20)
	if err != nil || string(got) != "later line\nnew line\n"[len("later line\nnew line\n")-20:] {
		t.Fatalf("the last 20 bytes: %q %v", got, err)
	}
	if got, _ := m.readSerial(id, 1<<20); string(got) != string(old[len(old)-64:])+"new line\n" {
		t.Fatalf("all of it: %q", got)
	}
}

// holdsOpen reports whether process pid has the file path open.
func holdsOpen(t *testing.T, pid int, path string) bool {
	fds, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestCopyTruncate: the fallback when QEMU cannot switch files keeps the end in
// the previous log and empties the current one in place (same file, which QEMU
// appends to).
func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	cur, prev := filepath.Join(dir, "serial.log"), filepath.Join(dir, "serial.log.1")
	if err := os.WriteFile(cur, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(cur, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := copyTruncate(cur, prev, 6); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("next"))
	if got, _ := os.ReadFile(prev); string(got) != "abcdef" {
		t.Fatalf("previous log %q", got)
	}
	if got, _ := os.ReadFile(cur); string(got) != "next" {
		t.Fatalf("current log after the cut and one more write: %q", got)
	}
}
