package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustUnmarshal(t *testing.T, text string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("bad JSON %v: %s", err, text)
	}
}

type marketJSON struct {
	URN     string `json:"urn"`
	Version string `json:"version"`
	Plan    *struct {
		Name          string `json:"name"`
		TermsAccepted bool   `json:"termsAccepted"`
	} `json:"plan"`
}

func urns(list []marketJSON) []string {
	var out []string
	for _, m := range list {
		out = append(out, m.URN)
	}
	return out
}

func names(s *server, key string, args ...string) []string {
	var list []struct{ Name string }
	s.json(key, &list, append([]string{"vm", "image"}, args...)...)
	var out []string
	for _, n := range list {
		out = append(out, n.Name)
	}
	return out
}

func TestMarketplace(t *testing.T) {
	s := startServer(t)
	contoso := s.tenant("contoso", "--role", "publisher")
	alice := s.tenant("alice")
	bob := s.tenant("bob", "--entitlement", "msdn")
	s.uploadDisk(contoso, "os", 6)
	osImage(s, contoso, "linux", "os", "--version", "1.0.0")
	osImage(s, contoso, "linux", "os", "--version", "1.1.0")
	osImage(s, contoso, "sql", "os", "--description", "SQL preinstalled", "--eula", "https://contoso.example/sql-eula")

	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "linux@1.0.0")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.1.0", "--image", "linux@1.1.0", "--exclude-from-latest")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:minimal:1.0.0", "--image", "linux")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:SQL:enterprise:1.0.0", "--image", "sql", "--plan", "enterprise", "--entitlement", "msdn")

	// Only publishers publish; a publisher name is its first user's.
	s.uploadDisk(alice, "aos", 7)
	osImage(s, alice, "mine", "aos")
	if msg := s.fails(alice, "marketplace", "publish", "--urn", "Alice:X:y:1.0.0", "--image", "mine"); !strings.Contains(msg, "publisher role") {
		t.Fatalf("a user published: %s", msg)
	}
	fabrikam := s.tenant("fabrikam", "--role", "publisher")
	s.uploadDisk(fabrikam, "fos", 8)
	osImage(s, fabrikam, "f", "fos")
	if msg := s.fails(fabrikam, "marketplace", "publish", "--urn", "Contoso:Linux:base:9.0.0", "--image", "f"); !strings.Contains(msg, "belongs to another tenant") {
		t.Fatalf("publishing under another's publisher name: %s", msg)
	}
	if msg := s.fails(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "linux"); !strings.Contains(msg, "already published") {
		t.Fatalf("republishing a version: %s", msg)
	}

	// Alice lacks msdn: no trace of the SQL offer anywhere.
	var list []marketJSON
	s.json(alice, &list, "vm", "image", "list", "--all")
	if got := strings.Join(urns(list), " "); got != "Contoso:Linux:base:1.0.0 Contoso:Linux:base:1.1.0 Contoso:Linux:minimal:1.0.0" {
		t.Fatalf("alice's --all list: %s", got)
	}
	s.json(alice, &list, "vm", "image", "list")
	if got := strings.Join(urns(list), " "); got != "Contoso:Linux:base:1.0.0 Contoso:Linux:minimal:1.0.0" {
		t.Fatalf("alice's latest list (1.1.0 excluded from latest): %s", got)
	}
	if got := names(s, alice, "list-offers", "--publisher", "Contoso"); strings.Join(got, " ") != "Linux" {
		t.Fatalf("alice's offers: %v", got)
	}
	if got := names(s, alice, "list-skus", "--publisher", "Contoso", "--offer", "SQL"); len(got) != 0 {
		t.Fatalf("alice sees SQL SKUs: %v", got)
	}
	hidden := s.api(alice, "GET", "/v1/marketplace/images/Contoso:SQL:enterprise:latest", nil)
	absent := s.api(alice, "GET", "/v1/marketplace/images/Contoso:NoSuch:enterprise:latest", nil)
	if hidden.status != 404 || strings.Replace(hidden.body, "SQL", "NoSuch", 1) != absent.body {
		t.Fatalf("restricted offer answers unlike a missing one:\n%s\n%s", hidden.body, absent.body)
	}
	if r := s.api(alice, "GET", "/v1/marketplace/terms/Contoso:SQL:enterprise:1.0.0", nil); r.status != 404 {
		t.Fatalf("alice sees the terms of a restricted offer: %d", r.status)
	}
	for _, ref := range references(s, alice) {
		if strings.Contains(ref, "SQL") {
			t.Fatalf("restricted offer in alice's image list: %s", ref)
		}
	}

	// Bob holds msdn: he sees SQL, its plan, and must accept its terms.
	if got := names(s, bob, "list-publishers"); strings.Join(got, " ") != "Contoso" {
		t.Fatalf("publishers: %v", got)
	}
	if got := names(s, bob, "list-offers", "--publisher", "Contoso"); strings.Join(got, " ") != "Linux SQL" {
		t.Fatalf("bob's offers: %v", got)
	}
	var m marketJSON
	s.json(bob, &m, "vm", "image", "show", "--urn", "Contoso:SQL:enterprise:latest")
	if m.URN != "Contoso:SQL:enterprise:1.0.0" || m.Plan == nil || m.Plan.Name != "enterprise" || m.Plan.TermsAccepted {
		t.Fatalf("bob's SQL show: %+v", m)
	}
	var terms struct {
		Accepted bool   `json:"accepted"`
		EULA     string `json:"eula"`
	}
	s.json(bob, &terms, "vm", "image", "terms", "show", "--urn", "Contoso:SQL:enterprise:1.0.0")
	if terms.Accepted || terms.EULA != "https://contoso.example/sql-eula" {
		t.Fatalf("terms before accepting: %+v", terms)
	}
	s.json(bob, &terms, "vm", "image", "terms", "accept", "--urn", "Contoso:SQL:enterprise:latest")
	if !terms.Accepted {
		t.Fatal("terms not accepted")
	}
	var r resolvedJSON
	res := s.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"Contoso:SQL:enterprise:latest"}`))
	mustUnmarshal(t, res.body, &r)
	if r.Reference != "Contoso:SQL:enterprise:1.0.0" || r.Plan == nil || !r.Plan.TermsAccepted {
		t.Fatalf("resolved SQL after accepting: %s", res.body)
	}
	if msg := s.fails(bob, "vm", "image", "terms", "show", "--urn", "Contoso:Linux:base:1.0.0"); !strings.Contains(msg, "no plan") {
		t.Fatalf("terms of a plan-less image: %s", msg)
	}

	// latest resolves past the excluded version; an exact excluded version still works.
	s.json(alice, &m, "vm", "image", "show", "--urn", "Contoso:Linux:base:latest")
	if m.URN != "Contoso:Linux:base:1.0.0" {
		t.Fatalf("latest = %s, want 1.0.0 (1.1.0 excluded)", m.URN)
	}
	s.json(alice, &m, "vm", "image", "show", "--urn", "contoso:LINUX:Base:latest")
	if m.URN != "Contoso:Linux:base:1.0.0" {
		t.Fatalf("URNs must match case-insensitively, as Azure's do: %s", m.URN)
	}
	s.json(alice, &m, "image", "show", "Contoso:Linux:base:1.1.0")
	if m.Version != "1.1.0" {
		t.Fatalf("explicit version = %+v", m)
	}

	// The image behind a marketplace version cannot be deleted until withdrawn.
	if msg := s.fails(contoso, "image", "delete", "sql", "--yes"); !strings.Contains(msg, "published in the marketplace") {
		t.Fatalf("deleting a published image: %s", msg)
	}
	s.ok(contoso, "marketplace", "withdraw", "Contoso:SQL:enterprise:1.0.0", "--yes")
	s.ok(contoso, "image", "delete", "sql", "--yes")
	if got := names(s, bob, "list-offers", "--publisher", "Contoso"); strings.Join(got, " ") != "Linux" {
		t.Fatalf("withdrawn offer still listed: %v", got)
	}
}
