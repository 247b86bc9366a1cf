package diskfmt

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the window a zstd frame may ask for, and so the
// memory one decompression takes. qemu compresses one cluster (2 MiB at
// most) per frame, so its frames never need more than the cluster size.
const zstdMaxWindow = 4 << 20

// zstdDecoders keeps zstd decoders for reuse (each holds some buffers). They
// decode synchronously, without goroutines, so one dropped by the pool
// needs no Close.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		panic("diskfmt: zstd decoder options: " + err.Error())
	}
	return d
}}

// unzstd decodes the zstd frame at the start of in into out and returns the
// number of bytes it filled. It reads no more than len(out) bytes of output,
// whatever the frame claims, and stops there: the bytes of in after the
// frame are never looked at unless the frame is shorter than out. A short
// or bad frame gives n < len(out) and the decoder's error.
func unzstd(in, out []byte) (n int, err error) {
	d := zstdDecoders.Get().(*zstd.Decoder)
	defer func() {
		d.Reset(nil) //nolint:errcheck // drops the reference to in
		zstdDecoders.Put(d)
	}()
	// A *bytes.Reader (not a *bytes.Buffer, which the decoder would decode
	// whole, frames after the first included) makes the decoder stream.
	if err := d.Reset(bytes.NewReader(in)); err != nil {
		return 0, err
	}
	return io.ReadFull(d, out)
}
