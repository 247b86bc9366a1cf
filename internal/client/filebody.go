package client

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// fileRange is a request body that is n bytes of a file from offset off. Over
// plain HTTP on Linux the transport sends it with sendfile(2): net.TCPConn's
// ReadFrom uses sendfile for any reader that exposes its descriptor
// (syscall.Conn) and sends from the descriptor's current position, which Seek
// keeps inside the range. The bytes then go from the page cache to the socket
// without being copied through this process: the upload's largest client cost
// after hashing was copying each chunk from its buffer into the socket (and,
// before that, into the transport's 32 KiB copy buffer).
//
// It is an io.ReadSeeker, so the retrying transport rewinds it for a retry
// (Seek(0, io.SeekStart)) instead of reading it into a copy. Close does nothing,
// since the transport closes a body after each attempt; release closes the file
// once the request is over (a descriptor still in use by a transport goroutine
// stays open until that use ends: os.File reference-counts it).
type fileRange struct {
	f      *os.File
	off, n int64
	// viaRead counts the bytes that went through Read rather than sendfile.
	viaRead int64
}

// openFileRange opens path for a body of n bytes from off.
func openFileRange(path string, off, n int64) (*fileRange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &fileRange{f: f, off: off, n: n}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Read reads from the descriptor's position, never past the range's end. The
// transport reads a little this way (to fill the buffer behind the headers)
// before it hands the rest to sendfile, which moves the same position.
func (r *fileRange) Read(p []byte) (int, error) {
	pos, err := r.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	left := r.off + r.n - pos
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.f.Read(p)
	r.viaRead += int64(n)
	return n, err
}

// Seek moves within the range; offsets are relative to its start.
func (r *fileRange) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		pos, err := r.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		offset += pos - r.off
	case io.SeekEnd:
		offset += r.n
	default:
		return 0, errors.New("fileRange: bad whence")
	}
	if offset < 0 || offset > r.n {
		return 0, errors.New("fileRange: seek outside the range")
	}
	if _, err := r.f.Seek(r.off+offset, io.SeekStart); err != nil {
		return 0, err
	}
	return offset, nil
}

// Len is what is left to read; go-retryablehttp asks for it.
func (r *fileRange) Len() int {
	pos, err := r.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0
	}
	return int(max(r.off+r.n-pos, 0))
}

// SyscallConn exposes the descriptor, which is what makes sendfile possible.
func (r *fileRange) SyscallConn() (syscall.RawConn, error) { return r.f.SyscallConn() }

// Close does nothing: see release.
func (r *fileRange) Close() error { return nil }

func (r *fileRange) release() { r.f.Close() }
