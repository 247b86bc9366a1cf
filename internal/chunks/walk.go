package chunks

import (
	"context"
	"fmt"
	"io"
)

// Span is a range of a virtual disk that may hold data; everything outside the spans
// given to Walk reads as zeros and is never read.
type Span struct {
	Offset, Length int64
}

// Walk reads, in offset order, every chunk of a virtual disk of virtualSize bytes that
// overlaps an allocated span, and calls fn with its offset and bytes unless they are
// all zero. The bytes are only valid during the call. Walk holds one chunk in memory.
func Walk(ctx context.Context, r io.ReaderAt, virtualSize int64, allocated []Span, fn func(off int64, data []byte) error) error {
	buf := make([]byte, ChunkSize)
	next := int64(0) // first chunk offset not yet visited
	for _, s := range allocated {
		if s.Length <= 0 {
			continue
		}
		if s.Offset < 0 || s.Offset+s.Length > virtualSize {
			return fmt.Errorf("allocated range %d+%d lies outside the disk of %d bytes", s.Offset, s.Length, virtualSize)
		}
		first := max(s.Offset/ChunkSize*ChunkSize, next)
		for off := first; off < s.Offset+s.Length; off += ChunkSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			data := buf[:ChunkLen(off, virtualSize)]
			if _, err := r.ReadAt(data, off); err != nil && err != io.EOF {
				return fmt.Errorf("read at offset %d: %w", off, err)
			}
			next = off + ChunkSize
			if IsZero(data) {
				continue
			}
			if err := fn(off, data); err != nil {
				return err
			}
		}
	}
	return nil
}
