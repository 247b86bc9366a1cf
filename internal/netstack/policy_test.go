package netstack

import (
	"net/netip"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestPolicyCheck(t *testing.T) {
	deny, err := ParseDeny(DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPolicy(deny)
	for _, tt := range []struct {
		dst    string
		egress hangar.Egress
		ok     bool
	}{
		{"93.184.215.14", hangar.EgressInternet, true},
		{"93.184.215.14", hangar.EgressNone, false},
		{"127.0.0.1", hangar.EgressInternet, false},
		{"127.255.0.9", hangar.EgressInternet, false},
		{"0.0.0.0", hangar.EgressInternet, false},
		{"10.0.0.1", hangar.EgressInternet, false}, // the gateway
		{"169.254.169.254", hangar.EgressInternet, false},
		{"168.63.129.16", hangar.EgressInternet, false},
		{"100.100.100.200", hangar.EgressInternet, false},
		{"224.0.0.251", hangar.EgressInternet, false},
		{"255.255.255.255", hangar.EgressInternet, false},
		{"::ffff:127.0.0.1", hangar.EgressInternet, false},
		{"::1", hangar.EgressInternet, false},
		{"fe80::1", hangar.EgressInternet, false},
		{"192.168.1.10", hangar.EgressInternet, false}, // the default deny list
		{"172.20.0.1", hangar.EgressInternet, false},
		{"100.64.0.1", hangar.EgressInternet, false},
		{"fd12::1", hangar.EgressInternet, false},
	} {
		err := p.Check(tt.egress, netip.MustParseAddr(tt.dst))
		if (err == nil) != tt.ok {
			t.Errorf("%s with egress %s: %v, want allowed %v", tt.dst, tt.egress, err, tt.ok)
		}
	}
	// Every address of the host is refused, whatever the deny list.
	for _, a := range hostIPv4s(t) {
		if NewPolicy(nil).Check(hangar.EgressInternet, a) == nil {
			t.Errorf("the host's address %s is allowed", a)
		}
	}
	// An empty deny list leaves private space open, but not the always-denied.
	open := NewPolicy(nil)
	if open.Check(hangar.EgressInternet, netip.MustParseAddr("192.0.2.1")) != nil || open.Check(hangar.EgressInternet, netip.MustParseAddr("169.254.1.1")) == nil {
		t.Error("empty deny list")
	}
}

func TestParseDeny(t *testing.T) {
	got, err := ParseDeny([]string{" 10.1.2.3/8", "192.0.2.7", "::ffff:10.0.0.0/104", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8"} {
		if _, err := ParseDeny([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
