package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
)

// UploadOptions tune UploadDisk.
type UploadOptions struct {
	// Connections is the number of parallel chunk uploads (default 4).
	Connections int
	// StateDir keeps the ID of an unfinished upload so that running the same upload
	// again resumes it. Empty disables resuming.
	StateDir string
	// Progress, if set, is told the total of bytes to send once known, then each
	// chunk's bytes as they are sent or found already stored.
	Progress Progress
	// MaxVirtualSize bounds the local parse (default 4 TiB); the server applies its own.
	MaxVirtualSize int64
}

// Progress receives upload progress.
type Progress interface {
	Start(total int64)
	Add(n int64)
}

// UploadStats says what an upload did.
type UploadStats struct {
	Format      diskfmt.Format
	VirtualSize int64
	// DataBytes is the size of the non-zero chunks; SentBytes what went over the wire.
	DataBytes, SentBytes int64
	Resumed              bool
}

// UploadDisk uploads the disk file at path as disk name: it reads the file's allocated
// extents (the format detected from content), hashes chunks in parallel, asks which
// chunks the server lacks, sends only those over several connections and commits the
// manifest. An interrupted upload resumes when run again with the same StateDir.
func (c *Client) UploadDisk(ctx context.Context, path, name string, opt UploadOptions) (hangar.Disk, UploadStats, error) {
	var st UploadStats
	f, err := os.Open(path)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return hangar.Disk{}, st, err
	}
	disk, err := diskfmt.Open(f, fi.Size(), diskfmt.Options{MaxVirtualSize: opt.MaxVirtualSize})
	if err != nil {
		return hangar.Disk{}, st, err
	}
	st.Format, st.VirtualSize = disk.Format(), disk.VirtualSize()
	exts, err := hashChunks(ctx, disk)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	for _, e := range exts {
		st.DataBytes += e.Length
	}

	up, resumed, err := c.startUpload(ctx, path, name, disk, opt.StateDir)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	st.Resumed = resumed
	missing, err := c.missing(ctx, up.ID, exts)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	if opt.Progress != nil {
		opt.Progress.Start(st.DataBytes)
		opt.Progress.Add(st.DataBytes - sumLengths(missing))
	}
	if st.SentBytes, err = c.sendChunks(ctx, up.ID, disk, missing, opt); err != nil {
		return hangar.Disk{}, st, err
	}
	var dk hangar.Disk
	if err := c.do(ctx, "POST", "/v1/uploads/"+up.ID+"/commit", hangar.UploadCommit{Extents: exts}, &dk); err != nil {
		return dk, st, err
	}
	forgetUpload(opt.StateDir, path, name)
	return dk, st, nil
}

func sumLengths(exts []chunks.Extent) int64 {
	var n int64
	for _, e := range exts {
		n += e.Length
	}
	return n
}

// hashChunks reads the disk's non-zero chunks in order with one reader and hashes
// them on every core.
func hashChunks(ctx context.Context, disk diskfmt.Disk) ([]chunks.Extent, error) {
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		i    int
		off  int64
		data []byte
	}
	pool := sync.Pool{New: func() any { b := make([]byte, chunks.ChunkSize); return &b }}
	jobs := make(chan job, workers)
	var (
		mu  sync.Mutex
		out []chunks.Extent
	)
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for j := range jobs {
				d := sha256.Sum256(j.data)
				mu.Lock()
				out[j.i] = chunks.Extent{Offset: j.off, Length: int64(len(j.data)), Digest: d}
				mu.Unlock()
				full := j.data[:cap(j.data)]
				pool.Put(&full)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(jobs)
		spans := make([]chunks.Span, 0, len(disk.Extents()))
		for _, e := range disk.Extents() {
			spans = append(spans, chunks.Span{Offset: e.Offset, Length: e.Length})
		}
		i := 0
		return chunks.Walk(gctx, disk, disk.VirtualSize(), spans, func(off int64, data []byte) error {
			buf := (*pool.Get().(*[]byte))[:len(data)]
			copy(buf, data)
			mu.Lock()
			out = append(out, chunks.Extent{})
			mu.Unlock()
			select {
			case jobs <- job{i, off, buf}:
				i++
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// uploadState is what StateDir keeps per (file, disk name).
type uploadState struct {
	UploadID string `json:"uploadId"`
}

func stateFile(dir, path, name string) string {
	abs, _ := filepath.Abs(path)
	h := sha256.Sum256([]byte(abs + "\x00" + name))
	return filepath.Join(dir, hex.EncodeToString(h[:8])+".json")
}

func (c *Client) startUpload(ctx context.Context, path, name string, disk diskfmt.Disk, stateDir string) (hangar.Upload, bool, error) {
	var up hangar.Upload
	if stateDir != "" {
		var s uploadState
		if data, err := os.ReadFile(stateFile(stateDir, path, name)); err == nil && json.Unmarshal(data, &s) == nil {
			err := c.do(ctx, "GET", "/v1/uploads/"+esc(s.UploadID), nil, &up)
			if err == nil && up.VirtualSize == disk.VirtualSize() && up.Name == name {
				return up, true, nil
			}
		}
	}
	req := hangar.UploadCreate{Name: name, VirtualSize: disk.VirtualSize(), SourceFormat: string(disk.Format())}
	if err := c.do(ctx, "POST", "/v1/uploads", req, &up); err != nil {
		return up, false, err
	}
	if stateDir != "" {
		data, _ := json.Marshal(uploadState{UploadID: up.ID})
		if err := os.MkdirAll(stateDir, 0o700); err == nil {
			os.WriteFile(stateFile(stateDir, path, name), data, 0o600)
		}
	}
	return up, false, nil
}

func forgetUpload(stateDir, path, name string) {
	if stateDir != "" {
		os.Remove(stateFile(stateDir, path, name))
	}
}

// missing asks the server, in batches, which extents it needs.
func (c *Client) missing(ctx context.Context, uploadID string, exts []chunks.Extent) ([]chunks.Extent, error) {
	const batch = 1 << 16
	var out []chunks.Extent
	for start := 0; start < len(exts); start += batch {
		part := exts[start:min(start+batch, len(exts))]
		req := hangar.MissingChunks{Digests: make([]chunks.Digest, len(part))}
		for i, e := range part {
			req.Digests[i] = e.Digest
		}
		var res hangar.MissingChunksResult
		if err := c.do(ctx, "POST", "/v1/uploads/"+uploadID+"/missing", req, &res); err != nil {
			return nil, err
		}
		need := make(map[chunks.Digest]bool, len(res.Missing))
		for _, d := range res.Missing {
			need[d] = true
		}
		for _, e := range part {
			if need[e.Digest] {
				out = append(out, e)
				delete(need, e.Digest) // identical chunks are sent once
			}
		}
	}
	return out, nil
}

// sendChunks sends the extents over several connections, reading each chunk again
// from the disk and checking it still has the digest it was hashed with.
func (c *Client) sendChunks(ctx context.Context, uploadID string, disk diskfmt.Disk, exts []chunks.Extent, opt UploadOptions) (int64, error) {
	conns := opt.Connections
	if conns <= 0 {
		conns = 4
	}
	var (
		mu   sync.Mutex
		sent int64
	)
	work := make(chan chunks.Extent)
	g, gctx := errgroup.WithContext(ctx)
	for range conns {
		g.Go(func() error {
			buf := make([]byte, chunks.ChunkSize)
			for e := range work {
				data := buf[:e.Length]
				if _, err := disk.ReadAt(data, e.Offset); err != nil {
					return fmt.Errorf("read chunk at offset %d: %w", e.Offset, err)
				}
				if chunks.Sum(data) != e.Digest {
					return errors.New("the disk file changed while it was being uploaded; upload it again")
				}
				if err := c.do(gctx, "PUT", "/v1/uploads/"+uploadID+"/chunks/"+e.Digest.String(), bytes.NewReader(data), nil); err != nil {
					return err
				}
				mu.Lock()
				sent += e.Length
				mu.Unlock()
				if opt.Progress != nil {
					opt.Progress.Add(e.Length)
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(work)
		for _, e := range exts {
			select {
			case work <- e:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	err := g.Wait()
	return sent, err
}
