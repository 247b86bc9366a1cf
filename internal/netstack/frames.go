package netstack

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame sizes QEMU may send on its stream netdev: an Ethernet header at least; at
// most a 64 KiB frame (a guest may raise its MTU; virtio-net sends no larger).
const (
	minFrame = 14
	maxFrame = 65536 + 18
)

// readFrame reads the next frame of QEMU's framing, header included, checked: a QEMU
// that a guest took over must not make hangar serve allocate what a header claims
// (up to 4 GiB), nor hand the stack a frame too short to be Ethernet. Frames too
// short are skipped; a frame too long ends the connection.
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
