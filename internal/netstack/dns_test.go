package netstack

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hangarvm/hangar/internal/hangar"
)

// zone is a resolver that knows one name.
type zone struct{ name, ip string }

var errNoSuchHost = errors.New("no such host")

func (z zone) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if host == z.name {
		return []net.IPAddr{{IP: net.ParseIP(z.ip)}}, nil
	}
	return nil, errNoSuchHost
}
func (zone) LookupCNAME(context.Context, string) (string, error) { return "", errNoSuchHost }
func (zone) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, errNoSuchHost }
func (zone) LookupNS(context.Context, string) ([]*net.NS, error) { return nil, errNoSuchHost }
func (zone) LookupTXT(context.Context, string) ([]string, error) { return nil, errNoSuchHost }
func (zone) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errNoSuchHost
}

// The gateway answers the guest's DNS questions through the resolver it is given
// (the host's, in hangar serve).
func TestDNSThroughTheGateway(t *testing.T) {
	n, err := New(Config{Egress: hangar.EgressInternet, Policy: NewPolicy(nil), Log: slog.New(slog.DiscardHandler),
		Resolver: zone{"app.example.", "192.0.2.77"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	g := newGuest(t)
	g.attach(n)
	c := g.udp(netip.AddrPortFrom(Gateway, 53))
	for _, tt := range []struct {
		name  string
		rcode int
		ip    string
	}{{"app.example.", dns.RcodeSuccess, "192.0.2.77"}, {"other.example.", dns.RcodeNameError, ""}} {
		q := new(dns.Msg)
		q.SetQuestion(tt.name, dns.TypeA)
		packed, _ := q.Pack()
		var r dns.Msg
		for i := 0; ; i++ {
			if i == 20 {
				t.Fatalf("no DNS answer for %s", tt.name)
			}
			c.Write(packed) // the first may go before the guest's ARP for the gateway is done
			c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 1500)
			k, err := c.Read(buf)
			if err == nil && r.Unpack(buf[:k]) == nil && r.Id == q.Id {
				break
			}
		}
		if r.Rcode != tt.rcode {
			t.Fatalf("%s: rcode %d", tt.name, r.Rcode)
		}
		if tt.ip != "" && (len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != tt.ip) {
			t.Fatalf("%s: answer %v", tt.name, r.Answer)
		}
	}
}
