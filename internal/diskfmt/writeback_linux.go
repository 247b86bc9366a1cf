package diskfmt

import (
	"io"
	"syscall"
)

// writebackEvery is how many bytes are written between two requests to start
// writing the output file back to disk.
const writebackEvery = 32 << 20

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the dirty
// pages of the range that are not already being written, without waiting.
const syncFileRangeWrite = 2

// writeback starts writing a file back to disk while it is still being
// written. The kernel would otherwise keep the pages dirty until the caller's
// fsync (or the 30-second flusher), and then write them all at once; started
// early, the disk works while the copy goes on and the fsync only waits for
// the tail. It is a hint: failures are ignored, and any fsync the caller does
// still decides durability.
//
// The requests are made by a goroutine of their own, because submitting the
// writes takes the kernel some CPU: the copy goes on meanwhile on another core.
type writeback struct {
	kick    chan struct{} // nil: w is not a file
	done    chan struct{}
	pending int
}

func startWriteback(w io.Writer) *writeback {
	b := &writeback{}
	sc, ok := w.(syscall.Conn)
	if !ok {
		return b
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return b
	}
	b.kick, b.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(b.done)
		for range b.kick {
			rc.Control(func(fd uintptr) { //nolint:errcheck // a hint
				syscall.SyncFileRange(int(fd), 0, 0, syncFileRangeWrite) //nolint:errcheck // a hint
			})
		}
	}()
	return b
}

// wrote records n more bytes written.
func (b *writeback) wrote(n int) {
	if b.kick == nil {
		return
	}
	b.pending += n
	if b.pending >= writebackEvery {
		b.pending = 0
		select {
		case b.kick <- struct{}{}:
		default: // a request is pending already
		}
	}
}

// stop ends the goroutine and waits for it, so that it never touches the
// file after the writer returns.
func (b *writeback) stop() {
	if b.kick != nil {
		close(b.kick)
		<-b.done
	}
}
