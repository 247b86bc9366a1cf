package compute

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// probeSector is a boot sector that writes "OK" to the first serial port and halts:
// mov dx,0x3f8; mov al,'O'; out dx,al; mov al,'K'; out dx,al; cli; hlt; jmp $-1.
var probeSector = func() []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xba, 0xf8, 0x03, 0xb0, 'O', 0xee, 0xb0, 'K', 0xee, 0xfa, 0xf4, 0xeb, 0xfd})
	b[510], b[511] = 0x55, 0xaa
	return b
}()

// ProbeKVM boots a one-sector guest under KVM and reports whether it ran: /dev/kvm
// existing is no proof (on some hosts QEMU with KVM fails or hangs). The probe is
// bounded by timeout and its QEMU is always killed.
func ProbeKVM(ctx context.Context, qemu string, timeout time.Duration) bool {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false
	}
	dir, err := os.MkdirTemp("", "hangar-kvm-probe")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "probe.img")
	if os.WriteFile(img, probeSector, 0o600) != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "pc,accel=kvm", "-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio", "-drive", "file="+img+",format=raw,if=ide", "-m", "16")
	var out syncBuffer
	cmd.Stdout = &out
	if cmd.Start() != nil {
		return false
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for ctx.Err() == nil {
		if bytes.Contains(out.Bytes(), []byte("OK")) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
