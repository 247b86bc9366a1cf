package netstack

import (
	"bytes"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/hangarvm/hangar/internal/hangar"
)

func discover(t *testing.T, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	mac, _ := net.ParseMAC(GuestMAC)
	m, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDHCPReplies(t *testing.T) {
	n, _ := newNetwork(t, hangar.EgressInternet, NewPolicy(nil))
	wire := []byte("http://wireserver/") // any bytes: option 245 carries an address
	n.SetDHCPOption(245, []byte{168, 63, 129, 16})
	offer := n.dhcp.reply(discover(t))
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.Equal(GuestIP.AsSlice()) {
		t.Fatalf("offer: %s", offer.Summary())
	}
	if r := offer.Router(); len(r) != 1 || !r[0].Equal(Gateway.AsSlice()) {
		t.Fatalf("router %v", r)
	}
	if d := offer.DNS(); len(d) != 1 || !d[0].Equal(Gateway.AsSlice()) {
		t.Fatalf("dns %v", d)
	}
	if got := offer.Options.Get(dhcpv4.GenericOptionCode(245)); !bytes.Equal(got, []byte{168, 63, 129, 16}) {
		t.Fatalf("option 245: %v", got)
	}
	n.SetDHCPOption(245, wire)
	n.SetDHCPOption(246, []byte{1})
	n.SetDHCPOption(246, nil)
	req, err := dhcpv4.NewRequestFromOffer(offer)
	if err != nil {
		t.Fatal(err)
	}
	ack := n.dhcp.reply(req)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(GuestIP.AsSlice()) || ack.IPAddressLeaseTime(0) != leaseTime {
		t.Fatalf("ack: %s", ack.Summary())
	}
	if !bytes.Equal(ack.Options.Get(dhcpv4.GenericOptionCode(245)), wire) || ack.Options.Has(dhcpv4.GenericOptionCode(246)) {
		t.Fatalf("extra options: %s", ack.Summary())
	}
	// A lease from elsewhere is refused, so the client starts over.
	other := discover(t, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 1, 9))))
	if nak := n.dhcp.reply(other); nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("request for another address: %s", nak.Summary())
	}
	// Without egress there is no DNS to offer.
	none, _ := newNetwork(t, hangar.EgressNone, NewPolicy(nil))
	if d := none.dhcp.reply(discover(t)).DNS(); len(d) != 0 {
		t.Fatalf("egress none offers DNS %v", d)
	}
}

// FuzzDHCP: whatever a guest sends the DHCP server, it never panics and never
// offers an address but the guest's.
func FuzzDHCP(f *testing.F) {
	mac, _ := net.ParseMAC(GuestMAC)
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeRelease} {
		m, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithMessageType(mt))
		f.Add(m.ToBytes())
	}
	d := &dhcpServer{dns: true, extra: map[uint8][]byte{245: {168, 63, 129, 16}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		r := d.reply(m)
		if r == nil || r.MessageType() == dhcpv4.MessageTypeNak {
			return
		}
		if !r.YourIPAddr.Equal(GuestIP.AsSlice()) {
			t.Fatalf("offered %v", r.YourIPAddr)
		}
		r.ToBytes()
	})
}
