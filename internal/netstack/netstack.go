// Package netstack is each VM's own user-mode network, run inside hangar serve: a
// virtual Ethernet with a gateway that serves DHCP and DNS, forwards the guest's
// connections out under Hangar's egress policy, forwards a loopback port of the
// host to the guest's SSH port, and serves in-process handlers at fixed
// guest-visible addresses (Azure's WireServer and IMDS).
//
// It replaces QEMU's slirp, under which 10.0.2.2 is the host's 127.0.0.1: every
// guest could reach Hangar's API, a local database and other tenants' SSH forwards.
// Here the gateway is a gVisor network stack, composed from gvisor-tap-vsock's parts
// (its link endpoint, the gVisor stack, its DNS service and UDP proxy) by hand rather
// than with virtualnetwork.New: the library's forwarders dial any destination but
// link-local ones, the guest's way back to the host's own addresses, so Hangar's own
// forwarders (forward.go) check every destination against Policy first; and its
// switch can crash the process when a connection closes (port.go).
//
// Transport. QEMU runs the VM's NIC as -netdev stream,server=on on a unix socket
// and hangar serve connects to it (QEMU's framing: a 4-byte big-endian length, then
// one Ethernet frame). QEMU listens, not Hangar, because VMs outlive hangar serve:
// QEMU 7.2 (Debian 12) goes back to listening when its client goes away (checked on
// this machine by killing the client with SIGKILL and connecting again: the guest
// kept its lease and answered), whereas a stream client (server=off) stays
// disconnected for good until QEMU 8's reconnect option. A restarted or re-adopting
// hangar serve therefore connects again and the guest's network works on. QEMU
// makes the socket before it drops privileges (-runas), in the VM's socket
// directory, which only hangar serve's user enters. A datagram transport (-netdev
// dgram) would survive restarts too, but QEMU, once unprivileged, would need
// permission to send to a socket of Hangar's.
//
// Every network has the same addresses (Azure's shape): the guest is 10.0.0.4/24,
// the gateway 10.0.0.1 (DNS too), and each VM has a network of its own, so guests
// never see each other.
package netstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/tap"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The addresses of every VM's network.
var (
	Subnet  = netip.MustParsePrefix("10.0.0.0/24")
	Gateway = netip.MustParseAddr("10.0.0.1")
	GuestIP = netip.MustParseAddr("10.0.0.4")
	// PlatformAddrs are the addresses at which Hangar may serve handlers (Azure's
	// WireServer and IMDS). The gateway answers ARP for them too, for guests that
	// route them on the link rather than through the gateway.
	PlatformAddrs = []netip.Addr{netip.MustParseAddr("168.63.129.16"), netip.MustParseAddr("169.254.169.254")}
)

// GuestMAC is the MAC address QEMU gives the guest's NIC.
const GuestMAC = "52:54:00:12:34:56"

const (
	gatewayMAC = "52:54:00:12:34:01"
	mtu        = 1500
	nic        = tcpip.NICID(1)
	leaseTime  = time.Hour
)

// Config is one VM's network.
type Config struct {
	Egress hangar.Egress
	Policy *Policy // the host's rules; shared by every VM of a host
	Log    *slog.Logger
	// Resolver answers the guest's DNS queries (egress internet only); nil for the
	// host's resolver.
	Resolver Resolver
}

// Network is one VM's network. Its methods are safe for concurrent use.
type Network struct {
	cfg    Config
	log    *slog.Logger
	stack  *stack.Stack
	port   *port
	dhcp   *dhcpServer
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	// flows holds a token per connection or UDP flow forwarded out (maxFlows).
	flows     chan struct{}
	flowsFull atomic.Bool

	mu      sync.Mutex
	closers []func() // listeners and servers to end on Close
	closed  bool
}

// New builds a VM's network. Frames flow once Serve carries a QEMU connection.
func New(cfg Config) (*Network, error) {
	if cfg.Policy == nil {
		return nil, errors.New("netstack: no policy")
	}
	if cfg.Egress == "" {
		cfg.Egress = hangar.EgressInternet
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	virtualIPs := make([]string, 0, len(PlatformAddrs))
	for _, a := range PlatformAddrs {
		virtualIPs = append(virtualIPs, a.String())
	}
	link, err := tap.NewLinkEndpoint(false, mtu, gatewayMAC, Gateway.String(), virtualIPs)
	if err != nil {
		return nil, err
	}
	p := &port{link: link}
	link.Connect(p)
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		// No ICMP transport: pings are not forwarded anywhere.
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := s.CreateNIC(nic, link); err != nil {
		return nil, fmt.Errorf("netstack: %s", err)
	}
	if err := s.AddProtocolAddress(nic, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(Gateway.As4()).WithPrefix(),
	}, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("netstack: %s", err)
	}
	// Promiscuous and spoofing: the gateway takes packets for any destination (the
	// forwarders decide what becomes of them) and answers from that address.
	s.SetPromiscuousMode(nic, true)
	s.SetSpoofing(nic, true)
	sub, err := tcpip.NewSubnet(tcpip.AddrFrom4(Subnet.Addr().As4()), tcpip.MaskFromBytes(net.CIDRMask(Subnet.Bits(), 32)))
	if err != nil {
		return nil, err
	}
	s.SetRouteTable([]tcpip.Route{{Destination: sub, NIC: nic}})

	ctx, cancel := context.WithCancel(context.Background())
	n := &Network{cfg: cfg, log: cfg.Log, stack: s, port: p, ctx: ctx, cancel: cancel, flows: make(chan struct{}, maxFlows)}
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcp.NewForwarder(s, 0, maxPendingTCP, n.forwardTCP).HandlePacket)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, udp.NewForwarder(s, n.forwardUDP).HandlePacket)
	if n.dhcp, err = n.startDHCP(); err != nil {
		n.Close()
		return nil, err
	}
	if cfg.Egress == hangar.EgressInternet {
		if err := n.startDNS(); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Serve carries the Ethernet frames of one QEMU connection (-netdev stream) until
// it ends, ctx ends or the network is closed. A VM's network outlives its
// connections: after hangar serve restarts, QEMU accepts a new one.
func (n *Network) Serve(ctx context.Context, conn net.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()
	return n.port.serve(ctx, conn)
}

// Listen opens a TCP listener at a guest-visible address, such as Azure's IMDS at
// 169.254.169.254:80. The guest's connections to it never leave the process, and
// they reach it whatever the VM's egress. It closes with the network.
func (n *Network) Listen(addr netip.AddrPort) (net.Listener, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("netstack: %s: only IPv4 addresses can be served", addr)
	}
	ln, err := gonet.ListenTCP(n.stack, tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(addr.Addr().As4()), Port: addr.Port()}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen on %s: %w", addr, err)
	}
	if !n.onClose(func() { ln.Close() }) {
		ln.Close()
		return nil, net.ErrClosed
	}
	return ln, nil
}

// HandleHTTP serves h at a guest-visible address until the network closes.
func (n *Network) HandleHTTP(addr netip.AddrPort, h http.Handler) error {
	ln, err := n.Listen(addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelDebug)}
	n.onClose(func() { srv.Close() })
	go srv.Serve(ln)
	return nil
}

// SetDHCPOption adds an option to every later DHCP offer and acknowledgement, such
// as option 245, which tells Azure's agents the WireServer's address. An empty value
// removes it.
func (n *Network) SetDHCPOption(code uint8, value []byte) {
	n.dhcp.setOption(code, value)
}

// DialGuest opens a TCP connection to the guest's port, from the gateway's address.
func (n *Network) DialGuest(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := gonet.DialContextTCP(ctx, n.stack, tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(GuestIP.As4()), Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err // not c: a nil *TCPConn in a net.Conn is not nil
	}
	return c, nil
}

// ForwardHost joins every connection accepted on ln, a socket of the host (the VM's
// SSH port on 127.0.0.1), to the guest's port. It returns at once; forwarding ends
// when ln or the network is closed.
func (n *Network) ForwardHost(ln net.Listener, port uint16) {
	if !n.onClose(func() { ln.Close() }) {
		ln.Close()
		return
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
				g, err := n.DialGuest(ctx, port)
				cancel()
				if err != nil {
					n.log.Debug("host forward: the guest does not answer", "port", port, "err", err)
					c.Close()
					return
				}
				n.splice(c, g)
			}()
		}
	}()
}

// Close ends the network: its listeners, forwards, services and connections.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	closers := n.closers
	n.closers = nil
	n.mu.Unlock()
	n.cancel()
	for _, c := range closers {
		c()
	}
	n.stack.Close()
	return nil
}

// onClose registers f to run on Close; false if the network is closed already.
func (n *Network) onClose(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.closers = append(n.closers, f)
	return true
}
