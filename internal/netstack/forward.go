package netstack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/services/forwarder"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	// maxPendingTCP bounds the guest's connection attempts being dialed at once;
	// SYNs beyond it are dropped (the guest retries).
	maxPendingTCP = 64
	dialTimeout   = 15 * time.Second
	// maxFlows bounds a VM's connections and UDP flows out at once: each holds a
	// socket of hangar serve, and a guest must not exhaust the host's.
	maxFlows = 1024
	// udpIdle ends a UDP flow nobody used for this long.
	udpIdle = forwarder.UDPConnTrackTimeout
)

// forwardTCP is the gateway's answer to a guest's TCP connection to an address the
// network does not serve: refused (reset) unless the policy lets the guest reach
// it, then joined to a host connection to the same address and port.
func (n *Network) forwardTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	dst := netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort)
	if err := n.cfg.Policy.Check(n.cfg.Egress, dst.Addr()); err != nil {
		n.log.Debug("guest connection refused", "proto", "tcp", "dst", dst, "reason", err)
		r.Complete(true)
		return
	}
	if !n.takeFlow() {
		r.Complete(true)
		return
	}
	defer n.releaseFlow()
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	out, err := n.cfg.Policy.dial(ctx, "tcp", dst)
	cancel()
	if err != nil {
		n.log.Debug("guest connection failed", "proto", "tcp", "dst", dst, "err", err)
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	r.Complete(false)
	if terr != nil {
		out.Close()
		return
	}
	n.splice(gonet.NewTCPConn(&wq, ep), out)
}

// forwardUDP is forwardTCP for UDP: a flow the policy allows is relayed through a
// host socket connected to its destination until it is idle; others are dropped.
// Broadcasts (DHCP is served before this) go nowhere.
func (n *Network) forwardUDP(r *udp.ForwarderRequest) {
	id := r.ID()
	dst := netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort)
	if err := n.cfg.Policy.Check(n.cfg.Egress, dst.Addr()); err != nil {
		n.log.Debug("guest datagram dropped", "proto", "udp", "dst", dst, "reason", err)
		return
	}
	if !n.takeFlow() {
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		n.releaseFlow()
		return
	}
	guest := &idleUDPConn{gonet.NewUDPConn(&wq, ep)}
	p, _ := forwarder.NewUDPProxy(guest, func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
		defer cancel()
		return n.cfg.Policy.dial(ctx, "udp", dst)
	})
	// Run ends when the flow is idle or the network's stack closes the endpoint.
	go func() {
		defer n.releaseFlow()
		p.Run()
		p.Close()
		ep.Close()
	}()
}

// takeFlow reserves one of the VM's flows; false (and a warning, once per burst)
// when all are in use.
func (n *Network) takeFlow() bool {
	select {
	case n.flows <- struct{}{}:
		return true
	default:
		if n.flowsFull.CompareAndSwap(false, true) {
			n.log.Warn("the guest has too many connections out at once; new ones are refused", "max", maxFlows)
		}
		return false
	}
}

func (n *Network) releaseFlow() {
	<-n.flows
	n.flowsFull.Store(false)
}

// idleUDPConn ends a UDP relay once neither side sent for udpIdle.
type idleUDPConn struct{ *gonet.UDPConn }

func (c *idleUDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.SetReadDeadline(time.Now().Add(udpIdle))
	return c.UDPConn.ReadFrom(b)
}

func (c *idleUDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.SetReadDeadline(time.Now().Add(udpIdle))
	return c.UDPConn.WriteTo(b, addr)
}

// splice copies both ways between two connections until both directions end or the
// network closes, then closes them. A direction's end is passed on as a half-close
// where the connection has one.
func (n *Network) splice(a, b net.Conn) {
	stop := context.AfterFunc(n.ctx, func() { a.Close(); b.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

func addrFrom(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip.Unmap()
}
