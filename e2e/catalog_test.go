package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type imageJSON struct {
	Name       string   `json:"name"`
	ETag       string   `json:"etag"`
	Owner      string   `json:"owner"`
	Type       string   `json:"type"`
	OSState    string   `json:"osState"`
	SharedWith []string `json:"sharedWith"`
	Versions   []struct {
		Version   string                `json:"version"`
		OSDisk    struct{ Disk string } `json:"osDisk"`
		DataDisks []struct {
			LUN  int    `json:"lun"`
			Disk string `json:"disk"`
		} `json:"dataDisks"`
	} `json:"versions"`
	Community *struct {
		PublicName     string `json:"publicName"`
		PublisherURI   string `json:"publisherUri"`
		PublisherEmail string `json:"publisherEmail"`
		EULA           string `json:"eula"`
	} `json:"community"`
}

type resolvedJSON struct {
	Reference string `json:"reference"`
	Source    string `json:"source"`
	Version   string `json:"version"`
	Plan      *struct {
		Name          string `json:"name"`
		TermsAccepted bool   `json:"termsAccepted"`
	} `json:"plan"`
}

type summaryJSON struct {
	Reference string `json:"reference"`
	Source    string `json:"source"`
}

func osImage(s *server, key, name, disk string, extra ...string) {
	s.t.Helper()
	s.ok(key, append([]string{"image", "create", "--name", name, "--type", "os", "--os-type", "linux",
		"--os-state", "generalized", "--os-disk", disk}, extra...)...)
}

func references(s *server, key string) []string {
	var list []summaryJSON
	s.json(key, &list, "image", "list", "--all")
	var refs []string
	for _, e := range list {
		refs = append(refs, e.Reference)
	}
	return refs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestAuthRequired(t *testing.T) {
	s := startServer(t)
	if r := s.api("", "GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("/healthz without key: %d", r.status)
	}
	if r := s.api("", "GET", "/metrics", nil); r.status != 200 || !strings.Contains(r.body, "hangar_http_requests_total") {
		t.Fatalf("/metrics without key: %d %.200s", r.status, r.body)
	}
	for _, key := range []string{"", "hgr_not-a-real-key"} {
		if r := s.api(key, "GET", "/v1/images", nil); r.status != 401 || r.code != "Unauthenticated" {
			t.Fatalf("GET /v1/images with key %q: %d %s", key, r.status, r.body)
		}
	}
	if r := s.api(s.adminKey(), "GET", "/v1/whoami", nil); r.status != 200 || !strings.Contains(r.body, `"admin"`) {
		t.Fatalf("whoami as admin: %d %s", r.status, r.body)
	}
	// The admin key file is private.
	if fi, err := os.Stat(filepath.Join(s.dataDir, "admin.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v, mode %v; want mode 0600", err, fi.Mode())
	}
	alice := s.tenant("alice")
	msg := s.fails(alice, "tenant", "create", "mallory")
	if !strings.Contains(msg, "only an admin") {
		t.Fatalf("a user created a tenant: %s", msg)
	}
	if msg := s.fails(s.adminKey(), "tenant", "create", "alice"); !strings.Contains(msg, "already exists") {
		t.Fatalf("duplicate tenant: %s", msg)
	}
}

func TestLogin(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	out := s.ok("", "login", "--server", s.url(), "--key", alice)
	if !strings.Contains(out, "alice") {
		t.Fatalf("login output: %s", out)
	}
	// With the saved login, commands need no key.
	var who struct {
		Tenant struct{ Name string } `json:"tenant"`
	}
	cmdOut, _, err := s.hangar("", "disk", "list", "-o", "json")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(cmdOut), "[") {
		t.Fatalf("disk list after login: %v %s", err, cmdOut)
	}
	s.json("", &who, "login", "--server", s.url(), "--key", alice)
	if who.Tenant.Name != "alice" {
		t.Fatalf("login -o json: %+v", who)
	}
	if msg := s.fails("", "login", "--server", s.url(), "--key", "hgr_wrong"); !strings.Contains(msg, "not valid") {
		t.Fatalf("login with a wrong key: %s", msg)
	}
}

func TestPrivateImagesAndSharing(t *testing.T) {
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	s.uploadDisk(alice, "web-os", 1)
	osImage(s, alice, "web", "web-os")

	// Bob sees nothing of Alice's, and what he may not see answers exactly like
	// what does not exist.
	forbidden := s.api(bob, "GET", "/v1/images:lookup?ref=shared/alice/web", nil)
	forbiddenDisk := s.api(bob, "GET", "/v1/disks/web-os", nil)
	forbiddenResolve := s.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"shared/alice/web"}`))
	if forbidden.status != 404 || forbiddenDisk.status != 404 || forbiddenResolve.status != 404 {
		t.Fatalf("bob sees alice's image or disk: %d %d %d", forbidden.status, forbiddenDisk.status, forbiddenResolve.status)
	}
	if contains(references(s, bob), "shared/alice/web") {
		t.Fatal("bob's image list shows alice's private image")
	}
	if msg := s.fails(bob, "image", "delete", "web", "--yes"); !strings.Contains(msg, "not found") {
		t.Fatalf("bob deleting alice's image: %s", msg)
	}

	// Sharing.
	var im imageJSON
	s.json(alice, &im, "image", "share", "web", "--tenant", "bob")
	if len(im.SharedWith) != 1 || im.SharedWith[0] != "bob" {
		t.Fatalf("sharedWith = %v", im.SharedWith)
	}
	if !contains(references(s, bob), "shared/alice/web") {
		t.Fatal("shared image missing from bob's list")
	}
	var shown imageJSON
	s.json(bob, &shown, "image", "show", "shared/alice/web")
	if shown.Owner != "alice" || len(shown.SharedWith) != 0 || shown.Versions[0].OSDisk.Disk != "" {
		t.Fatalf("bob sees alice's private details of a shared image: %+v", shown)
	}
	if res := s.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"shared/alice/web"}`)); res.status != 200 || !strings.Contains(res.body, `"shared/alice/web@1.0.0"`) {
		t.Fatalf("bob resolving a shared image: %d %s", res.status, res.body)
	}
	s.ok(alice, "image", "unshare", "web", "--tenant", "bob")
	if contains(references(s, bob), "shared/alice/web") {
		t.Fatal("unshared image still in bob's list")
	}

	// Same body for forbidden and missing: delete the image and ask again.
	s.ok(alice, "image", "delete", "web", "--yes")
	missing := s.api(bob, "GET", "/v1/images:lookup?ref=shared/alice/web", nil)
	missingResolve := s.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"shared/alice/web"}`))
	s.ok(alice, "disk", "delete", "web-os", "--yes")
	missingDisk := s.api(bob, "GET", "/v1/disks/web-os", nil)
	for _, pair := range [][2]apiResult{{forbidden, missing}, {forbiddenResolve, missingResolve}, {forbiddenDisk, missingDisk}} {
		if pair[0].status != pair[1].status || pair[0].body != pair[1].body {
			t.Fatalf("forbidden and missing answer differently:\n%d %s\n%d %s", pair[0].status, pair[0].body, pair[1].status, pair[1].body)
		}
	}
}

func TestImageKinds(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	for _, d := range []string{"os", "data0", "data1"} {
		s.uploadDisk(alice, d, byte(len(d)))
	}
	base := []string{"image", "create", "--os-type", "linux", "--os-disk", "os"}

	msg := s.fails(alice, append(base, "--name", "a", "--type", "os", "--os-state", "specialized")...)
	if !strings.Contains(msg, "OS image must be generalized") {
		t.Fatalf("specialized OS image: %s", msg)
	}
	msg = s.fails(alice, append(base, "--name", "a", "--type", "os", "--os-state", "generalized", "--data-disk", "0=data0")...)
	if !strings.Contains(msg, "no data disks") || !strings.Contains(msg, "--type vm") {
		t.Fatalf("OS image with a data disk: %s", msg)
	}
	msg = s.fails(alice, append(base, "--name", "a", "--type", "vm", "--os-state", "specialized", "--data-disk", "0=data0", "--data-disk", "0=data1")...)
	if !strings.Contains(msg, "LUN 0 is used twice") {
		t.Fatalf("duplicate LUN: %s", msg)
	}
	msg = s.fails(alice, append(base, "--name", "a", "--type", "vm", "--os-state", "specialized", "--data-disk", "0=nosuchdisk")...)
	if !strings.Contains(msg, `disk "nosuchdisk" not found`) {
		t.Fatalf("missing data disk: %s", msg)
	}
	if r := s.api(alice, "GET", "/v1/images", nil); !strings.Contains(r.body, "[]") {
		t.Fatalf("refused creations left an image behind: %s", r.body)
	}

	var vm imageJSON
	s.json(alice, &vm, append(base, "--name", "db", "--type", "vm", "--os-state", "specialized",
		"--data-disk", "1=data1", "--data-disk", "0=data0", "--hyperv-generation", "V2")...)
	v := vm.Versions[0]
	if vm.Type != "vm" || vm.OSState != "specialized" || len(v.DataDisks) != 2 ||
		v.DataDisks[0].LUN != 0 || v.DataDisks[0].Disk != "data0" || v.DataDisks[1].Disk != "data1" {
		t.Fatalf("VM image: %+v", vm)
	}
	var osimg imageJSON
	s.json(alice, &osimg, append(base, "--name", "base", "--type", "os", "--os-state", "generalized")...)
	if osimg.Type != "os" || len(osimg.Versions[0].DataDisks) != 0 {
		t.Fatalf("OS image: %+v", osimg)
	}

	// A new version must match the definition; a version cannot be created twice.
	msg = s.fails(alice, append(base, "--name", "base", "--type", "os", "--os-state", "generalized")...)
	if !strings.Contains(msg, "already has version 1.0.0") {
		t.Fatalf("duplicate version: %s", msg)
	}
	msg = s.fails(alice, append(base, "--name", "base", "--type", "vm", "--os-state", "specialized", "--version", "2.0.0")...)
	if !strings.Contains(msg, "exists with type os") {
		t.Fatalf("mismatched definition: %s", msg)
	}

	// A disk in use cannot be deleted; once the images are gone it can.
	msg = s.fails(alice, "disk", "delete", "data1", "--yes")
	if !strings.Contains(msg, "used by image version db@1.0.0") {
		t.Fatalf("deleting a disk in use: %s", msg)
	}
	s.ok(alice, "image", "delete", "db", "--yes")
	s.ok(alice, "disk", "delete", "data1", "--yes")
}

func TestLatestSkipsExcludedVersions(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "os", 3)
	for _, v := range []string{"1.0.0", "1.2.0", "1.10.0"} {
		osImage(s, alice, "web", "os", "--version", v)
	}
	osImage(s, alice, "web", "os", "--version", "2.0.0", "--exclude-from-latest")
	resolve := func(ref string) string {
		var r resolvedJSON
		res := s.api(alice, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"`+ref+`"}`))
		if res.status != 200 {
			t.Fatalf("resolve %s: %d %s", ref, res.status, res.body)
		}
		mustUnmarshal(t, res.body, &r)
		return r.Version
	}
	if v := resolve("web"); v != "1.10.0" {
		t.Fatalf("latest = %s, want 1.10.0 (numeric order, 2.0.0 excluded)", v)
	}
	if v := resolve("web@2.0.0"); v != "2.0.0" {
		t.Fatalf("explicit excluded version = %s", v)
	}
	s.ok(alice, "image", "update-version", "web", "1.10.0", "--exclude-from-latest", "true")
	if v := resolve("web@latest"); v != "1.2.0" {
		t.Fatalf("latest after excluding 1.10.0 = %s, want 1.2.0", v)
	}
	if res := s.api(alice, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"web@3.0.0"}`)); res.status != 404 {
		t.Fatalf("missing version: %d %s", res.status, res.body)
	}
}

func TestCommunity(t *testing.T) {
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	s.uploadDisk(alice, "os", 4)
	osImage(s, alice, "web", "os", "--version", "1.0.0")
	osImage(s, alice, "web", "os", "--version", "1.1.0")
	publish := []string{"image", "publish-community", "web", "--public-name", "acme", "--publisher-uri", "https://acme.example",
		"--publisher-email", "images@acme.example", "--eula", "https://acme.example/eula"}
	s.ok(alice, publish...)

	if !contains(references(s, bob), "community/acme/web") {
		t.Fatal("community image missing from bob's list")
	}
	var im imageJSON
	s.json(bob, &im, "image", "show", "community/acme/web")
	if im.Community == nil || im.Community.PublisherURI != "https://acme.example" || im.Community.PublisherEmail != "images@acme.example" ||
		im.Community.EULA != "https://acme.example/eula" {
		t.Fatalf("community details not shown to everyone: %+v", im.Community)
	}
	res := s.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"community/acme/web/latest"}`))
	if res.status != 200 || !strings.Contains(res.body, `"community/acme/web/1.1.0"`) {
		t.Fatalf("community latest: %d %s", res.status, res.body)
	}

	// The public name is alice's; only she can change or withdraw her image.
	s.uploadDisk(bob, "bos", 5)
	osImage(s, bob, "web", "bos")
	bobPublish := append([]string{}, publish...)
	if msg := s.fails(bob, bobPublish...); !strings.Contains(msg, "belongs to another tenant") {
		t.Fatalf("bob publishing under alice's public name: %s", msg)
	}
	s.ok(bob, "image", "unpublish-community", "web", "--yes") // bob's own, unpublished image: no effect on alice's
	if !contains(references(s, bob), "community/acme/web") {
		t.Fatal("bob withdrew alice's community image")
	}
	// Alice changes the contact, then withdraws.
	s.ok(alice, append(publish[:len(publish)-4], "--publisher-email", "new@acme.example", "--eula", "https://acme.example/eula")...)
	s.json(bob, &im, "image", "show", "community/acme/web")
	if im.Community.PublisherEmail != "new@acme.example" {
		t.Fatalf("updated e-mail not shown: %+v", im.Community)
	}
	s.ok(alice, "image", "unpublish-community", "web", "--yes")
	if r := s.api(bob, "GET", "/v1/images:lookup?ref=community/acme/web", nil); r.status != 404 {
		t.Fatalf("withdrawn community image still visible: %d", r.status)
	}
	if msg := s.fails(alice, "image", "publish-community", "web", "--public-name", "acme", "--publisher-uri", "ftp://x",
		"--publisher-email", "x@y.z", "--eula", "e"); !strings.Contains(msg, "http or https URL") {
		t.Fatalf("bad publisher URI: %s", msg)
	}
}

// TestImageVersionInheritsDefinition: a new version of an existing image needs
// only its disks; a new image must say what it is; a contradiction is refused.
func TestImageVersionInheritsDefinition(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "d1", 1)
	s.uploadDisk(alice, "d2", 2)
	if msg := s.fails(alice, "image", "create", "--name", "sql", "--os-disk", "d1"); !strings.Contains(msg, "a new image needs --type") {
		t.Fatalf("a new image without its kind: %s", msg)
	}
	s.ok(alice, "image", "create", "--name", "sql", "--type", "os", "--os-type", "linux", "--os-state", "generalized",
		"--os-disk", "d1", "--hyperv-generation", "V2")
	var im imageJSON
	s.json(alice, &im, "image", "create", "--name", "sql", "--version", "1.1.0", "--os-disk", "d2")
	if len(im.Versions) != 1 || im.Versions[0].Version != "1.1.0" {
		t.Fatalf("new version: %+v", im)
	}
	if msg := s.fails(alice, "image", "create", "--name", "sql", "--version", "1.2.0", "--os-disk", "d2", "--os-type", "windows"); !strings.Contains(msg, "a new version must have the same") {
		t.Fatalf("a version contradicting its image: %s", msg)
	}
}
