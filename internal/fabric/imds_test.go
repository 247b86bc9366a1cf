package fabric

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var metadataTrue = http.Header{"Metadata": {"true"}}

// TestIMDSHeaderRule: as on Azure, only requests with "Metadata: true" and without
// X-Forwarded-For are answered.
func TestIMDSHeaderRule(t *testing.T) {
	h := New(testInstance(), nil, nil).IMDS()
	const target = "/metadata/instance?api-version=2021-08-01"
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
		error  string
	}{
		{"no header", nil, 400, imdsNoHeader},
		{"false", http.Header{"Metadata": {"false"}}, 400, imdsNoHeader},
		{"empty", http.Header{"Metadata": {""}}, 400, imdsNoHeader},
		{"twice", http.Header{"Metadata": {"true", "true"}}, 400, imdsNoHeader},
		{"true", metadataTrue, 200, ""},
		{"waagent's True", http.Header{"Metadata": {"True"}}, 200, ""},
		{"forwarded", http.Header{"Metadata": {"true"}, "X-Forwarded-For": {"10.0.0.4"}}, 400, imdsForwarded},
		{"forwarded, empty", http.Header{"Metadata": {"true"}, "X-Forwarded-For": {""}}, 400, imdsForwarded},
	} {
		resp := do(t, h, http.MethodGet, target, nil, tc.header)
		body := readAll(t, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.status)
		}
		if tc.error != "" {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tc.error {
				t.Errorf("%s: body %q, want error %q", tc.name, body, tc.error)
			}
			if strings.Contains(body, "vm1") {
				t.Errorf("%s: a refusal carries the VM's facts: %s", tc.name, body)
			}
		}
	}
}

func TestIMDSAnswers(t *testing.T) {
	inst := testInstance()
	h := New(inst, nil, nil).IMDS()
	newest := `"newest-versions":["2023-07-01","2021-12-13","2021-11-15"]`
	for _, tc := range []struct {
		method, target string
		status         int
		contentType    string
		body           string // the whole body, or with a leading ~ a part of it
	}{
		{"GET", "/metadata/instance/compute/userData?api-version=2021-08-01&format=text", 200, "text/plain", inst.UserData},
		{"GET", "/metadata/instance/compute/userData?api-version=2021-08-01", 200, "text/plain", inst.UserData},
		{"GET", "/metadata/instance/compute/vmId?api-version=2017-08-01&format=text", 200, "text/plain", inst.VMID},
		{"GET", "/metadata/instance/compute/osProfile/adminUsername?api-version=2021-08-01&format=text", 200, "text/plain", "azureuser"},
		{"GET", "/metadata/instance/compute/publicKeys/0/keyData?api-version=2021-08-01&format=text", 200, "text/plain", inst.PublicKeys[0].KeyData},
		{"GET", "/metadata/instance/network/interface/0/macAddress?api-version=2021-08-01&format=text", 200, "text/plain", "525400123456"},
		{"GET", "/metadata/instance/network/interface/0/ipv4/subnet/0?api-version=2021-08-01", 200, "application/json", `{"address":"10.0.0.0","prefix":"24"}`},
		{"GET", "/metadata/instance/compute/osProfile?api-version=2021-08-01", 200, "application/json",
			`{"adminUsername":"azureuser","computerName":"host1","disablePasswordAuthentication":"true"}`},
		{"GET", "/metadata/instance?api-version=2021-08-01&extended=true", 200, "application/json", `~"extended":{"compute":{"ppsType":"None"}}`},
		{"GET", "/metadata/instance/?api-version=2019-06-01", 200, "application/json", `~"vmSize":"Standard_B2s"`},
		{"HEAD", "/metadata/instance?api-version=2021-08-01", 200, "application/json", ""},
		{"GET", "/metadata/versions", 200, "application/json", `~{"apiVersions":["2017-03-01",`},
		{"GET", "/metadata/instance", 400, "application/json", `{"error":"` + imdsNoVersion + `",` + newest + `}`},
		{"GET", "/metadata/instance?api-version=2099-01-01", 400, "application/json", `{"error":"` + imdsBadVersion + `",` + newest + `}`},
		{"GET", "/metadata/instance/compute?api-version=latest", 400, "application/json", "~" + newest},
		{"GET", "/metadata/instance/compute/vmId?api-version=2021-08-01&format=json", 400, "application/json", "~" + imdsLeafJSON},
		{"GET", "/metadata/instance/compute?api-version=2021-08-01&format=text", 400, "application/json", "~" + imdsNodeText},
		{"GET", "/metadata/instance?api-version=2021-08-01&format=xml", 400, "application/json", "~" + imdsBadFormat},
		{"GET", "/metadata/instance/compute/nothing?api-version=2021-08-01", 404, "application/json", "~" + imdsNotFound},
		{"GET", "/metadata/instance/compute/publicKeys/1?api-version=2021-08-01", 404, "application/json", ""},
		{"GET", "/metadata/instance/compute/publicKeys/-1?api-version=2021-08-01", 404, "application/json", ""},
		{"GET", "/metadata/instance/compute/publicKeys/00?api-version=2021-08-01", 404, "application/json", ""},
		{"GET", "/metadata/instance/compute/vmId/x?api-version=2021-08-01", 404, "application/json", ""},
		{"GET", "/metadata/reprovisiondata?api-version=2019-06-01", 404, "application/json", ""},
		{"GET", "/metadata/identity/oauth2/token?api-version=2018-02-01", 404, "application/json", ""},
		{"GET", "/latest/meta-data/", 404, "application/json", ""},
		{"POST", "/metadata/instance?api-version=2021-08-01", 405, "application/json", ""},
	} {
		resp := do(t, h, tc.method, tc.target, nil, metadataTrue)
		body := readAll(t, resp)
		ok := resp.StatusCode == tc.status && strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType)
		if part, isPart := strings.CutPrefix(tc.body, "~"); isPart {
			ok = ok && strings.Contains(body, part)
		} else if tc.body != "" || tc.method == "HEAD" {
			ok = ok && body == tc.body
		}
		if !ok {
			t.Errorf("%s %s: %s %s\n%s\nwant %d %s %s", tc.method, tc.target, resp.Status, resp.Header.Get("Content-Type"), body, tc.status, tc.contentType, tc.body)
		}
	}
}

// TestIMDSInstance checks the whole document as cloud-init reads it
// (DataSourceAzure: _username_from_imds, _hostname_from_imds,
// _disable_password_from_imds, _userdata_from_imds, _get_public_keys_from_imds,
// generate_network_config_from_instance_network_metadata).
func TestIMDSInstance(t *testing.T) {
	inst := testInstance()
	inst.Network.PublicIPv4 = netip.MustParseAddr("203.0.113.7")
	resp := do(t, New(inst, nil, nil).IMDS(), http.MethodGet, "/metadata/instance?api-version=2021-08-01&extended=true", nil, metadataTrue)
	var doc struct {
		Compute struct {
			Name, VMID, Location, VMSize, OSType, ResourceGroupName, SubscriptionID, UserData, ResourceID string
			OSProfile                                                                                     struct {
				AdminUsername, ComputerName, DisablePasswordAuthentication string
			}
			PublicKeys []struct{ KeyData, Path string }
		}
		Network struct {
			Interface []struct {
				MacAddress string
				IPv4       struct {
					IPAddress []struct{ PrivateIPAddress, PublicIPAddress string }
					Subnet    []struct{ Address, Prefix string }
				}
				IPv6 struct{ IPAddress []any }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Compute
	if c.Name != "vm1" || c.VMID != inst.VMID || c.Location != "local" || c.VMSize != "Standard_B2s" || c.OSType != "Linux" ||
		c.ResourceGroupName != "rg1" || c.SubscriptionID != inst.SubscriptionID || c.UserData != inst.UserData ||
		c.ResourceID != "/subscriptions/"+inst.SubscriptionID+"/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1" {
		t.Errorf("compute %+v", c)
	}
	if c.OSProfile.AdminUsername != "azureuser" || c.OSProfile.ComputerName != "host1" || c.OSProfile.DisablePasswordAuthentication != "true" {
		t.Errorf("osProfile %+v", c.OSProfile)
	}
	if len(c.PublicKeys) != 1 || c.PublicKeys[0].KeyData != inst.PublicKeys[0].KeyData || c.PublicKeys[0].Path != inst.PublicKeys[0].Path {
		t.Errorf("publicKeys %+v", c.PublicKeys)
	}
	if n := doc.Network.Interface; len(n) != 1 || n[0].MacAddress != "525400123456" || len(n[0].IPv4.IPAddress) != 1 ||
		n[0].IPv4.IPAddress[0].PrivateIPAddress != "10.0.0.4" || n[0].IPv4.IPAddress[0].PublicIPAddress != "203.0.113.7" ||
		len(n[0].IPv4.Subnet) != 1 || n[0].IPv4.Subnet[0] != (struct{ Address, Prefix string }{"10.0.0.0", "24"}) || n[0].IPv6.IPAddress == nil {
		t.Errorf("network %+v", doc.Network)
	}
}

// TestIMDSWithoutNIC: without a MAC the network part is left out, so that
// cloud-init falls back to DHCP on its first NIC instead of configuring none.
func TestIMDSWithoutNIC(t *testing.T) {
	inst := testInstance()
	inst.Network = Network{}
	resp := do(t, New(inst, nil, nil).IMDS(), http.MethodGet, "/metadata/instance?api-version=2021-08-01", nil, metadataTrue)
	if body := readAll(t, resp); resp.StatusCode != 200 || strings.Contains(body, `"network"`) {
		t.Errorf("%s %s", resp.Status, body)
	}
}

// TestDeterministic: the same instance gives the same bytes, request after
// request and server after server.
func TestDeterministic(t *testing.T) {
	a, b := New(testInstance(), nil, nil), New(testInstance(), nil, nil)
	for _, tc := range []struct {
		h      func(*Server) http.Handler
		target string
		header http.Header
	}{
		{(*Server).IMDS, "/metadata/instance?api-version=2021-08-01&extended=true", metadataTrue},
		{(*Server).IMDS, "/metadata/instance?api-version=2099-01-01", metadataTrue},
		{(*Server).WireServer, "/machine/?comp=goalstate", nil},
		{(*Server).WireServer, "/?comp=versions", nil},
	} {
		first := readAll(t, do(t, tc.h(a), http.MethodGet, tc.target, nil, tc.header))
		for _, s := range []*Server{a, b, a} {
			if got := readAll(t, do(t, tc.h(s), http.MethodGet, tc.target, nil, tc.header)); got != first {
				t.Errorf("%s: answers differ:\n%s\n%s", tc.target, first, got)
			}
		}
	}
}

// TestOneVMOnly: a Server knows its VM only. Another VM's configuration URLs are
// not found and its health reports are refused, and nothing of another VM is in
// any answer.
func TestOneVMOnly(t *testing.T) {
	instA, instB := testInstance(), testInstance()
	instB.Name, instB.VMID = "vm2", "0b6c1d8e-1111-4222-8333-444455556666"
	instB.ContainerID, instB.InstanceID = "c1d2e3f4-0000-4000-8000-000000000002", instB.VMID+"._vm2"
	instB.AdminUsername, instB.UserData = "bob", "Ym9iCg=="
	var got []Health
	a := New(instA, nil, func(h Health) { got = append(got, h) })
	b := New(instB, nil, nil)
	confB := "/machine/" + instB.ContainerID + "/" + instB.InstanceID + "?comp=config&type=sharedConfig&incarnation=1"
	if resp := do(t, a.WireServer(), http.MethodGet, confB, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("A answers B's configuration: %s", resp.Status)
	}
	gsB := readAll(t, do(t, b.WireServer(), http.MethodGet, "/machine/?comp=goalstate", nil, nil))
	var seen goalStateSeen
	if err := xml.Unmarshal([]byte(gsB), &seen); err != nil {
		t.Fatal(err)
	}
	health := []byte(`<Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>` + seen.Container.ContainerID +
		`</ContainerId><RoleInstanceList><Role><InstanceId>` + seen.Container.Role.InstanceID +
		`</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>`)
	if resp := do(t, a.WireServer(), http.MethodPost, "/machine?comp=health", health, nil); resp.StatusCode != http.StatusBadRequest || len(got) != 0 {
		t.Errorf("A took B's health report: %s, %q", resp.Status, got)
	}
	for _, target := range []string{"/metadata/instance?api-version=2021-08-01", "/metadata/instance/compute/userData?api-version=2021-08-01"} {
		body := readAll(t, do(t, a.IMDS(), http.MethodGet, target, nil, metadataTrue))
		for _, fact := range []string{instB.Name, instB.VMID, instB.AdminUsername, instB.UserData} {
			if strings.Contains(body, fact) {
				t.Errorf("A's IMDS %s carries B's %q", target, fact)
			}
		}
	}
}

func TestDHCPOptions(t *testing.T) {
	if code, v := DHCPOption245(); code != 245 || !bytes.Equal(v, []byte{168, 63, 129, 16}) {
		t.Errorf("option 245: %d %v", code, v)
	}
	code, v := DHCPOption121(netip.MustParseAddr("10.0.0.1"))
	want := []byte{32, 168, 63, 129, 16, 10, 0, 0, 1, 32, 169, 254, 169, 254, 10, 0, 0, 1, 0, 10, 0, 0, 1}
	if code != 121 || !slices.Equal(v, want) {
		t.Errorf("option 121: %d %v, want %v", code, v, want)
	}
}

// TestIMDSSpecialized: a VM from a specialized image has no OS profile, as on
// Azure (no computer name, admin user or keys, whatever the caller passed), so
// cloud-init (which sees a new instance without ovf-env.xml and asks IMDS) renames
// no host and makes no user; a generalized VM without a computer name of its own
// is called by its VM name.
func TestIMDSSpecialized(t *testing.T) {
	for _, tc := range []struct {
		specialized        bool
		wantHost, wantUser string
	}{{true, "", ""}, {false, "vm1", "azureuser"}} {
		inst := testInstance()
		inst.ComputerName, inst.Specialized = "", tc.specialized
		wantKeys := 1
		if tc.specialized {
			wantKeys = 0
		}
		resp := do(t, New(inst, nil, nil).IMDS(), http.MethodGet, "/metadata/instance/compute/publicKeys?api-version=2021-08-01&format=json", nil, metadataTrue)
		var keys []struct{ KeyData string }
		if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil || len(keys) != wantKeys {
			t.Errorf("specialized %v: publicKeys %+v (%v), want %d", tc.specialized, keys, err, wantKeys)
		}
		for leaf, want := range map[string]string{"osProfile/computerName": tc.wantHost, "osProfile/adminUsername": tc.wantUser, "name": "vm1"} {
			resp := do(t, New(inst, nil, nil).IMDS(), http.MethodGet, "/metadata/instance/compute/"+leaf+"?api-version=2021-08-01&format=text", nil, metadataTrue)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != want {
				t.Errorf("specialized %v: %s = %s %q, want %q", tc.specialized, leaf, resp.Status, body, want)
			}
		}
	}
}
