package e2e

import (
	"strings"
	"testing"
)

type keyJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Hint      string `json:"hint"`
	Bootstrap bool   `json:"bootstrap"`
	Key       string `json:"key"`
	Tenant    string `json:"tenant"`
}

// TestAPIKeysAcrossNodes: on two API nodes sharing one database, a key created on
// one works on the other; once revoked on the first it fails on the second with
// the very next request (401), as keys are checked against the database on every
// request. Listings never show a key.
func TestAPIKeysAcrossNodes(t *testing.T) {
	c := newCluster(t)
	api1 := c.launch("api1", "--role", "api")
	api2 := c.launch("api2", "--role", "api")
	api1.waitHealthy()
	api2.waitHealthy()
	var created struct {
		Key string `json:"key"`
	}
	api1.json(c.adminKey, &created, "tenant", "create", "alice")
	first := created.Key

	// Alice makes herself a second key on node 1 and uses it on node 2.
	var ci keyJSON
	api1.json(first, &ci, "tenant", "key", "create", "alice", "--name", "ci")
	if !strings.HasPrefix(ci.Key, "hgr_") || ci.Tenant != "alice" || ci.Name != "ci" || ci.ID == "" {
		t.Fatalf("key create: %+v", ci)
	}
	api2.ok(ci.Key, "disk", "list")
	if r := api2.api(ci.Key, "GET", "/v1/whoami", nil); r.status != 200 || !strings.Contains(r.body, `"alice"`) {
		t.Fatalf("whoami with the new key on node 2: %d %s", r.status, r.body)
	}

	// Listings, as JSON and as a table, show IDs, names and hints, never a key.
	var keys []keyJSON
	api2.json(c.adminKey, &keys, "tenant", "key", "list", "alice")
	if len(keys) != 2 || keys[1].ID != ci.ID || keys[1].Hint != "…"+ci.Key[len(ci.Key)-4:] || keys[0].Key != "" || keys[1].Key != "" {
		t.Fatalf("key list: %+v", keys)
	}
	table := api2.ok(first, "tenant", "key", "list", "alice")
	if !strings.Contains(table, ci.ID) || !strings.Contains(table, keys[1].Hint) || strings.Contains(table, ci.Key) || strings.Contains(table, first) {
		t.Fatalf("key list table:\n%s", table)
	}
	listed := api2.api(c.adminKey, "GET", "/v1/tenants/alice/keys", nil)
	if strings.Contains(listed.body, ci.Key) || strings.Contains(listed.body, first) {
		t.Fatalf("the key list API shows a key: %s", listed.body)
	}

	// Another tenant sees nothing of alice's keys.
	api1.json(c.adminKey, &created, "tenant", "create", "bob")
	bob := created.Key
	if msg := api2.fails(bob, "tenant", "key", "list", "alice"); !strings.Contains(msg, "only an admin") {
		t.Fatalf("bob lists alice's keys: %s", msg)
	}
	if r := api2.api(bob, "DELETE", "/v1/tenants/alice/keys/"+ci.ID, nil); r.status != 403 {
		t.Fatalf("bob revokes alice's key: %d %s", r.status, r.body)
	}

	// Revoked on node 1: the next request on node 2 is refused.
	var revoked struct {
		Revoked bool `json:"revoked"`
	}
	api1.json(first, &revoked, "tenant", "key", "revoke", "alice", ci.ID, "--yes")
	if !revoked.Revoked {
		t.Fatalf("revoke: %+v", revoked)
	}
	if r := api2.api(ci.Key, "GET", "/v1/whoami", nil); r.status != 401 || r.code != "Unauthenticated" {
		t.Fatalf("the revoked key on node 2: %d %s", r.status, r.body)
	}
	if msg := api2.fails(ci.Key, "disk", "list"); !strings.Contains(msg, "not valid") {
		t.Fatalf("the CLI with a revoked key: %s", msg)
	}
	api2.ok(first, "disk", "list") // her other key still works
	if msg := api1.fails(first, "tenant", "key", "revoke", "alice", keys[0].ID, "--yes"); !strings.Contains(msg, "last key") {
		t.Fatalf("alice revokes her last key: %s", msg)
	}
}

// TestAdminKeyRotation: a node started with HANGAR_ADMIN_KEY=A and restarted with
// B accepts B and no longer A, on every node of the cluster, while keys the admin
// created stay.
func TestAdminKeyRotation(t *testing.T) {
	c := newCluster(t)
	a := c.adminKey
	api1 := c.launch("api1", "--role", "api")
	api2 := c.launch("api2", "--role", "api")
	api1.waitHealthy()
	api2.waitHealthy()
	var own keyJSON
	api1.json(a, &own, "tenant", "key", "create", "admin", "--name", "ops")

	const b = "e2e-the-rotated-admin-key-of-the-cluster"
	api1.kill()
	api1.sharedAdminKey = b
	api1.start()
	for _, n := range []*server{api1, api2} {
		if r := n.api(a, "GET", "/v1/whoami", nil); r.status != 401 {
			t.Fatalf("the replaced admin key on %s: %d %s", n.addr, r.status, r.body)
		}
		if r := n.api(b, "GET", "/v1/whoami", nil); r.status != 200 || !strings.Contains(r.body, `"admin"`) {
			t.Fatalf("the new admin key on %s: %d %s", n.addr, r.status, r.body)
		}
		n.ok(own.Key, "tenant", "list")
	}
	var keys []keyJSON
	api2.json(b, &keys, "tenant", "key", "list", "admin")
	if len(keys) != 2 || keys[0].Name != "ops" || !keys[1].Bootstrap || keys[1].Hint != "…"+b[len(b)-4:] {
		t.Fatalf("admin keys after the rotation: %+v", keys)
	}
}
