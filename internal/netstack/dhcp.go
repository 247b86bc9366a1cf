package netstack

import (
	"errors"
	"net"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/hangarvm/hangar/internal/hangar"
)

// dhcpServer leases the guest its address. Hangar's own rather than the library's:
// a network has one guest, which always gets GuestIP, and the replies carry options
// Hangar adds (Azure's option 245), and no DNS server when the VM has no egress.
type dhcpServer struct {
	dns bool // offer the gateway as DNS server

	mu    sync.Mutex
	extra map[uint8][]byte
}

func (n *Network) startDHCP() (*dhcpServer, error) {
	var wq waiter.Queue
	ep, terr := n.stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.Bind(tcpip.FullAddress{NIC: nic, Port: 67}); terr != nil {
		ep.Close()
		return nil, errors.New(terr.String())
	}
	d := &dhcpServer{dns: n.cfg.Egress == hangar.EgressInternet, extra: map[uint8][]byte{}}
	srv, err := server4.NewServer("", nil, func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		if r := d.reply(m); r != nil {
			conn.WriteTo(r.ToBytes(), peer)
		}
	}, server4.WithConn(gonet.NewUDPConn(&wq, ep)))
	if err != nil {
		ep.Close()
		return nil, err
	}
	n.onClose(func() { srv.Close() })
	go srv.Serve()
	return d, nil
}

func (d *dhcpServer) setOption(code uint8, value []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(value) == 0 {
		delete(d.extra, code)
		return
	}
	d.extra[code] = append([]byte(nil), value...)
}

// reply answers a client's message: an offer to a discover, an acknowledgement to a
// request for GuestIP (or for no address in particular) and a refusal to a request
// for any other; nil for anything else.
func (d *dhcpServer) reply(m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		return nil
	}
	r, err := dhcpv4.NewReplyFromRequest(m)
	if err != nil {
		return nil
	}
	guest, gw := net.IP(GuestIP.AsSlice()), net.IP(Gateway.AsSlice())
	r.UpdateOption(dhcpv4.OptServerIdentifier(gw))
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		want := m.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = m.ClientIPAddr
		}
		if want != nil && !want.IsUnspecified() && !want.Equal(guest) {
			// A lease from another network: the client starts over with a discover.
			r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			return r
		}
		r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	default:
		return nil
	}
	r.YourIPAddr = guest
	r.UpdateOption(dhcpv4.OptIPAddressLeaseTime(leaseTime))
	r.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(Subnet.Bits(), 32)))
	r.UpdateOption(dhcpv4.OptRouter(gw))
	r.UpdateOption(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU, Value: dhcpv4.Uint16(mtu)})
	if d.dns {
		r.UpdateOption(dhcpv4.OptDNS(gw))
	}
	d.mu.Lock()
	for code, v := range d.extra {
		r.UpdateOption(dhcpv4.Option{Code: dhcpv4.GenericOptionCode(code), Value: dhcpv4.OptionGeneric{Data: v}})
	}
	d.mu.Unlock()
	return r
}
