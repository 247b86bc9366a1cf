package netstack

import (
	"context"
	"net"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/containers/gvisor-tap-vsock/pkg/services/dns"
)

// startDNS serves DNS at the gateway (UDP and TCP port 53) with the library's
// service, which answers through the host's resolver. Only a VM with egress has it:
// queries relayed to the host's resolver are a way out too.
func (n *Network) startDNS() error {
	at := tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(Gateway.As4()), Port: 53}
	udpConn, err := gonet.DialUDP(n.stack, &at, nil, ipv4.ProtocolNumber)
	if err != nil {
		return err
	}
	tcpLn, err := gonet.ListenTCP(n.stack, at, ipv4.ProtocolNumber)
	if err != nil {
		udpConn.Close()
		return err
	}
	n.onClose(func() { udpConn.Close(); tcpLn.Close() })
	var upstream Resolver = &net.Resolver{}
	if n.cfg.Resolver != nil {
		upstream = n.cfg.Resolver
	}
	srv, err := dns.NewWithUpstreamResolver(udpConn, tcpLn, nil, upstream)
	if err != nil {
		return err
	}
	go srv.Serve()
	go srv.ServeTCP()
	return nil
}

// Resolver answers the guests' DNS questions; *net.Resolver (the host's resolver)
// is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}
