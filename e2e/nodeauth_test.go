package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/nodeauth"
)

// rawCall sends one request with extra headers, as a client that writes its own
// HTTP would, and returns the status, the error code and the body.
func (s *server) rawCall(key, method, path, body string, headers map[string]string) apiResult {
	s.t.Helper()
	return s.request(key, method, path, strings.NewReader(body), headers)
}

// TestForgedForwardingHeader is a client posing as a node: it sends the header
// one node puts on a call it forwards to a VM's compute host. Such a call skipped
// placement and the capacity check, so the VM started on an API-only node (and was
// claimed later by a compute host not running it). A client's forwarding header is
// refused, and no VM is made.
func TestForgedForwardingHeader(t *testing.T) {
	img := testImage(t, "generalized")
	c := newCluster(t)
	// The test plays a node too, so it knows the secret the nodes share.
	secret := nodeauth.NewSecret()
	t.Setenv("HANGAR_CLUSTER_SECRET", secret)
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

	// Signed with the cluster secret, as a node would: a node that runs no VMs
	// still starts none.
	key, err := nodeauth.NewKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	node := nodeauth.Signer{Key: key, Node: "test-node"}
	sign := func(method, path, body string) map[string]string {
		h := http.Header{}
		node.Sign(h, nodeauth.Request{Method: method, Target: path, Authorization: "Bearer " + alice, Body: []byte(body)}, time.Now())
		out := map[string]string{}
		for k := range h {
			out[k] = h.Get(k)
		}
		return out
	}
	if r := api.rawCall(alice, "POST", "/v1/vms", string(body), sign("POST", "/v1/vms", string(body))); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "runs no VMs") {
		t.Fatalf("a signed call to start a VM on the API node: %d %s", r.status, r.body)
	}
	api.json(alice, &vms, "vm", "list")
	if len(vms) != 0 || len(api.qemuProcesses()) != 0 {
		t.Fatalf("the API node made VMs %+v; QEMU there: %v", vms, api.qemuProcesses())
	}

	// A signed call is good once, for its own method, path, body and key only.
	del := sign("DELETE", "/v1/vms/ghost", "")
	if r := comp.rawCall(alice, "DELETE", "/v1/vms/ghost", "", del); r.status != http.StatusNotFound {
		t.Fatalf("a signed call for a VM that does not exist: %d %s; want 404", r.status, r.body)
	}
	if r := comp.rawCall(alice, "DELETE", "/v1/vms/ghost", "", del); r.status != http.StatusForbidden || !strings.Contains(r.body, "seen before") {
		t.Fatalf("the same signed call replayed: %d %s; want 403", r.status, r.body)
	}
	bob := c.tenant(api, "bob")
	if r := comp.rawCall(bob, "DELETE", "/v1/vms/ghost", "", sign("DELETE", "/v1/vms/ghost", "")); r.status != http.StatusForbidden {
		t.Fatalf("a call signed for alice's key, sent with bob's: %d %s; want 403", r.status, r.body)
	}
	if r := comp.rawCall(alice, "DELETE", "/v1/vms/other", "", sign("DELETE", "/v1/vms/ghost", "")); r.status != http.StatusForbidden {
		t.Fatalf("a call signed for one path, sent to another: %d %s; want 403", r.status, r.body)
	}
	if r := comp.rawCall(alice, "GET", "/v1/disks", "", sign("GET", "/v1/disks", "")); r.status != http.StatusForbidden || !strings.Contains(r.body, "never forwarded") {
		t.Fatalf("a signed call on a route that is never forwarded: %d %s; want 403", r.status, r.body)
	}
}

// httpClient is the HTTP client tests use to call the server directly: one that
// trusts the server's CA when it serves HTTPS.
func (s *server) httpClient() *http.Client {
	if s.caFile == "" {
		return http.DefaultClient
	}
	pool := x509.NewCertPool()
	data, err := os.ReadFile(s.caFile)
	if err != nil || !pool.AppendCertsFromPEM(data) {
		s.t.Fatalf("CA file %s: %v", s.caFile, err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// tenant creates a tenant through node s with the cluster's admin key.
func (c *cluster) tenant(s *server, name string) string {
	c.t.Helper()
	var created struct {
		Key string `json:"key"`
	}
	s.json(c.adminKey, &created, "tenant", "create", name)
	return created.Key
}

// testCA is a certificate authority made for one test, with a certificate per node.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA's certificate, PEM
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hangar e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key}
	ca.file = ca.write("ca.pem", "CERTIFICATE", der)
	return ca
}

// issue makes a node's certificate for 127.0.0.1 and returns its PEM files.
func (ca *testCA) issue(name string, serial int64) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return ca.write(name+".pem", "CERTIFICATE", der), ca.write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

func (ca *testCA) write(name, kind string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

// TestClusterOverTLS runs an API node and a compute host on HTTPS, with
// certificates of a private CA: the CLI trusts it with HANGAR_CA_CERT, and the API
// node forwards the calls for a VM to its host over HTTPS, trusting --tls-ca.
func TestClusterOverTLS(t *testing.T) {
	img := testImage(t, "generalized")
	c := newCluster(t)
	ca := newTestCA(t)
	node := func(name string, serial int64, args ...string) *server {
		cert, key := ca.issue(name, serial)
		s := c.launch(name, append(args, "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca.file)...)
		s.caFile = ca.file
		return s
	}
	api := node("api", 2, "--role", "api")
	comp := node("c1", 3, "--role", "compute", "--vcpus", "2", "--memory-mib", "2048")
	api.waitHealthy()
	comp.waitHealthy()
	if !strings.HasPrefix(api.url(), "https://") {
		t.Fatalf("the harness talks to %s", api.url())
	}
	// Without the CA, the CLI does not trust the server, and says so.
	cmd := exec.Command(hangarBin, "vm", "list")
	cmd.Env = append(os.Environ(), "HANGAR_SERVER="+api.url(), "HANGAR_KEY="+c.adminKey, "HANGAR_CA_CERT=", "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("the CLI without the CA: %v %s", err, out)
	}

	var hosts []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	api.json(c.adminKey, &hosts, "admin", "hosts")
	if len(hosts) != 1 || hosts[0].URL != comp.url() {
		t.Fatalf("hosts %+v; want c1 at %s", hosts, comp.url())
	}
	alice := c.tenant(api, "alice")
	api.ok(alice, "disk", "upload", img, "--name", "tiny")
	osImage(api, alice, "tiny", "tiny", "--version", "1.0.0")
	vm, err := api.createVM(alice, "--name", "web", "--image", "tiny@1.0.0", "--admin-username", "azureuser",
		"--ssh-key-value", newSSHKey(t), "--provisioning-timeout", "4m")
	if err != nil || vm.PowerState != "running" || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("vm create through the API node: %v %+v", err, vm)
	}
	if len(comp.qemuProcesses()) != 1 || len(api.qemuProcesses()) != 0 {
		t.Fatalf("QEMU on c1: %v; on the API node: %v", comp.qemuProcesses(), api.qemuProcesses())
	}
	// Forwarded calls, with and without a body, go through over HTTPS.
	if out := api.ok(alice, "vm", "run-command", "web", "--script", "echo over tls from $(hostname)"); !strings.Contains(out, "over tls from web") {
		t.Fatalf("run-command through the API node: %s", out)
	}
	api.ok(alice, "vm", "delete", "web", "--yes")
	if n := len(comp.qemuProcesses()); n != 0 {
		t.Fatalf("QEMU left after vm delete through the API node: %d", n)
	}
}
