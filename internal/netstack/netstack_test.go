package netstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/tap"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/hangarvm/hangar/internal/hangar"
)

// guest is a test guest: a gVisor stack at GuestIP behind a socket that speaks QEMU's
// stream framing and, like QEMU with -netdev stream,server=on, accepts one network
// connection after another.
type guest struct {
	t     *testing.T
	stack *stack.Stack
	sock  string
}

func newGuest(t *testing.T) *guest {
	t.Helper()
	link, err := tap.NewLinkEndpoint(false, mtu, GuestMAC, GuestIP.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &port{link: link} // the guest's end of the wire, QEMU's part
	link.Connect(p)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := s.CreateNIC(nic, link); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(nic, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(GuestIP.As4()), PrefixLen: Subnet.Bits()}}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	sub, _ := tcpip.NewSubnet(tcpip.AddrFrom4(Subnet.Addr().As4()), tcpip.MaskFromBytes(net.CIDRMask(Subnet.Bits(), 32)))
	s.SetRouteTable([]tcpip.Route{{Destination: sub, NIC: nic}, {Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(Gateway.As4()), NIC: nic}})
	g := &guest{t: t, stack: s, sock: filepath.Join(t.TempDir(), "net.sock")}
	ln, err := net.Listen("unix", g.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ln.Close(); s.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(ctx, c) // one connection at a time, as QEMU
		}
	}()
	return g
}

// attach connects a network to the guest, as hangar serve does to QEMU's socket.
func (g *guest) attach(n *Network) {
	g.t.Helper()
	c, err := net.Dial("unix", g.sock)
	if err != nil {
		g.t.Fatal(err)
	}
	go n.Serve(context.Background(), c)
}

func (g *guest) dial(dst netip.AddrPort) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.stack, tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(dst.Addr().As4()), Port: dst.Port()}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (g *guest) udp(dst netip.AddrPort) *gonet.UDPConn {
	g.t.Helper()
	c, err := gonet.DialUDP(g.stack, nil, &tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(dst.Addr().As4()), Port: dst.Port()}, ipv4.ProtocolNumber)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { c.Close() })
	return c
}

// logs records a network's log messages.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

func (l *logs) waitFor(t *testing.T, substr string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		l.mu.Lock()
		for _, m := range l.msgs {
			if strings.Contains(m, substr) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the network never logged %q; it logged %q", substr, l.msgs)
}

func newNetwork(t *testing.T, egress hangar.Egress, p *Policy) (*Network, *logs) {
	t.Helper()
	l := &logs{}
	n, err := New(Config{Egress: egress, Policy: p, Log: slog.New(l)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, l
}

// hostPolicy lets guests reach the host's own addresses as if they were the
// Internet, so that tests have somewhere to go; everything else is as on a real host.
func hostPolicy(deny ...string) *Policy {
	d, _ := ParseDeny(deny)
	p := NewPolicy(d)
	p.hostCheck = false
	return p
}

// outside is an address of the host that a guest routes through its gateway, which
// tests with hostPolicy use as a destination out there.
func outside(t *testing.T) netip.Addr {
	for _, a := range hostIPv4s(t) {
		if !a.IsLoopback() && !Subnet.Contains(a) {
			return a
		}
	}
	t.Skip("the host has no IPv4 address outside 127.0.0.0/8 and the VM subnet")
	return netip.Addr{}
}

// hostService listens on every IPv4 address of the host, as a careless service
// does, and counts the connections it accepts.
func hostService(t *testing.T) (port uint16, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Write([]byte("host service\n"))
			c.Close()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func hostIPv4s(t *testing.T) []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out
}

func refused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "refused")
}

// The attack of issue 10: under slirp, a guest reached the host's loopback services
// through the gateway and the host's own addresses. Each such connection is refused
// by the gateway itself; the host service never sees one.
func TestGuestCannotReachTheHost(t *testing.T) {
	port, accepted := hostService(t)
	n, _ := newNetwork(t, hangar.EgressInternet, NewPolicy(nil))
	g := newGuest(t)
	g.attach(n)
	// Loopback and 0.0.0.0 are not here: a guest's own stack does not route them
	// out (TestPolicyCheck covers them, for guests that craft such packets).
	targets := []netip.Addr{Gateway, netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("168.63.129.16")}
	for _, a := range hostIPv4s(t) {
		if !a.IsLoopback() {
			targets = append(targets, a)
		}
	}
	for _, ip := range targets {
		c, err := g.dial(netip.AddrPortFrom(ip, port))
		if err == nil {
			c.Close()
			t.Fatalf("the guest reached %s:%d", ip, port)
		}
		if !refused(err) {
			t.Fatalf("%s: want the gateway to refuse the connection, got %v", ip, err)
		}
	}
	// Nothing but the gateway answers on the guest's own network.
	if _, err := g.dial(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.7"), port)); err == nil || !strings.Contains(err.Error(), "no route to host") {
		t.Fatalf("10.0.0.7: %v", err)
	}
	if accepted() != 0 {
		t.Fatalf("the host service accepted %d connections from the guest", accepted())
	}
}

// Egress none refuses what egress internet allows, and the deny list refuses what
// it lists.
func TestEgressAndDenyList(t *testing.T) {
	port, accepted := hostService(t)
	dst := netip.AddrPortFrom(outside(t), port)
	for _, tt := range []struct {
		egress hangar.Egress
		deny   string
		ok     bool
	}{
		{hangar.EgressInternet, "", true},
		{hangar.EgressInternet, dst.Addr().String() + "/32", false},
		{hangar.EgressNone, "", false},
	} {
		n, _ := newNetwork(t, tt.egress, hostPolicy(tt.deny))
		g := newGuest(t)
		g.attach(n)
		before := accepted()
		c, err := g.dial(dst)
		if tt.ok {
			if err != nil {
				t.Fatalf("egress %s to %s: %v", tt.egress, dst, err)
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line != "host service\n" || accepted() != before+1 {
				t.Fatalf("egress %s to %s: read %q", tt.egress, dst, line)
			}
			continue
		}
		if !refused(err) || accepted() != before {
			t.Fatalf("egress %s, deny %q, to %s: want refused, got %v", tt.egress, tt.deny, dst, err)
		}
	}
}

// UDP follows the same policy: an allowed flow gets its answers back, a denied
// datagram is dropped at the gateway.
func TestUDPPolicy(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var mu sync.Mutex
	var got []string
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:k]))
			mu.Unlock()
			pc.WriteTo(append([]byte("echo "), buf[:k]...), from)
		}
	}()
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)

	n, l := newNetwork(t, hangar.EgressInternet, hostPolicy())
	g := newGuest(t)
	g.attach(n)
	ok := g.udp(netip.AddrPortFrom(outside(t), port))
	buf := make([]byte, 100)
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatal("no answer through the UDP forwarder")
		}
		// The first datagrams may go before the guest's ARP for the gateway is done.
		ok.Write([]byte("allowed"))
		ok.SetReadDeadline(time.Now().Add(time.Second))
		k, err := ok.Read(buf)
		if err == nil {
			if string(buf[:k]) != "echo allowed" {
				t.Fatalf("answer %q", buf[:k])
			}
			break
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatal(err)
		}
	}
	g.udp(netip.AddrPortFrom(netip.MustParseAddr("169.254.169.254"), port)).Write([]byte("to metadata"))
	l.waitFor(t, "dst=169.254.169.254:")
	g.udp(netip.AddrPortFrom(Gateway, port)).Write([]byte("to the gateway"))
	l.waitFor(t, fmt.Sprintf("dst=%s:", Gateway))
	mu.Lock()
	defer mu.Unlock()
	for _, m := range got {
		if m != "allowed" {
			t.Fatalf("a denied datagram reached the host: %q", m)
		}
	}
}

// Handlers at fixed guest-visible addresses answer the guest, whatever its egress:
// this is where the next issue serves Azure's IMDS and WireServer.
func TestHandlersAtPlatformAddresses(t *testing.T) {
	n, _ := newNetwork(t, hangar.EgressNone, NewPolicy(nil))
	for _, a := range PlatformAddrs {
		at := netip.AddrPortFrom(a, 80)
		if err := n.HandleHTTP(at, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "served at %s for %s", at, r.Header.Get("Metadata"))
		})); err != nil {
			t.Fatal(err)
		}
	}
	g := newGuest(t)
	g.attach(n)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return g.dial(netip.MustParseAddrPort(addr))
	}}}
	for _, a := range PlatformAddrs {
		req, _ := http.NewRequest("GET", "http://"+a.String()+"/metadata/instance", nil)
		req.Header.Set("Metadata", "true")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("served at %s:80 for true", a); string(body) != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	// Ports nobody serves there stay closed, and nothing is forwarded out.
	if _, err := g.dial(netip.AddrPortFrom(PlatformAddrs[1], 81)); !refused(err) {
		t.Fatalf("169.254.169.254:81: %v", err)
	}
}

// The host port forward reaches the guest's port from the gateway's address, and a
// new network (hangar serve restarted) on the same guest works as the old one did.
func TestForwardHostAndReattach(t *testing.T) {
	g := newGuest(t)
	gl, err := gonet.ListenTCP(g.stack, tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(GuestIP.As4()), Port: 22}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	go func() {
		for {
			c, err := gl.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "SSH-2.0-guest hello %s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	for round := 1; round <= 2; round++ {
		n, _ := newNetwork(t, hangar.EgressNone, NewPolicy(nil))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n.ForwardHost(ln, 22)
		g.attach(n)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "SSH-2.0-guest hello "+Gateway.String()+":") {
			t.Fatalf("round %d: the forward read %q", round, line)
		}
		n.Close() // hangar serve goes away; the next round is its successor
		if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			t.Fatal("the host port still accepts after the network closed")
		}
	}
}

// A QEMU that a guest took over cannot make hangar serve allocate what a frame header
// claims, nor crash it with a runt frame.
func TestHostileFrames(t *testing.T) {
	n, _ := newNetwork(t, hangar.EgressInternet, NewPolicy(nil))
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(context.Background(), a) }()
	b.Write([]byte{0, 0, 0, 3, 1, 2, 3})          // a runt: dropped
	b.Write([]byte{0, 0, 0, 0})                   // empty: dropped
	b.Write([]byte{0xff, 0xff, 0xff, 0xf0, 1, 2}) // 4 GiB: the connection ends
	if err := <-done; err == nil || !strings.Contains(err.Error(), "more than any Ethernet frame") {
		t.Fatalf("Serve: %v", err)
	}
}

func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}

// A guest cannot hold more than its share of hangar serve's sockets: past the limit
// new connections are refused, and one that ends makes room again.
func TestFlowLimit(t *testing.T) {
	port, _ := hostService(t)
	dst := netip.AddrPortFrom(outside(t), port)
	n, l := newNetwork(t, hangar.EgressInternet, hostPolicy())
	n.flows = make(chan struct{}, 2) // before any traffic
	g := newGuest(t)
	g.attach(n)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := g.dial(dst)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c) // open from the guest's side: the flow stays
	}
	if _, err := g.dial(dst); !refused(err) {
		t.Fatalf("a third connection: %v", err)
	}
	l.waitFor(t, "too many connections")
	held[0].Close()
	for i := 0; ; i++ {
		c, err := g.dial(dst)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("no room after a connection ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the gateway sees the close a moment later
	}
	held[1].Close()
}
