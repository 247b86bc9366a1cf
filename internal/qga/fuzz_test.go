package qga

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	`{"return": {"pid": 12}, "id": "hangar-000000000000-1"}` + "\n",
	"\xff{\"return\": 42}\n",
	`{"return": {"exitcode": 3, "err-data": "ZXJyCg==", "out-data": "aGVsbG8K", "err-truncated": false, "out-truncated": true, "exited": true}, "id": "hangar-000000000000-1"}` + "\n",
	`{"id": "x", "error": {"class": "GenericError", "desc": "Invalid parameter 'pid'"}}` + "\n",
	"garbage\n\xff\xff{}\n{\"return\": 1}{\"return\": 2}\n" + strings.Repeat("A", 300) + "\n",
	`{"return": {"signal": 9, "exited": true, "out-data": "!!"}}`,
}

// FuzzReply feeds arbitrary bytes to the client's line reader and answer parser,
// with a small line limit: nothing panics, no line passed on is longer than the
// limit, an answer has return or error but not both, and the guest's error words
// stay within their bound.
func FuzzReply(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 128
		lr := &lineReader{r: bufio.NewReaderSize(bytes.NewReader(data), 16), max: limit, budget: 1 << 20}
		for {
			line, err := lr.line()
			var long *errLongLine
			if errors.As(err, &long) {
				continue
			}
			if err != nil {
				if err != io.EOF {
					t.Fatalf("reader error %v", err)
				}
				return
			}
			if len(line) > limit {
				t.Fatalf("a line of %d bytes passed a limit of %d", len(line), limit)
			}
			r, err := parseReply(line)
			if err != nil {
				continue
			}
			if (r.Return == nil) == (r.Error == nil) {
				t.Fatalf("answer %q: return %q, error %v", line, r.Return, r.Error)
			}
			if r.Error != nil && len(r.Error.Desc) > maxErrorText+len("…") {
				t.Fatalf("an error description of %d bytes", len(r.Error.Desc))
			}
			var s ExecStatus
			json.Unmarshal(r.Return, &s)
		}
	})
}

// streamConn is a connection whose peer wrote data and then went silent; what
// the client writes is dropped.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }
func (c *streamConn) Close() error                     { return nil }

// FuzzClientStream gives a client arbitrary bytes as everything the guest ever
// says: every command ends, with an error or an answer, without a panic.
func FuzzClientStream(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New(&streamConn{r: bytes.NewReader(data)}, Options{MaxReply: 128, MaxRead: 4096})
		c.synced = true // else no random sync number matches and nothing past the sync is read
		c.prefix = "hangar-000000000000"
		s, err := c.ExecStatus(context.Background(), 1)
		if err == nil && len(s.Stdout)+len(s.Stderr) > 128 {
			t.Fatalf("outputs of %d bytes from answers of 128", len(s.Stdout)+len(s.Stderr))
		}
		c.Exec(context.Background(), Exec{Path: "/bin/true"})
	})
}
