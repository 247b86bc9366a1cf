package netstack

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// FuzzFrames: whatever QEMU's side of the socket sends, frameConn passes on only
// whole frames of an acceptable size, in QEMU's framing, and never panics.
func FuzzFrames(f *testing.F) {
	frame := func(n int) []byte {
		b := make([]byte, 4+n)
		binary.BigEndian.PutUint32(b, uint32(n))
		return b
	}
	f.Add(frame(60))
	f.Add(append(frame(3), frame(1514)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		var out []byte
		for {
			frame, err := readFrame(src)
			if err != nil {
				break
			}
			size := binary.BigEndian.Uint32(frame)
			if int(size) != len(frame)-4 || size < minFrame || size > maxFrame {
				t.Fatalf("passed a frame of %d bytes claiming %d", len(frame)-4, size)
			}
			out = append(out, frame...)
		}
		// What passed is itself well framed.
		rest := bytes.NewReader(out)
		for rest.Len() > 0 {
			if _, err := readFrame(rest); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
	})
}
