package netstack

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/tap"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// port joins the gateway's link endpoint to QEMU's connection: the network's one
// Ethernet port. It stands where gvisor-tap-vsock's tap.Switch would: a VM's network
// has a single guest, so there is nothing to switch, and the Switch (v0.8.9) can
// panic, taking hangar serve down, when a frame goes out while a connection closes
// (its CAM may name a connection it already dropped).
type port struct {
	link *tap.LinkEndpoint

	mu   sync.Mutex
	conn net.Conn // the current QEMU connection; nil between connections
}

// writeTimeout bounds a frame's write to QEMU: a QEMU that stops reading loses its
// connection (hangar serve connects again) rather than stalling the stack.
const writeTimeout = 10 * time.Second

// DeliverNetworkPacket sends a frame of the gateway to the guest (tap.NetworkSwitch).
// Without a connection the frame is dropped, as on a wire without a peer.
func (p *port) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	view := pkt.ToView()
	defer view.Release()
	frame := view.AsSlice()
	buf := make([]byte, 4+len(frame))
	binary.BigEndian.PutUint32(buf, uint32(len(frame)))
	copy(buf[4:], frame)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return
	}
	p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := p.conn.Write(buf); err != nil {
		// A frame cut short breaks QEMU's framing: this connection is done.
		p.conn.Close()
		p.conn = nil
	}
}

// serve carries one QEMU connection until it ends or ctx ends: frames from the guest
// to the gateway's stack, and the stack's frames back (DeliverNetworkPacket). A new
// connection replaces the previous one.
func (p *port) serve(ctx context.Context, conn net.Conn) error {
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn = conn
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.conn == conn {
			p.conn = nil
		}
		p.mu.Unlock()
		conn.Close()
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReaderSize(conn, 64<<10)
	gw := p.link.LinkAddress()
	for {
		frame, err := readFrame(r)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return ctx.Err()
			}
			return err
		}
		eth := header.Ethernet(frame[4:])
		if dst := eth.DestinationAddress(); dst != gw && dst != header.EthernetBroadcastAddress {
			continue // nobody else is on this link
		}
		data := buffer.MakeWithData(frame[4+header.EthernetMinimumSize:])
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: data})
		p.link.DeliverNetworkPacket(eth.Type(), pkt)
		pkt.DecRef()
	}
}
