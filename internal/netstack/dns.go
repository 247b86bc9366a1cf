package netstack

import (
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
	srv, err := dns.New(udpConn, tcpLn, nil)
	if err != nil {
		return err
	}
	go srv.Serve()
	go srv.ServeTCP()
	return nil
}
