// Package dirstore is the chunk backend on a local directory: the embedded default.
//
// Layout: DIR/ab/abcdef... (objects fanned out by the first two characters of their
// name, so no directory grows past a few thousand entries) and DIR/tmp for writes in
// progress. Each save is the atomic-write recipe: temp file in DIR/tmp, write, check
// the count, fsync, rename into place, fsync the directory; a fan-out directory the
// save creates is made durable too (its parent is fsynced), or a crash could lose
// every chunk in it. A crash leaves at worst a stray temp file, which Open removes.
//
// Group commit (SaveDeferred, Sync; see groupcommit.go) writes an upload's objects
// without those fsyncs and makes them durable together, files then directories,
// before the upload's commit is acknowledged. While any deferred object may not be
// durable, the file DIR/unsynced exists (durably); Open after a crash finds it,
// flushes the file system, re-verifies every object written since and removes those
// whose content does not match their name.
package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
)

// Dir is a chunk backend rooted at a directory.
type Dir struct {
	root string
	log  *slog.Logger

	mu sync.Mutex
	// pending holds the objects saved with SaveDeferred and not yet durable; the
	// value is nil until a Sync takes the name, then that Sync's flight.
	pending map[string]*flight
	// marked says DIR/unsynced exists durably.
	marked bool
	// lost holds the objects the recovery at Open removed as damaged: a Sync of one
	// fails until it is saved again (see Lost).
	lost map[string]bool
	// syncFile is (*os.File).Sync; tests count the calls.
	syncFile func(*os.File) error
	// direct says SaveDeferred may write with O_DIRECT (tests turn it off).
	direct bool
}

var (
	_ chunks.GroupCommitter = (*Dir)(nil)
	_ chunks.LossReporter   = (*Dir)(nil)
)

// Open prepares root (creating it if needed), removes temp files left by a crash and,
// if the crash happened while deferred saves were not yet durable, recovers (see the
// package comment).
func Open(root string) (*Dir, error) {
	tmp := filepath.Join(root, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clean %s: %w", tmp, err)
	}
	if err := atomicfile.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	d := &Dir{root: root, log: slog.Default(), pending: map[string]*flight{}, lost: map[string]bool{}, syncFile: (*os.File).Sync, direct: true}
	if err := d.recover(context.Background()); err != nil {
		return nil, fmt.Errorf("dirstore: recover after a crash: %w", err)
	}
	return d, nil
}

func validName(name string) error {
	if len(name) < 3 || strings.ContainsAny(name, `/\.`) {
		return fmt.Errorf("dirstore: invalid object name %q", name)
	}
	return nil
}

func (d *Dir) path(name string) string { return filepath.Join(d.root, name[:2], name) }

// Save implements chunks.Backend.
func (d *Dir) Save(ctx context.Context, name string, data []byte) (err error) {
	if err := validName(name); err != nil {
		return err
	}
	final := d.path(name)
	if _, err := os.Stat(final); err == nil {
		// Saved already, perhaps deferred by an upload not yet committed: the
		// caller is told it is durable, so make it so.
		if err := d.Sync(ctx, []string{name}); err != nil {
			return err
		}
		now := time.Now()
		return os.Chtimes(final, now, now)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), name+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := f.Write(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("dirstore: wrote %d of %d bytes", n, len(data))
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return atomicfile.Rename(f.Name(), final)
}

// Load implements chunks.Backend.
func (d *Dir) Load(ctx context.Context, name string) ([]byte, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", chunks.ErrNotExist, name)
	}
	return data, err
}

// Stat implements chunks.Backend.
func (d *Dir) Stat(ctx context.Context, name string) (chunks.ObjectInfo, error) {
	if err := validName(name); err != nil {
		return chunks.ObjectInfo{}, err
	}
	if err := d.Sync(ctx, []string{name}); err != nil && !errors.Is(err, chunks.ErrNotExist) {
		return chunks.ObjectInfo{}, err // present, but not yet durable
	}
	fi, err := os.Stat(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return chunks.ObjectInfo{}, fmt.Errorf("%w: %s", chunks.ErrNotExist, name)
	}
	if err != nil {
		return chunks.ObjectInfo{}, err
	}
	return chunks.ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove implements chunks.Backend.
func (d *Dir) Remove(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	d.mu.Lock()
	if d.pending[name] == nil {
		delete(d.pending, name) // a Sync in flight keeps it and will find it gone
	}
	d.mu.Unlock()
	err := os.Remove(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// List implements chunks.Backend.
func (d *Dir) List(ctx context.Context, fn func(chunks.ObjectInfo) error) error {
	fans, err := os.ReadDir(d.root)
	if err != nil {
		return err
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(d.root, fan.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				continue // removed concurrently
			}
			if err := fn(chunks.ObjectInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}
