package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestCrossTenantProbesEveryRoute walks every route of the OpenAPI document that
// names a tenant's resource and calls it as bob with alice's resources, then
// with names nobody has: each call is refused, exactly as for what does not
// exist (same status, code and message, the name aside), and alice's resources
// are all still there afterwards.
func TestCrossTenantProbesEveryRoute(t *testing.T) {
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	s.uploadDisk(alice, "a-disk", 1)
	osImage(s, alice, "a-image", "a-disk", "--version", "1.0.0")
	var key struct {
		ID string `json:"id"`
	}
	s.json(alice, &key, "tenant", "key", "create", "alice", "--name", "ci")
	up := s.api(alice, "POST", "/v1/uploads", strings.NewReader(`{"name":"a-upload","virtualSize":4194304,"sourceFormat":"raw"}`))
	var upload struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(up.body), &upload); err != nil || upload.ID == "" {
		t.Fatalf("alice's upload: %d %s", up.status, up.body)
	}

	// alice's values for each path parameter, by the route's first segment, and
	// values nobody has.
	theirs := map[string]string{
		"disks/name": "a-disk", "images/name": "a-image", "vms/name": "a-vm", "tenants/name": "alice",
		"version": "1.0.0", "uploads/id": upload.ID, "keys/id": key.ID, "tenant": "bob",
		"sha256": strings.Repeat("ab", 32),
	}
	missing := map[string]string{
		"disks/name": "no-disk", "images/name": "no-image", "vms/name": "no-vm", "tenants/name": "nobody",
		"version": "9.9.9", "uploads/id": "00000000000000000000000000000000", "keys/id": "00000000000000000000000000000000",
		"tenant": "bob", "sha256": strings.Repeat("ab", 32),
	}
	// Routes where a name is the caller's own to choose (PUT /v1/disks/NAME
	// uploads bob's own disk of that name) are not probes.
	own := map[string]bool{"PUT /v1/disks/{name}": true}

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(s.api("", "GET", "/v1/openapi.json", nil).body), &doc); err != nil {
		t.Fatal(err)
	}
	var probed []string
	for path, ops := range doc.Paths {
		first := strings.Split(strings.TrimPrefix(path, "/v1/"), "/")[0]
		if !strings.Contains(path, "{") || !map[string]bool{"disks": true, "images": true, "vms": true, "tenants": true, "uploads": true}[first] {
			continue
		}
		for method := range ops {
			method = strings.ToUpper(method)
			if own[method+" "+path] {
				continue
			}
			fill := func(values map[string]string) (string, []string) {
				var names []string
				p := path
				for strings.Contains(p, "{") {
					i, j := strings.Index(p, "{"), strings.Index(p, "}")
					param := p[i+1 : j]
					v, ok := values[first+"/"+param]
					if !ok {
						v = values[param]
					}
					names = append(names, v)
					p = p[:i] + v + p[j+1:]
				}
				return p, names
			}
			theirPath, theirNames := fill(theirs)
			missingPath, missingNames := fill(missing)
			call := func(p string) apiResult {
				var body io.Reader
				if method != http.MethodGet && method != http.MethodDelete {
					body = strings.NewReader(`{}`)
				}
				return s.api(bob, method, p, body)
			}
			got, want := call(theirPath), call(missingPath)
			for i := range theirNames {
				got.body = strings.ReplaceAll(got.body, theirNames[i], missingNames[i])
			}
			if got.status < 400 || got.status != want.status || got.code != want.code || got.body != want.body {
				t.Errorf("%s %s as bob on alice's resource: %d %s\nthe same on a missing one: %d %s", method, path, got.status, got.body, want.status, want.body)
			}
			probed = append(probed, method+" "+path)
		}
	}
	sort.Strings(probed)
	if len(probed) < 25 {
		t.Fatalf("only %d routes probed: %v", len(probed), probed)
	}
	t.Logf("probed %d routes: %v", len(probed), probed)

	// Nothing of alice's changed.
	for _, check := range [][]string{{"disk", "show", "a-disk"}, {"image", "show", "a-image"}} {
		s.ok(alice, check...)
	}
	if res := s.api(alice, "GET", "/v1/uploads/"+upload.ID, nil); res.status != 200 {
		t.Errorf("alice's upload: %d %s", res.status, res.body)
	}
	if out := s.ok(alice, "tenant", "key", "list", "alice", "-o", "json"); !strings.Contains(out, key.ID) {
		t.Errorf("alice's key is gone: %s", out)
	}
}
