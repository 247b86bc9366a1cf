package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

const wireChunk = 4 << 20

// newWireFloor returns a contender that does what any upload that verifies and
// stores durably must do over loopback TCP, and nothing else: a client reads
// each 4 MiB chunk of the file's data, hashes it and sends it (sendfile, from
// conns connections, 2 hashing goroutines per core); a server reads it into an
// aligned buffer, hashes it again, compares, writes it to a file of its own
// with O_DIRECT and answers one byte; at the end every file and the directory are
// fsynced. No HTTP, no database, no authentication, no asking what is missing:
// its time is the floor of Hangar's upload design on this machine, between the
// hashing floor (no I/O at all) and the real upload.
func newWireFloor(path, dir string, exts []diskbench.Extent, conns int) func(int, bool) (time.Duration, time.Duration, error) {
	chunks := wireChunks(exts)
	return func(i int, _ bool) (time.Duration, time.Duration, error) {
		out := filepath.Join(dir, fmt.Sprintf("wire%d", i))
		if err := os.Mkdir(out, 0o700); err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(out)
		cpu0 := processCPU()
		d, err := diskbench.Time(func() error { return wireRun(path, out, chunks, conns) })
		return d, processCPU() - cpu0, err
	}
}

func wireRun(path, out string, chunks []diskbench.Extent, conns int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var (
		mu    sync.Mutex
		files []string
	)
	var srv errgroup.Group
	srv.Go(func() error {
		var g errgroup.Group
		for range conns {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			g.Go(func() error {
				defer c.Close()
				names, err := wireReceive(c, out)
				mu.Lock()
				files = append(files, names...)
				mu.Unlock()
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, name := range files { // the group commit
			if err := fsyncPath(name); err != nil {
				return err
			}
		}
		return fsyncPath(out)
	})

	hashed := make(chan wireHashed, conns)
	var cli errgroup.Group
	cli.Go(func() error {
		defer close(hashed)
		return wireHash(path, chunks, hashed)
	})
	for range conns {
		cli.Go(func() error { return wireSend(ln.Addr().String(), path, hashed) })
	}
	if err := cli.Wait(); err != nil {
		return err
	}
	return srv.Wait()
}

// newWriteFloor returns a contender that only stores the file's data durably
// as the server does, with nothing before it: 4 MiB chunks read into aligned
// buffers, written by conns writers to files of their own with O_DIRECT, every
// file and the directory fsynced at the end. Its time is what the disk takes.
func newWriteFloor(path, dir string, exts []diskbench.Extent, conns int) func(int, bool) (time.Duration, time.Duration, error) {
	chunks := wireChunks(exts)
	return func(i int, _ bool) (time.Duration, time.Duration, error) {
		out := filepath.Join(dir, fmt.Sprintf("write%d", i))
		if err := os.Mkdir(out, 0o700); err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(out)
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cpu0 := processCPU()
		d, err := diskbench.Time(func() error {
			next := make(chan diskbench.Extent)
			var g errgroup.Group
			names := make([][]string, conns)
			for w := range conns {
				g.Go(func() error {
					buf := alignedChunk()
					for c := range next {
						p := buf[:c.Length]
						if _, err := f.ReadAt(p, c.Offset); err != nil {
							return err
						}
						name := filepath.Join(out, strconv.FormatInt(c.Offset, 10))
						if err := writeDirect(name, p); err != nil {
							return err
						}
						names[w] = append(names[w], name)
					}
					return nil
				})
			}
			for _, c := range chunks {
				next <- c
			}
			close(next)
			if err := g.Wait(); err != nil {
				return err
			}
			for _, ns := range names {
				for _, name := range ns {
					if err := fsyncPath(name); err != nil {
						return err
					}
				}
			}
			return fsyncPath(out)
		})
		return d, processCPU() - cpu0, err
	}
}

func wireChunks(exts []diskbench.Extent) []diskbench.Extent {
	var chunks []diskbench.Extent
	for _, e := range exts {
		for off := e.Offset; off < e.Offset+e.Length; off += wireChunk {
			chunks = append(chunks, diskbench.Extent{Offset: off, Length: min(wireChunk, e.Offset+e.Length-off)})
		}
	}
	return chunks
}

// alignedChunk is a chunk buffer aligned as O_DIRECT needs.
func alignedChunk() []byte {
	raw := make([]byte, wireChunk+4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&raw[0]))%4096)) % 4096
	return raw[off : off+wireChunk]
}

type wireHashed struct {
	diskbench.Extent
	digest [32]byte
}

// wireHash reads and hashes the chunks with two goroutines per core, each into a
// buffer of its own, as hangar disk upload does.
func wireHash(path string, chunks []diskbench.Extent, out chan<- wireHashed) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	next := make(chan diskbench.Extent)
	var g errgroup.Group
	g.Go(func() error {
		defer close(next)
		for _, c := range chunks {
			next <- c
		}
		return nil
	})
	for range 2 * runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			buf := make([]byte, wireChunk)
			for c := range next {
				p := buf[:c.Length]
				if _, err := f.ReadAt(p, c.Offset); err != nil {
					return err
				}
				out <- wireHashed{c, sha256.Sum256(p)}
			}
			return nil
		})
	}
	return g.Wait()
}

// wireSend sends hashed chunks on one connection: a 40-byte header (length,
// digest), then the bytes from the file by sendfile, then waits for the server's
// byte. A zero length ends the connection.
func wireSend(addr, path string, in <-chan wireHashed) error {
	defer func() {
		for range in { // after a failure: let the hashers finish
		}
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr [40]byte
	ack := make([]byte, 1)
	for h := range in {
		binary.LittleEndian.PutUint64(hdr[:8], uint64(h.Length))
		copy(hdr[8:], h.digest[:])
		if _, err := c.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := f.Seek(h.Offset, io.SeekStart); err != nil {
			return err
		}
		if _, err := c.(*net.TCPConn).ReadFrom(io.LimitReader(f, h.Length)); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, ack); err != nil {
			return err
		}
	}
	clear(hdr[:])
	_, err = c.Write(hdr[:])
	return err
}

// wireReceive stores the chunks one connection brings, each in a file named by
// its digest, and returns the files' names.
func wireReceive(c net.Conn, out string) ([]string, error) {
	buf := alignedChunk()
	var names []string
	var hdr [40]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return names, err
		}
		n := int(binary.LittleEndian.Uint64(hdr[:8]))
		if n == 0 {
			return names, nil
		}
		p := buf[:n]
		if _, err := io.ReadFull(c, p); err != nil {
			return names, err
		}
		if sum := sha256.Sum256(p); !bytes.Equal(sum[:], hdr[8:]) {
			return names, errors.New("wire floor: digest mismatch")
		}
		name := filepath.Join(out, hex.EncodeToString(hdr[8:]))
		if err := writeDirect(name, p); err != nil {
			return names, err
		}
		names = append(names, name)
		if _, err := c.Write([]byte{1}); err != nil {
			return names, err
		}
	}
}

// writeDirect writes p to a new file with O_DIRECT when its length allows it.
func writeDirect(name string, p []byte) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if len(p)%4096 == 0 {
		flags |= syscall.O_DIRECT
	}
	f, err := os.OpenFile(name, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fsyncPath(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
