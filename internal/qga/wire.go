package qga

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hangarvm/hangar/internal/hangar"
)

// delimiter precedes the answer to guest-sync-delimited; sent by the host, it
// makes the agent drop a half-read command.
const delimiter = 0xFF

// ErrProtocol is wrapped by the errors of answers the client cannot use: not one
// JSON object, longer than Options.MaxReply, or no answer within Options.MaxRead
// bytes.
var ErrProtocol = errors.New("qga: protocol error")

// Error is the agent's error answer to a command. Class and Desc are the guest's
// words, cut to bounds.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return "qga: " + e.Class + ": " + e.Desc }

// maxErrorText bounds the guest's words kept in an Error.
const maxErrorText = 512

// reply is one answer line as the client reads it.
type reply struct {
	ID     json.RawMessage `json:"id"`
	Return json.RawMessage `json:"return"`
	Error  *Error          `json:"error"`
}

// parseReply decodes one line: exactly one JSON object holding either "return"
// or "error". Leading 0xFF bytes (the delimiter of a sync answer) are skipped.
func parseReply(line []byte) (reply, error) {
	line = bytes.TrimLeft(line, "\xff")
	var r reply
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&r); err != nil {
		return reply{}, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return reply{}, fmt.Errorf("%w: data after the JSON object", ErrProtocol)
	}
	switch {
	case r.Error != nil && r.Return != nil:
		return reply{}, fmt.Errorf("%w: an answer with both return and error", ErrProtocol)
	case r.Error != nil:
		r.Error.Class, r.Error.Desc = hangar.Clip(r.Error.Class, 64), hangar.Clip(r.Error.Desc, maxErrorText)
	case r.Return == nil:
		return reply{}, fmt.Errorf("%w: an answer with neither return nor error", ErrProtocol)
	}
	return r, nil
}

// lineReader reads the agent's lines, never holding more than max bytes of one
// and never reading more than budget bytes in all (reset per command).
type lineReader struct {
	r      *bufio.Reader
	max    int
	budget int64
}

// errLongLine is a line longer than the reader's max: it was read to its end and
// dropped.
type errLongLine struct{ n int64 }

func (e *errLongLine) Error() string {
	return fmt.Sprintf("%v: an answer of %d bytes or more passed the limit", ErrProtocol, e.n)
}

func (e *errLongLine) Unwrap() error { return ErrProtocol }

// errBudget says the reader read its budget without finding the answer.
var errBudget = fmt.Errorf("%w: no answer within the bytes read for one command", ErrProtocol)

// slice reads up to and including delim, charging the budget.
func (lr *lineReader) slice(delim byte) ([]byte, error) {
	if lr.budget <= 0 {
		return nil, errBudget
	}
	chunk, err := lr.r.ReadSlice(delim)
	lr.budget -= int64(len(chunk))
	return chunk, err
}

// line returns the next line without its newline. A line longer than max is
// consumed and reported as an *errLongLine.
func (lr *lineReader) line() ([]byte, error) {
	var line []byte
	var n int64
	over := false
	for {
		chunk, err := lr.slice('\n')
		n += int64(len(chunk))
		if !over {
			if len(line)+len(chunk) > lr.max+1 { // +1: the newline
				over, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			if over {
				return nil, &errLongLine{n: n}
			}
			return bytes.TrimSuffix(line, []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// skipToDelimiter consumes everything up to and including the next 0xFF byte.
func (lr *lineReader) skipToDelimiter() error {
	for {
		_, err := lr.slice(delimiter)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}
