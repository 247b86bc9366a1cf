package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/uploadplan"
)

// DefaultConnections is how many chunks an upload sends at once. Measured with
// bench/upload (1 GiB, docs/BENCHMARKS.md), client and server sharing 2 cores:
// 2.55 s with 2, 2.27 s with 4, 2.02 s with 8, 1.91 s with 16; each on a core of
// its own: 2.97, 2.92, 2.45 and 2.72 s. Eight is best or near it in both: a chunk
// in flight waits for the server's hash, write and record, and eight keep both
// ends busy meanwhile.
const DefaultConnections = 8

// UploadOptions tune UploadDisk.
type UploadOptions struct {
	// Connections is the number of parallel chunk uploads (default
	// DefaultConnections).
	Connections int
	// StateDir keeps the ID of an unfinished upload so that running the same upload
	// again resumes it. Empty disables resuming.
	StateDir string
	// Progress, if set, is told the total of bytes to go through (the chunks that
	// overlap the file's allocated extents) once the file is opened, then each
	// chunk's bytes as it is sent, found already stored, or found to hold only zeros.
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
	Format      diskfmt.Format `json:"format"`
	VirtualSize int64          `json:"virtualSize"`
	// DataBytes is the size of the non-zero chunks; SentBytes what went over the wire.
	DataBytes int64 `json:"dataBytes"`
	SentBytes int64 `json:"sentBytes"`
	Resumed   bool  `json:"resumed"`
}

// UploadDisk uploads the disk file at path as disk name. It opens the file as
// untrusted input (the format detected from content) and streams its allocated
// extents through one pipeline, each chunk read once into a buffer that stays
// with it to the end:
//
//	read + hash (two workers per core) → ask which are missing (in batches) → send (Connections)
//
// so that reading, hashing and sending overlap, and only the chunks the server
// lacks go over the wire. Memory is bounded: a fixed number of chunk buffers
// circulate. The manifest is committed once every chunk is stored. An interrupted
// upload resumes when run again with the same StateDir.
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
	up, resumed, err := c.startUpload(ctx, path, name, disk, opt.StateDir)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	st.Resumed = resumed
	var sendFrom string
	if (disk.Format() == diskfmt.Raw || disk.Format() == diskfmt.VHDFixed) && strings.HasPrefix(c.base, "http://") {
		// The file holds the disk's bytes at the disk's offsets: chunks go from it
		// with sendfile (see fileRange). Over TLS they could not, so they go from
		// the buffers that were hashed.
		sendFrom = path
	}
	exts, sent, err := c.uploadChunks(ctx, up.ID, disk, sendFrom, opt)
	if err != nil {
		return hangar.Disk{}, st, err
	}
	st.SentBytes = sent
	st.DataBytes = sumLengths(exts)
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

// chunkOffsets lists the offsets of the chunks that overlap the disk's allocated
// extents, in order, and the bytes they cover. Only these are read; the rest of
// the disk reads as zeros. The browser's upload takes the same list (uploadplan).
func chunkOffsets(disk diskfmt.Disk) ([]int64, int64) {
	return uploadplan.ChunkOffsets(disk.Extents(), disk.VirtualSize())
}

// A hashed chunk travels through the pipeline with the buffer holding its bytes.
type hashed struct {
	ext chunks.Extent
	buf []byte // ChunkSize bytes, data in buf[:ext.Length]
}

// bufferPool is a fixed set of chunk buffers, allocated on first use. Getting a
// buffer blocks while all are in use, which bounds the pipeline's memory.
type bufferPool chan []byte

func newBufferPool(n int) bufferPool {
	p := make(bufferPool, n)
	for range n {
		p <- nil
	}
	return p
}

func (p bufferPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p:
		if b == nil {
			b = make([]byte, chunks.ChunkSize)
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p bufferPool) put(b []byte) { p <- b[:cap(b)] }

// hashStage reads the chunks at offs with workers goroutines, each reading a chunk
// into a buffer from pool and hashing it there, and sends the non-zero ones to out,
// with their buffers if keep (else the buffers go back to pool at once, and the
// chunks' buf is nil). All-zero chunks are reported to zero (may be nil) and their
// buffers returned. Chunks come out roughly, not exactly, in offset order.
func hashStage(ctx context.Context, disk diskfmt.Disk, offs []int64, workers int, pool bufferPool, out chan<- hashed, zero func(n int64), keep bool) error {
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(offs)) {
					return nil
				}
				buf, err := pool.get(gctx)
				if err != nil {
					return err
				}
				off := offs[i]
				data := buf[:chunks.ChunkLen(off, disk.VirtualSize())]
				d, nonZero, err := readHash(disk, data, off)
				if err != nil {
					return err
				}
				if !nonZero {
					pool.put(buf)
					if zero != nil {
						zero(int64(len(data)))
					}
					continue
				}
				h := hashed{chunks.Extent{Offset: off, Length: int64(len(data)), Digest: d}, buf}
				if !keep {
					pool.put(buf)
					h.buf = nil
				}
				select {
				case out <- h:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		})
	}
	return g.Wait()
}

// hashPiece is how much of a chunk is read at a time; each piece is tested for
// zeros and hashed right after it is read, while it is still in the core's cache.
const hashPiece = 256 << 10

// readHash fills data with the disk's bytes at off and returns their SHA-256,
// unless they are all zeros (nonZero false), which are not hashed at all.
func readHash(disk diskfmt.Disk, data []byte, off int64) (d chunks.Digest, nonZero bool, err error) {
	h := sha256.New()
	for done := 0; done < len(data); {
		p := data[done:min(done+hashPiece, len(data))]
		if n, err := disk.ReadAt(p, off+int64(done)); n < len(p) {
			return d, false, fmt.Errorf("read chunk at offset %d: %w", off+int64(done+n), err)
		}
		if !nonZero && !chunks.IsZero(p) {
			nonZero = true
			h.Write(data[:done]) // the zeros before the first non-zero piece
		}
		if nonZero {
			h.Write(p)
		}
		done += len(p)
	}
	h.Sum(d[:0])
	return d, nonZero, nil
}

// hashWorkers is how many chunks are read and hashed at once: two per core, so
// that a core whose goroutine waits (for a read, for a free buffer, to hand a
// chunk on) has another to run, and a cold disk has several reads to serve.
// Measured on 2 cores (bench/hashing): 1.54x the single-core SHA-256 rate with
// one worker per core, 1.63x with two.
func hashWorkers() int {
	return min(max(2*runtime.GOMAXPROCS(0), 4), 16)
}

// HashDisk runs the upload pipeline's read-and-hash stage alone over the disk's
// allocated chunks with workers goroutines (0: as UploadDisk does, two per core)
// and returns the non-zero chunks in offset order: what UploadDisk would commit.
// bench/hashing measures it.
func HashDisk(ctx context.Context, disk diskfmt.Disk, workers int) ([]chunks.Extent, error) {
	if workers <= 0 {
		workers = hashWorkers()
	}
	offs, _ := chunkOffsets(disk)
	pool := newBufferPool(workers + 2)
	out := make(chan hashed, workers)
	var exts []chunks.Extent
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(out)
		return hashStage(gctx, disk, offs, workers, pool, out, nil, false)
	})
	g.Go(func() error {
		for h := range out {
			exts = append(exts, h.ext)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(exts, func(a, b chunks.Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	return exts, nil
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
			atomicfile.WriteFile(stateFile(stateDir, path, name), data, 0o600)
		}
	}
	return up, false, nil
}

func forgetUpload(stateDir, path, name string) {
	if stateDir != "" {
		os.Remove(stateFile(stateDir, path, name))
	}
}

// uploadChunks reads, hashes and sends the disk's chunks and returns the manifest
// extents (in offset order) and the bytes sent. If sendFrom is a file's path, the
// disk's bytes are that file's at the same offsets, and chunks are sent from it
// rather than from the buffers they were hashed in (which are then free as soon as
// they are hashed). The server verifies every chunk it receives, so a file that
// changed between hashing and sending is refused, not stored.
func (c *Client) uploadChunks(ctx context.Context, uploadID string, disk diskfmt.Disk, sendFrom string, opt UploadOptions) ([]chunks.Extent, int64, error) {
	workers := hashWorkers()
	conns := opt.Connections
	if conns <= 0 {
		conns = DefaultConnections
	}
	offs, total := chunkOffsets(disk)
	progress := func(int64) {}
	if opt.Progress != nil {
		opt.Progress.Start(total)
		var mu sync.Mutex // the stages report from several goroutines
		progress = func(n int64) {
			mu.Lock()
			opt.Progress.Add(n)
			mu.Unlock()
		}
	}
	// Buffers: one being hashed per worker, one being sent per connection, and one
	// waiting per connection so that the senders never starve. (Chunks sent from
	// the file hold one only while they are hashed: the rest are never allocated.)
	pool := newBufferPool(workers + 2*conns)
	hashedQ := make(chan hashed, workers+conns)
	sendQ := make(chan hashed, conns)
	var (
		exts []chunks.Extent
		sent atomic.Int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(hashedQ)
		// Chunks sent from the file need their buffers only to be hashed.
		return hashStage(gctx, disk, offs, workers, pool, hashedQ, progress, sendFrom == "")
	})
	g.Go(func() error {
		defer close(sendQ)
		queued := make(map[chunks.Digest]bool) // asked for or sent by this run: each digest goes once
		for h := range hashedQ {
			batch := []hashed{h}
		drain:
			for len(batch) < hangar.MaxMissingDigests {
				select {
				case h, ok := <-hashedQ:
					if !ok {
						break drain
					}
					batch = append(batch, h)
				default:
					break drain
				}
			}
			var ask []chunks.Digest
			for _, h := range batch {
				exts = append(exts, h.ext)
				if !queued[h.ext.Digest] {
					queued[h.ext.Digest] = true
					ask = append(ask, h.ext.Digest)
				}
			}
			need, err := c.missing(gctx, uploadID, ask)
			if err != nil {
				return err
			}
			for _, h := range batch {
				if !need[h.ext.Digest] {
					progress(h.ext.Length)
					if h.buf != nil {
						pool.put(h.buf)
					}
					continue
				}
				delete(need, h.ext.Digest) // a repeated chunk is sent once
				select {
				case sendQ <- h:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	for range conns {
		g.Go(func() error {
			for h := range sendQ {
				var body io.Reader
				if h.buf != nil {
					body = bytes.NewReader(h.buf[:h.ext.Length])
				} else {
					fr, err := openFileRange(sendFrom, h.ext.Offset, h.ext.Length)
					if err != nil {
						return err
					}
					body = fr // do closes it
				}
				if err := c.do(gctx, "PUT", "/v1/uploads/"+uploadID+"/chunks/"+h.ext.Digest.String(), body, nil); err != nil {
					return err
				}
				sent.Add(h.ext.Length)
				progress(h.ext.Length)
				if h.buf != nil {
					pool.put(h.buf)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(exts, func(a, b chunks.Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	return exts, sent.Load(), nil
}

// missing asks the server which of the digests it needs (none repeated).
func (c *Client) missing(ctx context.Context, uploadID string, digests []chunks.Digest) (map[chunks.Digest]bool, error) {
	need := make(map[chunks.Digest]bool)
	if len(digests) == 0 {
		return need, nil
	}
	var res hangar.MissingChunksResult
	if err := c.do(ctx, "POST", "/v1/uploads/"+uploadID+"/missing", hangar.MissingChunks{Digests: digests}, &res); err != nil {
		return nil, err
	}
	for _, d := range res.Missing {
		need[d] = true
	}
	return need, nil
}
