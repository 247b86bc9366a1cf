package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// alwaysDenied are destinations no guest reaches through the forwarders, whatever
// its egress and the host's deny list: they lead back to the host, to the VM's own
// network, or to a cloud's metadata service (the host's own, if it runs in a cloud),
// which Hangar serves itself where it serves it at all.
var alwaysDenied = prefixes(
	"0.0.0.0/8",          // "this network": 0.0.0.0 reaches the host's loopback
	"127.0.0.0/8",        // the host's loopback
	"169.254.0.0/16",     // link-local, with the metadata services of AWS, Azure, GCP, OpenStack
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved, and the broadcast address
	"168.63.129.16/32",   // Azure's WireServer
	"100.100.100.200/32", // Alibaba Cloud's metadata service
	"::/128", "::1/128", "fe80::/10", "ff00::/8",
	"fd00:ec2::254/128", // AWS's metadata service over IPv6
	Subnet.String(),     // the VM's own network: nothing is out there but the gateway
)

// DefaultDeny is the host's deny list unless the administrator gives one
// (hangar serve --egress-deny): private and shared address space, where the host's
// own network usually is. Egress internet then means the Internet.
var DefaultDeny = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15", "fc00::/7"}

// Policy says which destinations a guest's connections may reach. One Policy serves
// every VM of a host.
type Policy struct {
	always, deny []netip.Prefix
	// hostCheck refuses the host's own addresses; only tests, to reach a loopback
	// service as if it were outside, turn it off.
	hostCheck bool

	mu        sync.Mutex
	hostAddrs map[netip.Addr]bool
	readAt    time.Time
}

// hostAddrsTTL bounds how long a list of the host's addresses is trusted. An address
// the host gained within it is still refused: after dialing, a connection whose two
// ends share an address went to the host itself and is closed.
const hostAddrsTTL = time.Second

// NewPolicy returns the host's policy with its deny list, on top of the addresses
// that are always denied: the host's own, loopback, link-local, multicast, the
// metadata services and the VM's own network.
func NewPolicy(deny []netip.Prefix) *Policy {
	p := &Policy{always: alwaysDenied, hostCheck: true}
	for _, d := range deny {
		p.deny = append(p.deny, d.Masked())
	}
	return p
}

// ParseDeny parses a list of CIDRs (a bare address is one host).
func ParseDeny(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR such as 10.0.0.0/8 nor an address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check says why a guest with the given egress may not reach dst; nil if it may.
func (p *Policy) Check(egress hangar.Egress, dst netip.Addr) error {
	dst = dst.Unmap()
	if egress != hangar.EgressInternet {
		return fmt.Errorf("%s: the VM's egress is %s", dst, egress)
	}
	if !dst.IsValid() {
		return fmt.Errorf("no destination")
	}
	for _, d := range p.always {
		if d.Contains(dst) {
			return fmt.Errorf("%s is in %s, which no guest reaches", dst, d)
		}
	}
	for _, d := range p.deny {
		if d.Contains(dst) {
			return fmt.Errorf("%s is in %s, denied by the host", dst, d)
		}
	}
	if p.hostCheck && p.isHostAddr(dst) {
		return fmt.Errorf("%s is an address of the host", dst)
	}
	return nil
}

func (p *Policy) isHostAddr(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hostAddrs == nil || time.Since(p.readAt) > hostAddrsTTL {
		p.hostAddrs = map[netip.Addr]bool{}
		addrs, _ := net.InterfaceAddrs()
		for _, ia := range addrs {
			if ipn, ok := ia.(*net.IPNet); ok {
				if h, ok := netip.AddrFromSlice(ipn.IP); ok {
					p.hostAddrs[h.Unmap()] = true
				}
			}
		}
		p.readAt = time.Now()
	}
	return p.hostAddrs[a]
}

// dial opens a host connection to dst for a guest: network is tcp or udp. A
// destination that turns out to be the host itself (the connection's two ends share
// an address, as for any local address) is closed and refused.
func (p *Policy) dial(ctx context.Context, network string, dst netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, dst.String())
	if err != nil {
		return nil, err
	}
	if local, remote := addrOf(c.LocalAddr()), addrOf(c.RemoteAddr()); p.hostCheck && (local == remote || p.isHostAddr(remote)) {
		c.Close()
		return nil, fmt.Errorf("%s is an address of the host", dst.Addr())
	}
	return c, nil
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func prefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
