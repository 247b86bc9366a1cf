package compute

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
)

// bases materializes stored disks as immutable sparse raw files, once per host.
type bases struct {
	dir    string
	chunks *chunks.Store
	mu     sync.Mutex
	locks  map[string]*sync.Mutex
}

func (b *bases) lock(id string) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks == nil {
		b.locks = map[string]*sync.Mutex{}
	}
	if b.locks[id] == nil {
		b.locks[id] = &sync.Mutex{}
	}
	return b.locks[id]
}

func (b *bases) path(diskID string) string { return filepath.Join(b.dir, diskID+".raw") }

// ensure returns the base file of a stored disk, writing it first if this host has
// none. Only the manifest's chunks are written, into a sparse file, so the time
// depends on the data, not on the virtual size. The file appears complete or not at
// all, and stays after a crash (temp file, fsync, rename, fsync of the directory).
func (b *bases) ensure(ctx context.Context, diskID string, m chunks.Manifest) (string, error) {
	final := b.path(diskID)
	l := b.lock(diskID)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if err := atomicfile.MkdirAll(b.dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := b.writeRaw(ctx, b.dir, m)
	if err != nil {
		return "", fmt.Errorf("materialize disk %s: %w", diskID, err)
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o400); err != nil {
		return "", err
	}
	return final, atomicfile.Rename(tmp, final)
}

// writeRaw writes a manifest's chunks into a new sparse raw file in dir (only the
// chunks: holes stay holes), synced, and returns its path.
func (b *bases) writeRaw(ctx context.Context, dir string, m chunks.Manifest) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-disk-*.raw")
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, e := range m.Extents {
		data, err := b.chunks.Load(ctx, e.Digest)
		if err != nil {
			return "", err
		}
		if _, err := f.WriteAt(data, e.Offset); err != nil {
			return "", err
		}
	}
	if err := f.Truncate(m.VirtualSize); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// remove deletes a base no VM uses any more.
func (b *bases) remove(diskID string) {
	l := b.lock(diskID)
	l.Lock()
	defer l.Unlock()
	os.Remove(b.path(diskID))
}

// createOverlay makes a qcow2 overlay on a base. The base is our own trusted file,
// so qemu-img may open it; its format is always given explicitly.
func createOverlay(ctx context.Context, qemuImg, base, overlay string) error {
	out, err := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, overlay).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-img create overlay: %v: %s", err, out)
	}
	return nil
}
