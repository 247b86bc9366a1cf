package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawCall sends one request with extra headers, as a client that writes its own
// HTTP would, and returns the status, the error code and the body.
func (s *server) rawCall(key, method, path, body string, headers map[string]string) apiResult {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url()+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := apiResult{status: resp.StatusCode, body: string(data)}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		r.code = e.Error.Code
	}
	return r
}

// TestForgedForwardingHeader is a client posing as a node: it sends the header
// one node puts on a call it forwards to a VM's compute host. Such a call skipped
// placement and the capacity check, so the VM started on an API-only node (and was
// claimed later by a compute host not running it). A client's forwarding header is
// refused, and no VM is made.
func TestForgedForwardingHeader(t *testing.T) {
	img := testImage(t, "generalized")
	c := newCluster(t)
	api := c.launch("api", "--role", "api")
	comp := c.launch("c1", "--role", "compute", "--vcpus", "1", "--memory-mib", "1024")
	api.waitHealthy()
	comp.waitHealthy()
	alice := c.tenant(api, "alice")
	api.ok(alice, "disk", "upload", img, "--name", "tiny")
	osImage(api, alice, "tiny", "tiny", "--version", "1.0.0")

	body, _ := json.Marshal(map[string]any{"name": "forged", "image": "tiny@1.0.0", "size": "large",
		"adminUsername": "azureuser", "sshPublicKeys": []string{newSSHKey(t)}})
	for _, header := range []string{"Hangar-Forwarded-By", "hangar-forwarded-by"} {
		r := api.rawCall(alice, "POST", "/v1/vms", string(body), map[string]string{header: "c1"})
		if r.status != http.StatusForbidden || r.code != "Forbidden" || !strings.Contains(r.body, "cluster secret") {
			t.Fatalf("a client's %s header: %d %s; want 403 Forbidden naming the cluster secret", header, r.status, r.body)
		}
	}
	var vms []vmJSON
	api.json(alice, &vms, "vm", "list")
	if len(vms) != 0 || len(api.qemuProcesses()) != 0 {
		t.Fatalf("a forged forwarded call made VMs %+v; QEMU on the API node: %v", vms, api.qemuProcesses())
	}
	// The same call without the header is placed: a large VM fits nowhere.
	if r := api.rawCall(alice, "POST", "/v1/vms", string(body), nil); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "no compute host") {
		t.Fatalf("an honest call for a VM too large for every host: %d %s", r.status, r.body)
	}
}

// httpClient is the HTTP client tests use to call the server directly.
func (s *server) httpClient() *http.Client { return http.DefaultClient }

// tenant creates a tenant through node s with the cluster's admin key.
func (c *cluster) tenant(s *server, name string) string {
	c.t.Helper()
	var created struct {
		Key string `json:"key"`
	}
	s.json(c.adminKey, &created, "tenant", "create", name)
	return created.Key
}
