package netstack

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// Frame sizes QEMU may send on its stream netdev: an Ethernet header at least; at
// most a 64 KiB frame (a guest may raise its MTU; virtio-net sends no larger).
const (
	minFrame = 14
	maxFrame = 65536 + 18
)

// frameConn checks QEMU's stream framing before the switch reads it: the switch
// allocates whatever length a frame header claims and indexes the Ethernet header
// without checking, so a QEMU a guest took over could otherwise make hangar serve
// allocate 4 GiB or panic. A frame too long ends the connection; one too short to
// be Ethernet is dropped.
type frameConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte // the rest of the current frame, with its header
}

func newFrameConn(c net.Conn) *frameConn {
	return &frameConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
}

func (c *frameConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		frame, err := readFrame(c.r)
		if err != nil {
			return 0, err
		}
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// readFrame reads the next acceptable frame, header included; frames too short to
// be Ethernet are skipped.
func readFrame(r io.Reader) ([]byte, error) {
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size > maxFrame {
			return nil, fmt.Errorf("netstack: QEMU sent a frame of %d bytes, more than any Ethernet frame", size)
		}
		frame := make([]byte, 4+size)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(r, frame[4:]); err != nil {
			return nil, err
		}
		if size >= minFrame {
			return frame, nil
		}
	}
}
