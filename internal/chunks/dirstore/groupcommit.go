package dirstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
)

// markerName is the file that exists while deferred saves may not be durable.
const markerName = "unsynced"

// markerSlack widens the window of objects Open re-verifies after a crash, for
// file-system timestamps that lag the clock a little.
const markerSlack = 2 * time.Second

// syncBatch bounds the files one Sync holds open at once.
const syncBatch = 64

// flight is one Sync making a set of names durable; others wait for it.
type flight struct {
	done chan struct{}
	err  error
}

// SaveDeferred implements chunks.GroupCommitter: the atomic-write recipe without its
// two fsyncs (writeTemp says how the bytes are written). The name is pending until a
// Sync, a Stat or a Save of it makes the file and its directory durable.
func (d *Dir) SaveDeferred(ctx context.Context, name string, data []byte) (err error) {
	if err := validName(name); err != nil {
		return err
	}
	final := d.path(name)
	if _, err := os.Stat(final); err == nil {
		now := time.Now()
		return os.Chtimes(final, now, now) // whoever commits it syncs it, if not yet durable
	}
	if err := atomicfile.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	// The marker is durable before the file is written, so that its time is older
	// than the file's, and before the file gets its name.
	if err := d.mark(); err != nil {
		return err
	}
	f, err := d.writeTemp(name, data)
	if err != nil {
		return err
	}
	// Pending before it is visible: a Stat that finds the name must find it pending.
	d.mu.Lock()
	if _, ok := d.pending[name]; !ok {
		d.pending[name] = nil
	}
	d.mu.Unlock()
	if err = os.Rename(f, final); err != nil {
		os.Remove(f)
		d.mu.Lock()
		if d.pending[name] == nil {
			delete(d.pending, name)
		}
		d.mu.Unlock()
	}
	return err
}

// directAlign is the alignment O_DIRECT needs of the buffer's address and length
// (the largest logical block size of common disks).
const directAlign = 4096

// writeTemp writes data to a new temp file for name, without fsync, and returns its
// path. Data in a 4 KiB-aligned buffer of a multiple of 4 KiB (the server's pooled
// chunk buffers, whole chunks) is written with O_DIRECT: the disk reads it from the
// buffer, and no copy is made into the page cache (bench/chunkwrite: half the CPU
// time of a buffered write). Other data, or a file system that refuses O_DIRECT,
// takes a buffered write whose write-back starts at once (sync_file_range), so that
// the Sync at commit mostly waits for I/O already under way.
func (d *Dir) writeTemp(name string, data []byte) (path string, err error) {
	direct := d.direct && len(data) > 0 && len(data)%directAlign == 0 &&
		uintptr(unsafe.Pointer(&data[0]))%directAlign == 0
	var f *os.File
	for {
		path = filepath.Join(d.root, "tmp", name+"-"+strconv.FormatUint(rand.Uint64(), 36))
		flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
		if direct {
			flags |= unix.O_DIRECT
		}
		f, err = os.OpenFile(path, flags, 0o600)
		if direct && errors.Is(err, unix.EINVAL) {
			direct = false // this file system has no O_DIRECT
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	n, err := f.Write(data)
	if err != nil {
		return "", err
	}
	if n != len(data) {
		return "", fmt.Errorf("dirstore: wrote %d of %d bytes", n, len(data))
	}
	if !direct {
		// A hint: if it fails, the later fsync does the work.
		_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	return path, f.Close()
}

// mark makes DIR/unsynced exist durably, once per period with pending objects.
func (d *Dir) mark() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marked {
		return nil
	}
	if err := atomicfile.WriteFile(filepath.Join(d.root, markerName), nil, 0o600); err != nil {
		return fmt.Errorf("dirstore: mark unsynced objects: %w", err)
	}
	d.marked = true
	return nil
}

// Sync implements chunks.GroupCommitter. Each pending name is taken by exactly one
// Sync; a Sync that needs a name another one took waits for that one to finish.
func (d *Dir) Sync(ctx context.Context, names []string) error {
	mine := &flight{done: make(chan struct{})}
	var claimed []string
	var others []*flight
	if lost := d.Lost(names); len(lost) > 0 {
		return fmt.Errorf("%w: %s was lost in a crash before it was durable; send it again", chunks.ErrNotExist, lost[0])
	}
	var settled []string // not pending: durable, unless a power loss took them
	d.mu.Lock()
	for _, n := range names {
		f, ok := d.pending[n]
		switch {
		case !ok:
			settled = append(settled, n)
		case f == mine:
		case f == nil:
			d.pending[n] = mine
			claimed = append(claimed, n)
		default:
			others = append(others, f)
		}
	}
	d.mu.Unlock()
	if err := d.checkSettled(settled); err != nil {
		return err
	}
	if len(claimed) == 0 && len(others) == 0 {
		return nil
	}
	err := d.syncFiles(claimed)
	d.mu.Lock()
	for _, n := range claimed {
		if d.pending[n] != mine {
			continue // removed meanwhile
		}
		if err == nil {
			delete(d.pending, n)
		} else {
			d.pending[n] = nil // the next Sync tries again
		}
	}
	mine.err = err
	close(mine.done)
	if err == nil && len(d.pending) == 0 && d.marked {
		err = d.unmarkLocked()
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	for _, f := range others {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return d.Sync(ctx, names) // its names are pending again: take them
		}
	}
	return nil
}

// checkSettled makes sure that objects no Sync is pending for exist. After a power
// loss, one saved (and renamed into place) without an fsync may be gone entirely,
// where the recovery at Open, which re-hashes the objects it finds, cannot see it,
// while the database may still say that an upload delivered it. Such an object is
// remembered as lost, like a damaged one, so that the upload sends it again.
func (d *Dir) checkSettled(names []string) error {
	for _, n := range names {
		_, err := os.Stat(d.path(n))
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		d.mu.Lock()
		d.lost[n] = true
		d.mu.Unlock()
		return fmt.Errorf("%w: %s is not in the store (lost in a crash before it was durable?); send it again", chunks.ErrNotExist, n)
	}
	return nil
}

// unmarkLocked removes the marker once nothing is pending. d.mu is held.
func (d *Dir) unmarkLocked() error {
	if err := os.Remove(filepath.Join(d.root, markerName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d.marked = false
	return atomicfile.SyncDir(d.root)
}

// syncFiles makes the named objects durable: first every file's data (write-back
// started for a batch, then each fsynced), then each directory that holds one.
func (d *Dir) syncFiles(names []string) error {
	dirs := map[string]bool{}
	for len(names) > 0 {
		batch := names[:min(len(names), syncBatch)]
		names = names[len(batch):]
		if err := d.syncBatch(batch); err != nil {
			return err
		}
		for _, n := range batch {
			dirs[filepath.Dir(d.path(n))] = true
		}
	}
	for dir := range dirs {
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dir) syncBatch(names []string) error {
	files := make([]*os.File, 0, len(names))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, n := range names {
		f, err := os.Open(d.path(n))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", chunks.ErrNotExist, n)
		}
		if err != nil {
			return err
		}
		files = append(files, f)
		_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	for _, f := range files {
		if err := d.syncFile(f); err != nil {
			return fmt.Errorf("dirstore: sync %s: %w", filepath.Base(f.Name()), err)
		}
	}
	return nil
}

// recover runs at Open. If the marker exists, the last process stopped while some
// objects were not yet durable: a kill left them in the page cache, which syncfs
// writes out; a power loss may have left them empty or partly written, so every
// object written since the marker is hashed again and removed if it does not match
// its name. A removed object is remembered as lost (Lost): the upload that had sent
// it is told it is missing and sends it again, and until then a Sync of its name
// fails, so no commit is acknowledged without it.
func (d *Dir) recover(ctx context.Context) error {
	marker := filepath.Join(d.root, markerName)
	fi, err := os.Stat(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := syncfs(d.root); err != nil {
		return err
	}
	since := fi.ModTime().Add(-markerSlack)
	var checked, removed int
	err = d.List(ctx, func(o chunks.ObjectInfo) error {
		if o.ModTime.Before(since) {
			return nil
		}
		checked++
		ok, err := d.verify(o.Name)
		if err != nil || ok {
			return err
		}
		removed++
		d.lost[o.Name] = true
		d.log.Warn("chunk store: removing a chunk a crash left damaged", "chunk", o.Name)
		if err := os.Remove(d.path(o.Name)); err != nil {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(d.path(o.Name)))
	})
	if err != nil {
		return err
	}
	d.log.Info("chunk store: recovered after a crash", "checked", checked, "removed", removed)
	if err := os.Remove(marker); err != nil {
		return err
	}
	return atomicfile.SyncDir(d.root)
}

// Lost implements chunks.LossReporter: the names the recovery at Open removed and
// that no save has stored again since.
func (d *Dir) Lost(names []string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.lost) == 0 {
		return nil
	}
	var lost []string
	for _, n := range names {
		if !d.lost[n] {
			continue
		}
		if _, err := os.Stat(d.path(n)); err == nil {
			delete(d.lost, n) // sent again
			continue
		}
		lost = append(lost, n)
	}
	return lost
}

// verify reports whether the object's content hashes to its name.
func (d *Dir) verify(name string) (bool, error) {
	want, err := chunks.ParseDigest(name)
	if err != nil {
		return true, nil // not a chunk's name: not ours to judge
	}
	f, err := os.Open(d.path(name))
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return chunks.Digest(h.Sum(nil)) == want, nil
}

// syncfs flushes the whole file system that holds dir.
func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("dirstore: syncfs %s: %w", dir, err)
	}
	return nil
}
