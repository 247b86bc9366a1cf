package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The serial console is a file QEMU appends to (-chardev file, id serial0); QEMU
// cannot rotate it. The manager does, while it supervises the VM: once the file
// passes Config.SerialLogMax, it becomes serial.log.1 (replacing the one before), a
// new serial.log is made, and QEMU is told over QMP to write there
// (chardev-change). QEMU writes the old file until it opens the new one, so no byte
// is lost. While hangar serve is down nobody rotates and the file grows; the first
// rotation after the VM is adopted keeps only the last SerialLogMax bytes of it. So
// a VM's serial output takes at most twice SerialLogMax on disk, plus what the
// guest writes between two checks (or while hangar serve is down).
const (
	serialChardev       = "serial0"
	serialCheckInterval = time.Second
	// DefaultSerialLogMax is the size at which a serial log is rotated.
	DefaultSerialLogMax = 4 << 20
)

func (m *Manager) serialPaths(id string) (current, previous string) {
	current = filepath.Join(m.vmDir(id), serialLog)
	return current, current + ".1"
}

// rotateSerial keeps the VM's serial log within its bound until QEMU exits.
func (m *Manager) rotateSerial(id, name string, mc *machine) {
	t := time.NewTicker(serialCheckInterval)
	defer t.Stop()
	logs := &logLimiter{interval: time.Minute}
	for {
		select {
		case <-mc.exited:
			return
		case <-t.C:
		}
		if err := m.rotateSerialOnce(id, mc); err != nil {
			if ok, _ := logs.allow(time.Now()); ok {
				m.log.Warn("rotating the serial log failed", "vm", name, "id", id, "err", err)
			}
		}
	}
}

// rotateSerialOnce rotates the serial log if it passed its bound.
func (m *Manager) rotateSerialOnce(id string, mc *machine) error {
	cur, prev := m.serialPaths(id)
	fi, err := os.Stat(cur)
	if err != nil || fi.Size() <= m.cfg.SerialLogMax {
		return nil
	}
	if err := os.Rename(cur, prev); err != nil {
		return err
	}
	if err := createLike(cur, fi); err != nil {
		os.Rename(prev, cur)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := mc.qmp.ChardevChangeFile(ctx, serialChardev, cur); err != nil {
		// QEMU still writes the old file: give it its name back and cut it in
		// place. The bytes written between the copy and the cut are lost.
		if rerr := os.Rename(prev, cur); rerr != nil {
			return errors.Join(err, rerr)
		}
		return errors.Join(fmt.Errorf("switching QEMU to a new serial log: %w", err), copyTruncate(cur, prev, m.cfg.SerialLogMax))
	}
	// QEMU writes the new file now; the old one keeps its end only.
	return keepTail(prev, m.cfg.SerialLogMax)
}

// createLike creates an empty file with the mode and owner of fi (QEMU may run as
// another user than hangar serve).
func createLike(path string, fi os.FileInfo) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer f.Close()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// keepTail cuts a file nobody writes to its last n bytes.
func keepTail(path string, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= n {
		return err
	}
	return writeTail(f, fi, path, n)
}

// copyTruncate copies the last n bytes of src, which QEMU appends to, to dst, then
// empties src.
func copyTruncate(src, dst string, n int64) error {
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := writeTail(f, fi, dst, n); err != nil {
		return err
	}
	return f.Truncate(0)
}

// writeTail writes the last n bytes of f to path, atomically.
func writeTail(f *os.File, fi os.FileInfo, path string, n int64) error {
	start := max(fi.Size()-n, 0)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, io.NewSectionReader(f, start, fi.Size()-start)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readSerial returns the last n bytes of the serial output: of the current log,
// preceded, when it holds fewer, by the end of the previous one.
func (m *Manager) readSerial(id string, n int64) ([]byte, error) {
	cur, prev := m.serialPaths(id)
	var out []byte
	for _, path := range []string{cur, prev} {
		if n <= 0 {
			break
		}
		part, err := readTail(path, n)
		if err != nil {
			return nil, err
		}
		out = append(part, out...)
		n -= int64(len(part))
	}
	return out, nil
}

func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	start := max(fi.Size()-n, 0)
	return io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
}
