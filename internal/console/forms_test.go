package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func TestImageCreateFromForm(t *testing.T) {
	cases := []struct {
		name string
		form url.Values
		want hangar.ImageCreate
	}{
		{"os image", url.Values{"name": {" web "}, "type": {"os"}, "osType": {"linux"}, "osState": {"generalized"},
			"hyperVGeneration": {"V2"}, "version": {"1.2.3"}, "osDisk": {"d"}, "dataDisk0": {"x"}, "lun0": {"0"}},
			hangar.ImageCreate{Name: "web", Type: "os", OSType: "linux", OSState: "generalized", HyperVGeneration: "V2",
				Version: "1.2.3", OSDisk: "d"}},
		{"vm image keeps the filled data-disk rows", url.Values{"name": {"app"}, "type": {"vm"}, "osDisk": {"d"},
			"dataDisk0": {"x"}, "lun0": {"3"}, "dataDisk1": {""}, "lun1": {"1"}, "dataDisk2": {"y"}, "lun2": {"bad"},
			"excludeFromLatest": {"on"}},
			hangar.ImageCreate{Name: "app", Type: "vm", OSDisk: "d", ExcludeFromLatest: true,
				DataDisks: []hangar.DataDiskSpec{{LUN: 3, Disk: "x"}, {LUN: -1, Disk: "y"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "/", strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			got, err := imageCreateFromForm(r)
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestVMCreateFromForm(t *testing.T) {
	cases := []struct {
		name     string
		form     url.Values
		keys     []string
		password string
		custom   string
	}{
		{"ssh keys, one a line", url.Values{"auth": {"ssh"}, "sshKey": {"ssh-ed25519 AAA a\r\n\r\n ssh-rsa BBB b \n"},
			"adminPassword": {"ignored-Pass1"}}, []string{"ssh-ed25519 AAA a", "ssh-rsa BBB b"}, "", ""},
		{"password", url.Values{"auth": {"password"}, "sshKey": {"ssh-ed25519 AAA"}, "adminPassword": {" Pass word-1 "},
			"customData": {"#!/bin/sh\r\necho hi\r\n"}}, nil, " Pass word-1 ", "#!/bin/sh\necho hi\n"},
		{"no choice is ssh", url.Values{"sshKey": {"k"}}, []string{"k"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "/", strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			got := vmCreateFromForm(r)
			if !slices.Equal(got.SSHPublicKeys, tc.keys) || got.AdminPassword != tc.password || string(got.VMCreate.CustomData) != tc.custom {
				t.Fatalf("keys %q password %q custom data %q", got.SSHPublicKeys, got.AdminPassword, got.VMCreate.CustomData)
			}
		})
	}
}

func TestCreateImageInTheConsole(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	s.upload(t, "alice", "data")
	alice := s.browser(t)
	alice.signIn("alice")
	if a := alice.get("/console/new/image?disk=d"); a.status != 200 || !strings.Contains(a.body, `<option value="d" selected>`) {
		t.Fatalf("the image form: %d\n%s", a.status, a.body)
	}
	form := url.Values{"csrf": {alice.csrf}, "name": {"web"}, "type": {"os"}, "osType": {"linux"}, "osState": {"generalized"},
		"hyperVGeneration": {"V1"}, "osDisk": {"d"}, "description": {"<b>web</b>"}}
	a := alice.post("/console/new/image", form)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/images/web" {
		t.Fatalf("create: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	img, err := s.api["alice"].Image(t.Context(), "web")
	if err != nil || img.Type != hangar.ImageTypeOS || img.Description != "<b>web</b>" || len(img.Versions) != 1 {
		t.Fatalf("the API's image: %+v %v", img, err)
	}
	if a := alice.get("/console/images/web"); !strings.Contains(a.body, "Image web version 1.0.0 created.") ||
		!strings.Contains(a.body, `href="/console/new/vm?image=web"`) {
		t.Fatalf("the image page after create:\n%s", a.body)
	}
	// A new version keeps the image's definition in the form.
	if a := alice.get("/console/new/image?name=web"); !strings.Contains(a.body, "New version of web") {
		t.Fatalf("the new-version form:\n%s", a.body)
	}
	form.Set("version", "1.1.0")
	if a := alice.post("/console/new/image", form); a.status != http.StatusSeeOther {
		t.Fatalf("new version: %d\n%s", a.status, a.body)
	}
	// A VM image with a data disk.
	vmForm := url.Values{"csrf": {alice.csrf}, "name": {"app"}, "type": {"vm"}, "osType": {"linux"}, "osState": {"specialized"},
		"hyperVGeneration": {"V2"}, "osDisk": {"d"}, "dataDisk0": {"data"}, "lun0": {"2"}}
	if a := alice.post("/console/new/image", vmForm); a.status != http.StatusSeeOther {
		t.Fatalf("vm image: %d\n%s", a.status, a.body)
	}
	app, err := s.api["alice"].Image(t.Context(), "app")
	if err != nil || app.Type != hangar.ImageTypeVM || len(app.Versions) != 1 || len(app.Versions[0].DataDisks) != 1 ||
		app.Versions[0].DataDisks[0].LUN != 2 {
		t.Fatalf("the VM image: %+v %v", app, err)
	}
	// A refusal shows the API's message on the form, with what was typed.
	bad := url.Values{"csrf": {alice.csrf}, "name": {"other"}, "type": {"os"}, "osType": {"linux"}, "osState": {"generalized"},
		"osDisk": {"nope"}, "description": {"kept text"}}
	a = alice.post("/console/new/image", bad)
	if a.status < 400 || !strings.Contains(a.body, "nope") || !strings.Contains(a.body, "kept text") || !strings.Contains(a.body, `class="flash err"`) {
		t.Fatalf("a refused create: %d\n%s", a.status, a.body)
	}
	if _, err := s.api["alice"].Image(t.Context(), "other"); err == nil {
		t.Fatal("a refused image exists")
	}
}

func TestShareAndCommunityInTheConsole(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	s.image(t, "alice", hangar.ImageCreate{Name: "web", OSDisk: "d"})
	alice := s.browser(t)
	alice.signIn("alice")
	bobSees := func() bool {
		list, err := s.api["bob"].ListImages(t.Context(), true)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(list, func(i hangar.ImageSummary) bool { return i.Reference == "shared/alice/web" })
	}
	if a := alice.post("/console/images/web/share", url.Values{"csrf": {alice.csrf}, "tenant": {"bob"}}); a.status != http.StatusSeeOther || !bobSees() {
		t.Fatalf("share: %d, bob sees it: %v", a.status, bobSees())
	}
	if a := alice.get("/console/images/web"); !strings.Contains(a.body, "Stop sharing with bob") {
		t.Fatalf("the image page does not list the share:\n%s", a.body)
	}
	if a := alice.post("/console/images/web/unshare", url.Values{"csrf": {alice.csrf}, "tenant": {"bob"}}); a.status != http.StatusSeeOther || bobSees() {
		t.Fatalf("unshare: %d, bob sees it: %v", a.status, bobSees())
	}
	// A refused share shows the API's message.
	alice.post("/console/images/web/share", url.Values{"csrf": {alice.csrf}, "tenant": {"nobody"}})
	if a := alice.get("/console/images/web"); !strings.Contains(a.body, `class="flash err"`) {
		t.Fatalf("a refused share shows no error:\n%s", a.body)
	}
	pub := url.Values{"csrf": {alice.csrf}, "publicName": {"acme"}, "publisherUri": {"https://acme.example"},
		"publisherEmail": {"o@acme.example"}, "eula": {"https://acme.example/eula"}}
	if a := alice.post("/console/images/web/community", pub); a.status != http.StatusSeeOther {
		t.Fatalf("publish: %d", a.status)
	}
	if img, err := s.api["bob"].Image(t.Context(), "community/acme/web"); err != nil || img.Community.PublicName != "acme" {
		t.Fatalf("bob and the community image: %+v %v", img, err)
	}
	if a := alice.post("/console/images/web/community/withdraw", url.Values{"csrf": {alice.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", a.status)
	}
	if _, err := s.api["bob"].Image(t.Context(), "community/acme/web"); err == nil {
		t.Fatal("the withdrawn image is still in the community")
	}
	// Bob cannot share alice's image: the API says it does not exist for him.
	bob := s.browser(t)
	bob.signIn("bob")
	bob.post("/console/images/web/share", url.Values{"csrf": {bob.csrf}, "tenant": {"bob"}})
	if a := bob.get("/console/images"); !strings.Contains(a.body, `class="flash err"`) {
		t.Fatalf("bob sharing alice's image shows no error:\n%s", a.body)
	}
}

// proxied sends one request of the upload script.
func (b *browser) proxied(method, path string, body []byte, headers map[string]string) answer {
	b.t.Helper()
	h := map[string]string{"Origin": b.s.srv.URL, "Sec-Fetch-Site": "same-origin", csrfHeader: b.csrf, "Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	req, _ := http.NewRequest(method, b.s.srv.URL+path, bytes.NewReader(body))
	for k, v := range h {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func TestUploadThroughTheSession(t *testing.T) {
	s := newStack(t, false)
	alice := s.browser(t)
	alice.signIn("alice")
	other := s.browser(t)
	other.signIn("alice")
	anon := s.browser(t)
	create := []byte(`{"name":"up","virtualSize":8388608,"sourceFormat":"raw"}`)
	refusals := []struct {
		name    string
		b       *browser
		headers map[string]string
		status  int
	}{
		{"no session", anon, nil, http.StatusUnauthorized},
		{"no token", alice, map[string]string{csrfHeader: ""}, http.StatusForbidden},
		{"wrong token", alice, map[string]string{csrfHeader: altered(alice.csrf)}, http.StatusForbidden},
		{"another session's token", alice, map[string]string{csrfHeader: other.csrf}, http.StatusForbidden},
		{"cross-site", alice, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"other origin", alice, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
	}
	for _, tc := range refusals {
		if a := tc.b.proxied("POST", "/console/api/uploads", create, tc.headers); a.status != tc.status {
			t.Errorf("%s: %d, want %d\n%s", tc.name, a.status, tc.status, a.body)
		}
	}
	// The whole protocol, as the script speaks it: one chunk of data, one of zeros.
	a := alice.proxied("POST", "/console/api/uploads", create, nil)
	var up hangar.Upload
	if a.status != http.StatusCreated || json.Unmarshal([]byte(a.body), &up) != nil || up.ChunkSize != chunks.ChunkSize {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	data := bytes.Repeat([]byte("hangar!!"), chunks.ChunkSize/8)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	missing := func() string {
		a := alice.proxied("POST", "/console/api/uploads/"+up.ID+"/missing", []byte(`{"digests":["`+digest+`"]}`), nil)
		if a.status != 200 {
			t.Fatalf("missing: %d %s", a.status, a.body)
		}
		return a.body
	}
	if !strings.Contains(missing(), digest) {
		t.Fatal("a new chunk is not missing")
	}
	// A chunk whose bytes do not match its digest is refused by the API.
	if a := alice.proxied("PUT", "/console/api/uploads/"+up.ID+"/chunks/"+digest, data[:100], map[string]string{"Content-Type": ""}); a.status < 400 {
		t.Fatalf("a wrong chunk: %d", a.status)
	}
	if a := alice.proxied("PUT", "/console/api/uploads/"+up.ID+"/chunks/"+digest, data, map[string]string{"Content-Type": ""}); a.status >= 300 {
		t.Fatalf("put: %d %s", a.status, a.body)
	}
	if strings.Contains(missing(), digest) {
		t.Fatal("a sent chunk is still missing")
	}
	// Another tenant's session cannot touch alice's upload.
	bob := s.browser(t)
	bob.signIn("bob")
	if a := bob.proxied("GET", "/console/api/uploads/"+up.ID, nil, nil); a.status != http.StatusNotFound {
		t.Fatalf("bob reading alice's upload: %d", a.status)
	}
	commit := `{"extents":[{"offset":4194304,"length":4194304,"sha256":"` + digest + `"}]}`
	if a := alice.proxied("POST", "/console/api/uploads/"+up.ID+"/commit", []byte(commit), nil); a.status != http.StatusCreated {
		t.Fatalf("commit: %d %s", a.status, a.body)
	}
	path := t.TempDir() + "/up.raw"
	if _, err := s.api["alice"].DownloadDisk(t.Context(), "up", "raw", path, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := readFile(path)
	want := append(make([]byte, chunks.ChunkSize), data...)
	if !bytes.Equal(got, want) {
		t.Fatalf("the uploaded disk differs: %d bytes", len(got))
	}
	// Only the upload routes are reachable this way.
	for _, p := range []string{"/console/api/disks", "/console/api/uploads/" + up.ID + "/other", "/console/api/tenants"} {
		if a := alice.proxied("GET", p, nil, nil); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, a.status)
		}
	}
}

func TestAdminPages(t *testing.T) {
	s := newStack(t, false)
	admin := s.browser(t)
	admin.signIn("admin")
	if a := admin.get("/console/admin/tenants/bob"); a.status != 200 || !strings.Contains(a.body, "stored bytes") || !strings.Contains(a.body, "API keys") {
		t.Fatalf("a tenant's page: %d\n%s", a.status, a.body)
	}
	if a := admin.post("/console/admin/tenants/bob/quotas", url.Values{"csrf": {admin.csrf}, "disks": {"5"}, "storedBytes": {"2GiB"}}); a.status != http.StatusSeeOther {
		t.Fatalf("quotas: %d", a.status)
	}
	d, err := s.api["admin"].Tenant(t.Context(), "bob")
	if err != nil || d.Limits.Disks != 5 || d.Limits.StoredBytes != 2<<30 {
		t.Fatalf("bob's limits: %+v %v", d.Limits, err)
	}
	a := admin.post("/console/admin/tenants/bob/keys", url.Values{"csrf": {admin.csrf}, "keyName": {"ci"}})
	key := regexpKey.FindString(a.body)
	if a.status != 200 || key == "" {
		t.Fatalf("new key: %d\n%s", a.status, a.body)
	}
	api := client.New("http://hangar.internal", key, client.WithHandler(s.h.api))
	who, err := api.Whoami(t.Context())
	if err != nil || who.Tenant.Name != "bob" {
		t.Fatalf("the new key: %+v %v", who, err)
	}
	keys, _ := s.api["admin"].ListKeys(t.Context(), "bob")
	var id string
	for _, k := range keys {
		if k.Name == "ci" {
			id = k.ID
		}
	}
	if a := admin.post("/console/admin/tenants/bob/keys/"+id+"/revoke", url.Values{"csrf": {admin.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", a.status)
	}
	if _, err := api.Whoami(t.Context()); err == nil {
		t.Fatal("the revoked key still works")
	}
	if a := admin.get("/console/admin/hosts"); a.status != 200 {
		t.Fatalf("hosts: %d", a.status)
	}
	if a := admin.post("/console/admin/gc", url.Values{"csrf": {admin.csrf}, "dryRun": {"on"}}); a.status != 200 || !strings.Contains(a.body, "dry run: nothing removed") {
		t.Fatalf("gc: %d\n%s", a.status, a.body)
	}
	if a := admin.post("/console/admin/scrub", url.Values{"csrf": {admin.csrf}}); a.status != 200 || !strings.Contains(a.body, "Chunks verified") {
		t.Fatalf("scrub: %d\n%s", a.status, a.body)
	}
	// A tenant gets the API's refusal on every admin page, and no admin action runs.
	alice := s.browser(t)
	alice.signIn("alice")
	for _, p := range []string{"/console/admin/tenants", "/console/admin/tenants/bob", "/console/admin/hosts", "/console/admin/maintenance"} {
		if a := alice.get(p); a.status != http.StatusForbidden && a.status != http.StatusNotFound {
			t.Errorf("alice GET %s: %d", p, a.status)
		}
	}
	alice.post("/console/admin/tenants/bob/quotas", url.Values{"csrf": {alice.csrf}, "disks": {"99"}})
	if d, _ := s.api["admin"].Tenant(t.Context(), "bob"); d.Limits.Disks != 5 {
		t.Fatalf("alice changed bob's quota: %d", d.Limits.Disks)
	}
}

func TestVMStatesJSON(t *testing.T) {
	s := newStack(t, false)
	alice := s.browser(t)
	alice.signIn("alice")
	a := alice.get("/console/vms.json")
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" || strings.TrimSpace(a.body) != "[]" {
		t.Fatalf("vms.json: %d %s %q", a.status, a.header.Get("Content-Type"), a.body)
	}
	if a := s.browser(t).get("/console/vms.json"); a.status != http.StatusSeeOther {
		t.Fatalf("vms.json without a session: %d", a.status)
	}
}

var regexpKey = regexp.MustCompile(`hgr_[A-Za-z0-9_-]+`)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func TestVersionsMarketplaceAndDeleteInTheConsole(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "contoso", "d")
	s.image(t, "contoso", hangar.ImageCreate{Name: "lin", OSDisk: "d", Version: "1.0.0"})
	s.image(t, "contoso", hangar.ImageCreate{Name: "lin", OSDisk: "d", Version: "1.1.0"})
	pub := s.browser(t)
	pub.signIn("contoso")
	if a := pub.get("/console/images/lin"); !strings.Contains(a.body, "Publish to the marketplace") || !strings.Contains(a.body, "Delete image…") {
		t.Fatalf("a publisher's image page:\n%s", a.body)
	}
	// Exclude 1.1.0 from latest with an end of life: latest becomes 1.0.0.
	if a := pub.post("/console/images/lin/versions/1.1.0", url.Values{"csrf": {pub.csrf}, "excludeFromLatest": {"on"}, "endOfLife": {"2030-01-02"}}); a.status != http.StatusSeeOther {
		t.Fatalf("update version: %d", a.status)
	}
	if r, err := s.api["contoso"].Resolve(t.Context(), "lin"); err != nil || r.Version.String() != "1.0.0" {
		t.Fatalf("latest after excluding 1.1.0: %+v %v", r, err)
	}
	img, _ := s.api["contoso"].Image(t.Context(), "lin")
	if v := img.Versions[1]; !v.ExcludeFromLatest || v.EndOfLife != "2030-01-02" {
		t.Fatalf("version 1.1.0: %+v", v)
	}
	// A bad date is the API's refusal, shown.
	pub.post("/console/images/lin/versions/1.1.0", url.Values{"csrf": {pub.csrf}, "endOfLife": {"soon"}})
	if a := pub.get("/console/images/lin"); !strings.Contains(a.body, "must be YYYY-MM-DD") {
		t.Fatalf("a bad end of life shows no error:\n%s", a.body)
	}
	// The marketplace.
	form := url.Values{"csrf": {pub.csrf}, "urn": {"Contoso:Linux:base:1.0.0"}, "version": {"1.0.0"}, "plan": {"std"}}
	if a := pub.post("/console/images/lin/marketplace", form); a.status != http.StatusSeeOther {
		t.Fatalf("publish: %d", a.status)
	}
	if m, err := s.api["alice"].MarketplaceImage(t.Context(), "Contoso:Linux:base:1.0.0"); err != nil || m.Plan == nil || m.Plan.Name != "std" {
		t.Fatalf("alice and the published version: %+v %v", m, err)
	}
	// A user sees no marketplace form, and the API refuses one posted anyway.
	s.upload(t, "alice", "a")
	s.image(t, "alice", hangar.ImageCreate{Name: "mine", OSDisk: "a"})
	alice := s.browser(t)
	alice.signIn("alice")
	if a := alice.get("/console/images/mine"); strings.Contains(a.body, "Publish to the marketplace") {
		t.Fatal("a user is offered the marketplace")
	}
	alice.post("/console/images/mine/marketplace", url.Values{"csrf": {alice.csrf}, "urn": {"Alice:X:y:1.0.0"}})
	if _, err := s.api["alice"].MarketplaceImage(t.Context(), "Alice:X:y:1.0.0"); err == nil {
		t.Fatal("a user published to the marketplace")
	}
	// Delete after confirmation; the image is gone.
	a := alice.get("/console/delete/image/mine")
	m := regexp.MustCompile(`name="etag" value="([^"]+)"`).FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		t.Fatalf("the delete confirmation: %d\n%s", a.status, a.body)
	}
	if a := alice.post("/console/delete/image/mine", url.Values{"csrf": {alice.csrf}, "etag": {html.UnescapeString(m[1])}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/images" {
		t.Fatalf("delete: %d %s", a.status, a.header.Get("Location"))
	}
	if _, err := s.api["alice"].Image(t.Context(), "mine"); err == nil {
		t.Fatal("the deleted image is still there")
	}
	// Another tenant's image cannot even be asked about.
	if a := alice.get("/console/delete/image/lin"); a.status != http.StatusNotFound {
		t.Fatalf("alice asking to delete contoso's image: %d", a.status)
	}
}

func TestCreateTenantInTheConsole(t *testing.T) {
	s := newStack(t, false)
	admin := s.browser(t)
	admin.signIn("admin")
	a := admin.post("/console/admin/tenants", url.Values{"csrf": {admin.csrf}, "name": {"dave"}, "role": {"publisher"}, "entitlements": {"msdn, vs"}})
	key := regexpKey.FindString(a.body)
	if a.status != 200 || key == "" || !strings.Contains(a.body, "This key is shown once") {
		t.Fatalf("create tenant: %d\n%s", a.status, a.body)
	}
	who, err := client.New("http://hangar.internal", key, client.WithHandler(s.h.api)).Whoami(t.Context())
	if err != nil || who.Tenant.Name != "dave" || who.Tenant.Role != hangar.RolePublisher || !slices.Equal(who.Tenant.Entitlements, []string{"msdn", "vs"}) {
		t.Fatalf("the new tenant: %+v %v", who, err)
	}
	// The key is never shown again.
	if a := admin.get("/console/admin/tenants/dave"); strings.Contains(a.body, key) {
		t.Fatal("the key is shown again")
	}
	// A refusal is the API's.
	admin.post("/console/admin/tenants", url.Values{"csrf": {admin.csrf}, "name": {"dave"}})
	if a := admin.get("/console/admin/tenants"); !strings.Contains(a.body, `class="flash err"`) {
		t.Fatalf("a second dave shows no error:\n%s", a.body)
	}
	alice := s.browser(t)
	alice.signIn("alice")
	alice.post("/console/admin/tenants", url.Values{"csrf": {alice.csrf}, "name": {"eve"}})
	if _, err := s.api["admin"].Tenant(t.Context(), "eve"); err == nil {
		t.Fatal("a user created a tenant")
	}
}
