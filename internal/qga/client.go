package qga

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options bound what a Client reads from the guest. Zero values take the defaults.
type Options struct {
	// MaxReply bounds one answer line (default 4 MiB); a longer one is read to
	// its end and dropped.
	MaxReply int
	// MaxRead bounds the bytes read for one command, stale lines and garbage
	// included (default 4 × MaxReply).
	MaxRead int64
	// Timeout bounds one command, sync included, when the caller's context allows
	// more (default 30 s).
	Timeout time.Duration
}

const (
	defaultMaxReply = 4 << 20
	defaultTimeout  = 30 * time.Second
)

// ErrClosed is returned by a Client after Close.
var ErrClosed = errors.New("qga: client closed")

// Client is a connection to one guest agent. Its methods may be called from
// several goroutines; commands go one at a time, as the agent runs them.
type Client struct {
	conn   net.Conn
	opts   Options
	prefix string // of this connection's command ids

	mu     sync.Mutex
	lr     *lineReader
	n      uint64 // commands sent
	synced bool   // the stream is known to be at a line boundary after our last answer
	closed atomic.Bool
}

// New returns a client on conn. It does no I/O: its first command syncs.
func New(conn net.Conn, opts Options) *Client {
	if opts.MaxReply <= 0 {
		opts.MaxReply = defaultMaxReply
	}
	if opts.MaxRead <= 0 {
		opts.MaxRead = 4 * int64(opts.MaxReply)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	var b [6]byte
	rand.Read(b[:])
	return &Client{conn: conn, opts: opts, prefix: "hangar-" + hex.EncodeToString(b[:]),
		lr: &lineReader{r: bufio.NewReaderSize(conn, 64<<10), max: opts.MaxReply}}
}

// Dial connects to the agent's unix socket at path (on the host: QEMU's chardev)
// and syncs with the agent.
func Dial(ctx context.Context, path string, opts Options) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qga: connect %s: %w", path, err)
	}
	c := New(conn, opts)
	if err := c.Sync(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection; a command under way ends at once, with an error.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.conn.Close()
}

// Sync makes sure the next answer read is the agent's answer to this client's
// next command (see the package comment).
func (c *Client) Sync(ctx context.Context) error {
	return c.locked(ctx, "guest-sync-delimited", c.sync)
}

// locked runs f with the connection to itself, under a deadline of ctx and
// Options.Timeout: when ctx ends, the connection's deadline passes at once, which
// interrupts f's reads and writes. A failure leaves the stream at an unknown
// place: the next command syncs first.
func (c *Client) locked(ctx context.Context, cmd string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	c.conn.SetDeadline(dl)
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted // it runs: let it finish before the next command sets its deadline
		}
	}()
	c.lr.budget = c.opts.MaxRead
	err := f()
	if err == nil {
		return nil
	}
	var ge *Error
	if !errors.As(err, &ge) {
		c.synced = false
	}
	if c.closed.Load() {
		return fmt.Errorf("qga: %s: %w", cmd, ErrClosed)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Only ctx sets the connection's deadlines; its own timer may not have
		// fired yet.
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		err = fmt.Errorf("qga: %s: no answer from the guest agent: %w", cmd, cause)
	}
	return err
}

// sync sends 0xFF and guest-sync-delimited with a random id, then skips
// everything up to a 0xFF followed by the answer with that id.
func (c *Client) sync() error {
	var b [8]byte
	rand.Read(b[:])
	id := int64(binary.BigEndian.Uint64(b[:]) >> 12) // exact in a JSON number read as a double, positive
	req, _ := json.Marshal(map[string]any{"execute": "guest-sync-delimited", "arguments": map[string]int64{"id": id}})
	if _, err := c.conn.Write(append(append([]byte{delimiter}, req...), '\n')); err != nil {
		return fmt.Errorf("qga: guest-sync-delimited: %w", err)
	}
	var long error
	for {
		if err := c.lr.skipToDelimiter(); err != nil {
			return c.readError("guest-sync-delimited", err, long)
		}
		line, err := c.lr.line()
		var ll *errLongLine
		if errors.As(err, &ll) {
			long = err
			continue
		}
		if err != nil {
			return c.readError("guest-sync-delimited", err, long)
		}
		r, err := parseReply(line)
		if err != nil || r.Error != nil {
			continue // a stale answer, or garbage
		}
		var got int64
		if json.Unmarshal(r.Return, &got) == nil && got == id {
			c.synced = true
			return nil
		}
	}
}

// readError says why no answer came: the last oversized line if there was one
// (an honest agent's answer too big for Options.MaxReply), else err.
func (c *Client) readError(cmd string, err, long error) error {
	if long != nil {
		return fmt.Errorf("qga: %s: %w (and then: %v)", cmd, long, err)
	}
	return fmt.Errorf("qga: %s: %w", cmd, err)
}

// Execute runs a command with optional arguments and decodes its return value
// into out (unless nil). An error answer of the agent is an *Error.
func (c *Client) Execute(ctx context.Context, cmd string, args, out any) error {
	return c.locked(ctx, cmd, func() error {
		if !c.synced {
			if err := c.sync(); err != nil {
				return err
			}
		}
		return c.exchange(cmd, args, out)
	})
}

// exchange writes one command and reads up to its answer, skipping lines that
// are not an answer with its id.
func (c *Client) exchange(cmd string, args, out any) error {
	c.n++
	id := c.prefix + "-" + strconv.FormatUint(c.n, 10)
	req := map[string]any{"execute": cmd, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("qga: %s: %w", cmd, err)
	}
	var long error
	for {
		line, err := c.lr.line()
		var ll *errLongLine
		if errors.As(err, &ll) {
			long = err
			continue
		}
		if err != nil {
			return c.readError(cmd, err, long)
		}
		r, err := parseReply(line)
		if err != nil {
			continue
		}
		var got string
		if json.Unmarshal(r.ID, &got) != nil || got != id {
			continue // stale, or another client's
		}
		if r.Error != nil {
			return r.Error
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(r.Return, out); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrProtocol, cmd, err)
		}
		return nil
	}
}
