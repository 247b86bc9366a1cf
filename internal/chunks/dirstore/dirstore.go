// Package dirstore is the chunk backend on a local directory: the embedded default.
//
// Layout: DIR/ab/abcdef... (objects fanned out by the first two characters of their
// name, so no directory grows past a few thousand entries) and DIR/tmp for writes in
// progress. Each save is the atomic-write recipe: temp file in DIR/tmp, write, check
// the count, fsync, rename into place, fsync the directory; a fan-out directory the
// save creates is made durable too (its parent is fsynced), or a crash could lose
// every chunk in it. A crash leaves at worst a stray temp file, which Open removes.
package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
)

// Dir is a chunk backend rooted at a directory.
type Dir struct {
	root string
}

var _ chunks.Backend = (*Dir)(nil)

// Open prepares root (creating it if needed) and removes temp files left by a crash.
func Open(root string) (*Dir, error) {
	tmp := filepath.Join(root, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clean %s: %w", tmp, err)
	}
	if err := atomicfile.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
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
