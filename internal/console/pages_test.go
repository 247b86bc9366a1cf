package console

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// The pages and actions that followed the CLI: tags, properties, replication,
// marketplace withdrawal, disk import and generalize, events and webhooks,
// syndication, the forms' definition fields.

// etagIn returns the etag the form posting to action carries on page.
func etagIn(t *testing.T, page, action string) string {
	t.Helper()
	m := regexp.MustCompile(`action="` + regexp.QuoteMeta(action) + `"[^>]*>\s*<input type="hidden" name="csrf" value="[^"]*">\s*<input type="hidden" name="etag" value="([^"]*)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form posting to %s with an etag:\n%s", action, page)
	}
	return html.UnescapeString(m[1])
}

// flashErr returns the error the page shows, if any.
func flashErr(page string) string {
	m := regexp.MustCompile(`class="flash err" role="alert"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestTagsInTheConsole(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	s.image(t, "alice", hangar.ImageCreate{Name: "web", OSDisk: "d", Version: "1.0.0"})
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	for _, tc := range []struct{ page, action string }{
		{"/console/disks/d", "/console/disks/d/tags"},
		{"/console/images/web", "/console/images/web/tags"},
		{"/console/images/web", "/console/images/web/versions/1.0.0/tags"},
	} {
		page := alice.get(tc.page).body
		etag := etagIn(t, page, tc.action)
		a := alice.post(tc.action, url.Values{"csrf": {alice.csrf}, "etag": {etag}, "pairs": {"env=prod\r\n\r\n team = <b>pay</b> \r\nsolo"}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != tc.page {
			t.Fatalf("%s: %d %s", tc.action, a.status, a.header.Get("Location"))
		}
		after := alice.get(tc.page).body
		if !strings.Contains(after, "tags saved.") || !strings.Contains(after, "<code>team</code> = <code>&lt;b&gt;pay&lt;/b&gt;</code>") ||
			strings.Contains(after, "<b>pay</b>") {
			t.Errorf("%s: the page after saving tags:\n%s", tc.page, after)
		}
		// The page read before the change is stale: the API refuses its ETag.
		alice.post(tc.action, url.Values{"csrf": {alice.csrf}, "etag": {etag}, "pairs": {"env=dev"}})
		if msg := flashErr(alice.get(tc.page).body); !strings.Contains(msg, "changed since it was read") {
			t.Errorf("%s with a stale ETag: %q", tc.action, msg)
		}
		// A key the API refuses: its message.
		alice.post(tc.action, url.Values{"csrf": {alice.csrf}, "etag": {etagIn(t, alice.get(tc.page).body, tc.action)}, "pairs": {"a<b=1"}})
		if msg := flashErr(alice.get(tc.page).body); !strings.Contains(msg, "a<b") {
			t.Errorf("%s with a bad key: %q", tc.action, msg)
		}
		// Another tenant's: the not-found page, nothing changed.
		a = bob.post(tc.action, url.Values{"csrf": {bob.csrf}, "pairs": {"owner=bob"}})
		if back := bob.get(a.header.Get("Location")); back.status != http.StatusNotFound {
			t.Errorf("bob tagging alice's %s: back at %s, %d", tc.action, a.header.Get("Location"), back.status)
		}
	}
	d, _ := s.api["alice"].Disk(t.Context(), "d")
	img, _ := s.api["alice"].Image(t.Context(), "web")
	for what, tags := range map[string]hangar.Tags{"disk": d.Tags, "image": img.Tags, "version": img.Versions[0].Tags} {
		if len(tags) != 3 || tags["env"] != "prod" || tags["team"] != "<b>pay</b>" || tags["solo"] != "" {
			t.Errorf("the %s's tags: %v", what, tags)
		}
	}
	// Clearing: an empty list removes them all.
	alice.post("/console/disks/d/tags", url.Values{"csrf": {alice.csrf}, "etag": {d.ETag}, "pairs": {""}})
	if d, _ := s.api["alice"].Disk(t.Context(), "d"); len(d.Tags) != 0 {
		t.Errorf("tags after clearing: %v", d.Tags)
	}
}

// TestTagsInTheLists: the disk and VM lists show each item's tags as links to
// the list filtered by that tag; the filter is the API's (KEY, KEY=VALUE, all
// of several), kept in the form to be dropped one by one; a filter the API
// refuses shows its message; markup in a tag is text in the list and in its link.
func TestTagsInTheLists(t *testing.T) {
	s := newStack(t, false)
	alice := s.browser(t)
	alice.signIn("alice")
	ctx := t.Context()
	for name, tags := range map[string]hangar.Tags{
		"a": {"env": "prod", "team": "web"},
		"b": {"env": "dev", "note": `<b>x</b>&y`},
		"c": nil,
	} {
		s.upload(t, "alice", name)
		if tags != nil {
			if err := s.api["alice"].SetTags(ctx, "disks", name, "", tags, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows := func(page string) []string {
		return regexp.MustCompile(`<a href="/console/disks/([a-z]+)">`).FindAllString(page, -1)
	}
	page := alice.get("/console/disks").body
	if len(rows(page)) != 3 || !strings.Contains(page, `<a class="tag" href="/console/disks?tag=env=prod">env=prod</a>`) ||
		!strings.Contains(page, `>note=&lt;b&gt;x&lt;/b&gt;&amp;y</a>`) || !strings.Contains(page, `href="/console/disks?tag=note=%3cb%3ex%3c%2fb%3e%26y"`) {
		t.Fatalf("the disk list's tags:\n%s", page)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"tag=env", []string{"a", "b"}},
		{"tag=env=prod", []string{"a"}},
		{"tag=env&tag=team=web&tag=", []string{"a"}},
		{"tag=" + url.QueryEscape(`note=<b>x</b>&y`), []string{"b"}},
		{"tag=env=staging", nil},
	} {
		page := alice.get("/console/disks?" + tc.query).body
		var got []string
		for _, m := range regexp.MustCompile(`<a href="/console/disks/([a-z]+)">`).FindAllStringSubmatch(page, -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("?%s: %q, want %q", tc.query, got, tc.want)
		}
		if tc.want == nil && !strings.Contains(page, "No disks have this tag.") {
			t.Errorf("?%s: no empty message", tc.query)
		}
	}
	// The filter's terms stay in the form, each to be unchecked.
	page = alice.get("/console/disks?tag=env&tag=team=web").body
	if !strings.Contains(page, `<input type="checkbox" name="tag" value="env" checked>`) || !strings.Contains(page, `value="team=web" checked>`) {
		t.Errorf("the filter form:\n%s", page)
	}
	// A term the API refuses: its message, with the 400.
	if a := alice.get("/console/disks?tag=%3Dx"); a.status != http.StatusBadRequest || !strings.Contains(flashErr(a.body), "use KEY or KEY=VALUE") {
		t.Errorf("a bad filter: %d %q", a.status, flashErr(a.body))
	}
	// The VM list takes the same filter (no VM runs here: an empty list).
	if page := alice.get("/console/vms?tag=env").body; !strings.Contains(page, "No VMs have this tag.") || !strings.Contains(page, `id="tag-filter"`) {
		t.Errorf("the VM list's filter:\n%s", page)
	}
}

func TestPropertiesAndReplicationInTheConsole(t *testing.T) {
	s := newStackWith(t, false, apitest.Options{Regions: []string{"west"}})
	s.upload(t, "alice", "d")
	s.image(t, "alice", hangar.ImageCreate{Name: "web", OSDisk: "d", Version: "1.0.0"})
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	const action = "/console/images/web/versions/1.0.0/properties"
	etag := etagIn(t, alice.get("/console/images/web").body, action)
	if a := alice.post(action, url.Values{"csrf": {alice.csrf}, "etag": {etag}, "pairs": {"os_distro=ubuntu\nnote=<i>x</i>"}}); a.status != http.StatusSeeOther {
		t.Fatalf("set properties: %d", a.status)
	}
	img, _ := s.api["alice"].Image(t.Context(), "web")
	if p := img.Versions[0].Properties; p["os_distro"] != "ubuntu" || p["note"] != "<i>x</i>" {
		t.Fatalf("the version's properties: %v", p)
	}
	if page := alice.get("/console/images/web").body; !strings.Contains(page, "properties saved.") || strings.Contains(page, "<i>x</i>") ||
		!strings.Contains(page, "&lt;i&gt;x&lt;/i&gt;") {
		t.Errorf("the image page after setting properties:\n%s", page)
	}
	// If-Match: the ETag read before the change no longer holds.
	alice.post(action, url.Values{"csrf": {alice.csrf}, "etag": {etag}, "pairs": {"os_distro=debian"}})
	if msg := flashErr(alice.get("/console/images/web").body); !strings.Contains(msg, "changed since it was read") {
		t.Errorf("properties with a stale ETag: %q", msg)
	}
	// Bob may use alice's image once shared: he sees the properties, not the forms.
	if _, err := s.api["alice"].Share(t.Context(), "web", "bob", true); err != nil {
		t.Fatal(err)
	}
	if page := bob.get("/console/images/shared/alice/web").body; !strings.Contains(page, "<code>os_distro</code> = <code>ubuntu</code>") ||
		strings.Contains(page, action) {
		t.Errorf("bob's view of the properties:\n%s", page)
	}
	// ...and his posts are the API's not-found.
	bob.post(action, url.Values{"csrf": {bob.csrf}, "pairs": {"x=y"}})
	if msg := flashErr(bob.get("/console/images").body); !strings.Contains(msg, "not found") {
		t.Errorf("bob setting alice's properties: %q", msg)
	}
	// Replication to another region, then its state on the page.
	const repl = "/console/images/web/versions/1.0.0/replicate"
	if a := alice.post(repl, url.Values{"csrf": {alice.csrf}, "region": {"west"}, "replicaCount": {"2"}}); a.status != http.StatusSeeOther {
		t.Fatalf("replicate: %d", a.status)
	}
	rs, err := s.api["alice"].Replication(t.Context(), "web", "1.0.0")
	found := false
	for _, r := range rs {
		found = found || r.Region == "west" && r.ReplicaCount == 2
	}
	if err != nil || !found {
		t.Fatalf("replication after the form: %+v %v", rs, err)
	}
	if page := alice.get("/console/images/web").body; !strings.Contains(page, "is being replicated") || !strings.Contains(page, "west ×2: ") {
		t.Errorf("the image page after replicating:\n%s", page)
	}
	alice.post(repl, url.Values{"csrf": {alice.csrf}, "region": {"nowhere"}})
	if msg := flashErr(alice.get("/console/images/web").body); !strings.Contains(msg, "nowhere") {
		t.Errorf("replicating to an unknown region: %q", msg)
	}
	alice.post(repl, url.Values{"csrf": {alice.csrf}, "region": {"west"}, "replicaCount": {"two"}})
	if msg := flashErr(alice.get("/console/images/web").body); !strings.Contains(msg, "whole number") {
		t.Errorf("a replica count that is no number: %q", msg)
	}
	bob.post(repl, url.Values{"csrf": {bob.csrf}, "region": {"west"}})
	if a := bob.get("/console/images/web"); a.status != http.StatusNotFound {
		t.Errorf("bob replicating alice's image lands on %d", a.status)
	}
	// The copy runs on in the background: let it end before the test's
	// directories go.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		rs, err := s.api["alice"].Replication(t.Context(), "web", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(rs, func(r hangar.ReplicationStatus) bool { return r.State != hangar.ReplicationCompleted }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replication did not end: %+v", rs)
		}
	}
}

func TestMarketplaceWithdrawInTheConsole(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "contoso", "d")
	s.image(t, "contoso", hangar.ImageCreate{Name: "lin", OSDisk: "d"})
	for _, p := range []hangar.MarketplacePublish{{URN: "Contoso:Linux:base:1.0.0", Image: "lin"}, {URN: "Contoso:Linux:base:1.1.0", Image: "lin"},
		{URN: "Contoso:Linux:vip:1.0.0", Image: "lin", Entitlement: "msdn"}} {
		if _, err := s.api["contoso"].PublishMarketplace(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	pub, alice := s.browser(t), s.browser(t)
	pub.signIn("contoso")
	alice.signIn("alice")
	if page := pub.get("/console/marketplace/Contoso/Linux/base").body; !strings.Contains(page, `href="/console/withdraw/marketplace/Contoso:Linux:base:1.1.0"`) {
		t.Fatalf("the publisher's SKU page offers no withdrawal:\n%s", page)
	}
	if page := alice.get("/console/marketplace/Contoso/Linux/base").body; strings.Contains(page, "/console/withdraw/") {
		t.Error("a user is offered to withdraw")
	}
	a := pub.get("/console/withdraw/marketplace/Contoso:Linux:base:1.1.0")
	if a.status != 200 || !strings.Contains(a.body, `action="/console/withdraw/marketplace/Contoso:Linux:base:1.1.0"`) {
		t.Fatalf("the withdraw confirmation: %d\n%s", a.status, a.body)
	}
	// A user may see the version, but the API refuses the withdrawal.
	alice.post("/console/withdraw/marketplace/Contoso:Linux:base:1.1.0", url.Values{"csrf": {alice.csrf}})
	if msg := flashErr(alice.get("/console/marketplace/Contoso/Linux/base").body); msg == "" {
		t.Error("a user's withdrawal shows no refusal")
	}
	// What a tenant may not see is the not-found page, confirmation or not.
	hidden, missing := alice.get("/console/withdraw/marketplace/Contoso:Linux:vip:1.0.0"), alice.get("/console/withdraw/marketplace/Contoso:Linux:none:1.0.0")
	if hidden.status != http.StatusNotFound || hidden.body != missing.body {
		t.Errorf("alice asking to withdraw an entitled version: %d", hidden.status)
	}
	a = pub.post("/console/withdraw/marketplace/Contoso:Linux:base:1.1.0", url.Values{"csrf": {pub.csrf}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/marketplace/Contoso/Linux/base" {
		t.Fatalf("withdraw: %d %s", a.status, a.header.Get("Location"))
	}
	if _, err := s.api["alice"].MarketplaceImage(t.Context(), "Contoso:Linux:base:1.1.0"); err == nil {
		t.Fatal("the withdrawn version is still there")
	}
	if _, err := s.api["alice"].MarketplaceImage(t.Context(), "Contoso:Linux:base:1.0.0"); err != nil {
		t.Fatalf("the other version went too: %v", err)
	}
	// The SKU's last version: back to the marketplace.
	if a := pub.post("/console/withdraw/marketplace/Contoso:Linux:base:1.0.0", url.Values{"csrf": {pub.csrf}}); a.header.Get("Location") != "/console/marketplace" {
		t.Errorf("withdrawing the last version goes to %s", a.header.Get("Location"))
	}
}

func TestDiskImportInTheConsole(t *testing.T) {
	data := make([]byte, 4<<20)
	copy(data[1<<20:], "imported from a URL")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(files.Close)
	// A server that allows no internal address: the SSRF refusal, on the form.
	strict := newStack(t, false)
	b := strict.browser(t)
	b.signIn("alice")
	if a := b.get("/console/new/disk"); a.status != 200 || !strings.Contains(a.body, `action="/console/new/disk"`) {
		t.Fatalf("the import form: %d", a.status)
	}
	a := b.post("/console/new/disk", url.Values{"csrf": {b.csrf}, "name": {"imp"}, "url": {files.URL + "/disk.raw"}})
	if a.status < 400 || !strings.Contains(flashErr(a.body), "--import-allow-cidr") || !strings.Contains(a.body, files.URL+"/disk.raw") {
		t.Fatalf("a refused URL: %d %q\n%s", a.status, flashErr(a.body), a.body)
	}
	if _, err := strict.api["alice"].Disk(t.Context(), "imp"); err == nil {
		t.Fatal("a refused import made a disk")
	}
	// A server that allows loopback: the disk, byte for byte.
	s := newStackWith(t, false, apitest.Options{ImportPolicy: fetch.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	alice := s.browser(t)
	alice.signIn("alice")
	a = alice.post("/console/new/disk", url.Values{"csrf": {alice.csrf}, "name": {"imp"}, "url": {files.URL + "/disk.raw"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/disks/imp" {
		t.Fatalf("import: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	if page := alice.get("/console/disks/imp").body; !strings.Contains(page, "Disk imp imported: 4.0 MiB") {
		t.Errorf("the disk page after the import:\n%s", page)
	}
	got := alice.get("/console/disks/imp/download?format=raw").body
	if got != string(data) {
		t.Fatal("the imported disk differs from the file")
	}
	// A wrong digest is the API's refusal; no disk.
	a = alice.post("/console/new/disk", url.Values{"csrf": {alice.csrf}, "name": {"imp2"}, "url": {files.URL + "/disk.raw"}, "sha256": {strings.Repeat("0", 64)}})
	if a.status < 400 || flashErr(a.body) == "" {
		t.Fatalf("a wrong digest: %d", a.status)
	}
	if _, err := s.api["alice"].Disk(t.Context(), "imp2"); err == nil {
		t.Fatal("a refused import made a disk")
	}
}

// TestDiskImportProgressThroughTheSession: the import script's proxy to the
// API's import needs the session, this origin and the CSRF token; through it the
// SSRF policy's refusal is the API's, word for word, and an allowed import
// streams the API's progress (fetching, storing) and ends with the disk, byte
// for byte; a wrong digest ends the stream with the API's error and no disk.
// Nothing but the import route is reachable under /console/api/disks/.
func TestDiskImportProgressThroughTheSession(t *testing.T) {
	data := make([]byte, 4<<20)
	copy(data[1<<20:], "imported with progress")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(files.Close)
	body := func(sum string) []byte {
		b, _ := json.Marshal(hangar.DiskImport{URL: files.URL + "/disk.raw", SHA256: sum})
		return b
	}
	stream := map[string]string{"Accept": "application/x-ndjson"}

	// A server that allows no internal address.
	strict := newStack(t, false)
	b, other, anon := strict.browser(t), strict.browser(t), strict.browser(t)
	b.signIn("alice")
	other.signIn("alice")
	if page := b.get("/console/new/disk").body; !strings.Contains(page, `src="/console/static/diskimport.js"`) || !strings.Contains(page, `data-api="/console/api/disks/"`) {
		t.Fatalf("the import page has no script or no proxy address:\n%s", page)
	}
	for _, tc := range []struct {
		name    string
		b       *browser
		headers map[string]string
		status  int
	}{
		{"no session", anon, nil, http.StatusUnauthorized},
		{"no token", b, map[string]string{csrfHeader: ""}, http.StatusForbidden},
		{"wrong token", b, map[string]string{csrfHeader: altered(b.csrf)}, http.StatusForbidden},
		{"another session's token", b, map[string]string{csrfHeader: other.csrf}, http.StatusForbidden},
		{"cross-site", b, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"other origin", b, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
	} {
		h := map[string]string{"Accept": "application/x-ndjson"}
		maps.Copy(h, tc.headers)
		if a := tc.b.proxied("POST", "/console/api/disks/imp/import", body(""), h); a.status != tc.status || !strings.Contains(a.body, `"error"`) {
			t.Errorf("%s: %d, want %d\n%s", tc.name, a.status, tc.status, a.body)
		}
	}
	// The SSRF refusal is the API's answer, before anything is fetched.
	a := b.proxied("POST", "/console/api/disks/imp/import", body(""), stream)
	var refused struct{ Error hangar.Error }
	if json.Unmarshal([]byte(a.body), &refused) != nil || a.status != http.StatusForbidden || refused.Error.Code != hangar.CodeImportRefused ||
		!strings.Contains(refused.Error.Message, "loopback") || !strings.Contains(refused.Error.Message, "hangar serve --import-allow-cidr") {
		t.Fatalf("a refused URL: %d %s", a.status, a.body)
	}
	if _, err := strict.api["alice"].Disk(t.Context(), "imp"); err == nil {
		t.Fatal("a refused import made a disk")
	}
	// Only the import route: no other API route under /console/api/disks/.
	for _, r := range []struct{ method, path string }{
		{"GET", "/console/api/disks/imp/import"}, {"POST", "/console/api/disks/imp"}, {"GET", "/console/api/disks/imp"},
		{"DELETE", "/console/api/disks/imp"}, {"POST", "/console/api/disks/imp/generalize"},
	} {
		if a := b.proxied(r.method, r.path, nil, nil); a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d", r.method, r.path, a.status)
		}
	}

	// A server that allows loopback: the progress, then the disk.
	s := newStackWith(t, false, apitest.Options{ImportPolicy: fetch.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	events := func(a answer) []hangar.DiskImportEvent {
		t.Helper()
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/x-ndjson" || a.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("the import's stream: %d %v\n%s", a.status, a.header, a.body)
		}
		var out []hangar.DiskImportEvent
		for _, line := range strings.Split(strings.TrimSpace(a.body), "\n") {
			var ev hangar.DiskImportEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("a line of the stream: %q: %v", line, err)
			}
			out = append(out, ev)
		}
		return out
	}
	evs := events(alice.proxied("POST", "/console/api/disks/imp/import", body(""), stream))
	phases := map[string]hangar.DiskImportProgress{}
	for _, ev := range evs[:len(evs)-1] {
		if ev.Progress == nil {
			t.Fatalf("a line before the last is not progress: %+v", ev)
		}
		phases[ev.Progress.Phase] = *ev.Progress
	}
	if f, st := phases["fetching"], phases["storing"]; f.Bytes != int64(len(data)) || f.Total != int64(len(data)) || st.Bytes != st.Total || st.Total != int64(len(data)) {
		t.Errorf("the last progress of each phase: %+v", phases)
	}
	if last := evs[len(evs)-1]; last.Disk == nil || last.Disk.Name != "imp" || last.Disk.VirtualSize != int64(len(data)) {
		t.Fatalf("the stream's last line: %+v", last)
	}
	if got := alice.get("/console/disks/imp/download?format=raw").body; got != string(data) {
		t.Fatal("the imported disk differs from the file")
	}
	if a := bob.get("/console/disks/imp"); a.status != http.StatusNotFound {
		t.Errorf("bob sees alice's imported disk: %d", a.status)
	}
	// A wrong digest: the stream ends with the API's error, and no disk.
	evs = events(alice.proxied("POST", "/console/api/disks/imp2/import", body(strings.Repeat("0", 64)), stream))
	if last := evs[len(evs)-1]; last.Error == nil || !strings.Contains(strings.ToLower(last.Error.Message), "sha-256") {
		t.Fatalf("a wrong digest's last line: %+v", last)
	}
	if _, err := s.api["alice"].Disk(t.Context(), "imp2"); err == nil {
		t.Fatal("a refused import made a disk")
	}
}

func TestDiskGeneralizeAsks(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	a := alice.get("/console/disks/d/generalize")
	if a.status != 200 || !strings.Contains(a.body, `data-confirm="d"`) || !strings.Contains(a.body, `value="d-generalized"`) {
		t.Fatalf("the generalize page: %d\n%s", a.status, a.body)
	}
	// The name not typed: asked again, nothing done.
	a = alice.post("/console/disks/d/generalize", url.Values{"csrf": {alice.csrf}, "confirm": {"x"}, "newName": {"g"}})
	if a.status != http.StatusUnprocessableEntity || flashErr(a.body) != "Type the disk's name, d, to confirm." || !strings.Contains(a.body, `value="g"`) {
		t.Fatalf("generalize without the name: %d\n%s", a.status, a.body)
	}
	// The API's refusal (checked before any work): shown on the page.
	a = alice.post("/console/disks/d/generalize", url.Values{"csrf": {alice.csrf}, "confirm": {"d"}, "newName": {"no good"}})
	if a.status != http.StatusBadRequest || !strings.Contains(flashErr(a.body), "no good") {
		t.Fatalf("a refused generalize: %d %q", a.status, flashErr(a.body))
	}
	if list, _ := s.api["alice"].ListDisks(t.Context()); len(list) != 1 {
		t.Fatalf("disks after refused generalizes: %d", len(list))
	}
	// Another tenant's disk: the not-found page.
	if a := bob.get("/console/disks/d/generalize"); a.status != http.StatusNotFound {
		t.Errorf("bob's generalize page for alice's disk: %d", a.status)
	}
	a = bob.post("/console/disks/d/generalize", url.Values{"csrf": {bob.csrf}, "confirm": {"d"}})
	if back := bob.get(a.header.Get("Location")); a.status != http.StatusSeeOther || !strings.Contains(back.body, "Not found.") {
		t.Errorf("bob generalizing alice's disk: %d %s", a.status, a.header.Get("Location"))
	}
}

func TestEventsAndWebhooksInTheConsole(t *testing.T) {
	s := newStack(t, false)
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	if page := alice.get("/console/events").body; !strings.Contains(page, "No events yet.") || !strings.Contains(page, "No webhooks.") {
		t.Fatalf("the empty events page:\n%s", page)
	}
	s.upload(t, "alice", "d")
	s.image(t, "alice", hangar.ImageCreate{Name: "web", OSDisk: "d"})
	page := alice.get("/console/events").body
	if !strings.Contains(page, hangar.EventDiskCreated) || !strings.Contains(page, hangar.EventImageVersionCreated) {
		t.Fatalf("alice's events:\n%s", page)
	}
	if strings.Index(page, hangar.EventImageVersionCreated) > strings.Index(page, "<td>"+hangar.EventDiskCreated) {
		t.Error("the events are not newest first")
	}
	if page := alice.get("/console/events?type=" + url.QueryEscape(hangar.EventDiskCreated)).body; strings.Contains(page, "<td>"+hangar.EventImageVersionCreated) ||
		!strings.Contains(page, "<td>"+hangar.EventDiskCreated) {
		t.Errorf("the type filter:\n%s", page)
	}
	if page := bob.get("/console/events").body; strings.Contains(page, "disks/d") {
		t.Error("bob sees alice's events")
	}
	// Past 100 events the page shows exactly the newest 100, newest first; bob,
	// whose one event is older than all of them, still sees his own only.
	s.upload(t, "bob", "b")
	for i := range 110 {
		eol := fmt.Sprintf("2030-01-%02d", i%28+1)
		if _, err := s.api["alice"].UpdateVersion(t.Context(), "web", "1.0.0", hangar.ImageVersionUpdate{EndOfLife: &eol}); err != nil {
			t.Fatal(err)
		}
	}
	newest, err := s.api["alice"].NewestEvents(t.Context(), 1, nil)
	if err != nil || len(newest) != 1 {
		t.Fatalf("alice's newest event: %+v %v", newest, err)
	}
	rows := regexp.MustCompile(`<td class="num" data-sort="(\d+)">`).FindAllStringSubmatch(alice.get("/console/events").body, -1)
	if len(rows) != 100 || rows[0][1] != newest[0].ID {
		t.Fatalf("alice's events page shows %d events, the first %v (the newest is %s)", len(rows), rows[:min(len(rows), 1)], newest[0].ID)
	}
	for i := 1; i < len(rows); i++ {
		if a, b := mustAtoi(t, rows[i-1][1]), mustAtoi(t, rows[i][1]); a <= b {
			t.Fatalf("not newest first: %d then %d", a, b)
		}
	}
	if page := bob.get("/console/events").body; strings.Count(page, `<td class="num" data-sort=`) != 1 || !strings.Contains(page, "disks/b") {
		t.Errorf("bob's events page:\n%s", page)
	}
	// A webhook: its secret on the answer page only.
	a := alice.post("/console/webhooks", url.Values{"csrf": {alice.csrf}, "url": {"https://hooks.example/in?a=1&b=<x>"}, "types": {hangar.EventVMCreated}})
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=_-]+`).FindString(a.body)
	if a.status != 200 || secret == "" || !strings.Contains(a.body, "https://hooks.example/in?a=1&amp;b=&lt;x&gt;") {
		t.Fatalf("the new webhook's page: %d\n%s", a.status, a.body)
	}
	hooks, err := s.api["alice"].ListWebhooks(t.Context())
	if err != nil || len(hooks) != 1 || len(hooks[0].Types) != 1 || hooks[0].Types[0] != hangar.EventVMCreated {
		t.Fatalf("alice's webhooks: %+v %v", hooks, err)
	}
	if page := alice.get("/console/events").body; strings.Contains(page, secret) || !strings.Contains(page, hooks[0].ID) {
		t.Error("the secret is shown again, or the webhook is not listed")
	}
	// The API's refusal of an address it would never reach, on the form.
	a = alice.post("/console/webhooks", url.Values{"csrf": {alice.csrf}, "url": {"http://127.0.0.1:9/x"}})
	if a.status < 400 || flashErr(a.body) == "" || !strings.Contains(a.body, `value="http://127.0.0.1:9/x"`) {
		t.Fatalf("a refused webhook: %d %q", a.status, flashErr(a.body))
	}
	// Bob cannot delete alice's webhook: the API's not-found.
	bob.post("/console/webhooks/"+hooks[0].ID+"/delete", url.Values{"csrf": {bob.csrf}})
	if msg := flashErr(bob.get("/console/events").body); !strings.Contains(msg, "not found") {
		t.Errorf("bob deleting alice's webhook: %q", msg)
	}
	if a := alice.post("/console/webhooks/"+hooks[0].ID+"/delete", url.Values{"csrf": {alice.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", a.status)
	}
	if hooks, _ := s.api["alice"].ListWebhooks(t.Context()); len(hooks) != 0 {
		t.Fatal("the webhook is still there")
	}
}

// TestWebhookDeliveriesInTheConsole: the events page lists the deliveries to
// the tenant's webhooks with their state, attempts, last status and last error
// (the receiver's words, escaped), filtered by webhook and state; another
// tenant, even naming the webhook, sees none of them.
func TestWebhookDeliveriesInTheConsole(t *testing.T) {
	s := newStack(t, false)
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	ctx := t.Context()
	hook, err := s.api["alice"].CreateWebhook(ctx, hangar.WebhookCreate{URL: "https://hooks.example/in"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.api["bob"].CreateWebhook(ctx, hangar.WebhookCreate{URL: "https://hooks.example/bob"}); err != nil {
		t.Fatal(err)
	}
	if page := alice.get("/console/events").body; !strings.Contains(page, "No deliveries yet") {
		t.Fatalf("no deliveries yet:\n%s", page)
	}
	s.upload(t, "alice", "d")
	page := alice.get("/console/events").body
	if !strings.Contains(page, `<table id="deliveries"`) || !strings.Contains(page, `<span class="tag">pending</span>`) {
		t.Fatalf("a pending delivery:\n%s", page)
	}
	// The receiver fails it, with markup in its answer.
	ds, err := s.db.ClaimDeliveries(ctx, 10, time.Now().Add(time.Minute))
	if err != nil || len(ds) != 1 {
		t.Fatalf("claimed %+v, %v", ds, err)
	}
	if err := s.db.FinishDelivery(ctx, ds[0], store.DeliveryOutcome{State: hangar.DeliveryFailed, Status: 502, Error: "502 Bad Gateway: <b>down</b>"}); err != nil {
		t.Fatal(err)
	}
	page = alice.get("/console/events?state=failed&webhook=" + hook.ID).body
	for _, want := range []string{`<span class="tag warn">failed</span>`, `<td class="num">1</td><td class="num">502</td>`,
		"502 Bad Gateway: &lt;b&gt;down&lt;/b&gt;", hangar.EventDiskCreated, "disks/d",
		`<option value="` + hook.ID + `" selected>`, `<option selected>failed</option>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the failed delivery's page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>down</b>") {
		t.Error("the receiver's answer is not escaped")
	}
	if page := alice.get("/console/events?state=delivered").body; strings.Contains(page, `<table id="deliveries"`) || !strings.Contains(page, "No deliveries delivered") {
		t.Errorf("the delivered filter:\n%s", page)
	}
	// Bob has a webhook of his own but none of alice's deliveries, even asking
	// for her webhook by its ID.
	for _, q := range []string{"", "?webhook=" + hook.ID, "?state=failed"} {
		if page := bob.get("/console/events" + q).body; strings.Contains(page, "disks/d") || strings.Contains(page, "down") {
			t.Errorf("bob's events page%s shows alice's delivery", q)
		}
	}
	// A state the API does not know: its refusal.
	if a := alice.get("/console/events?state=lost"); a.status != http.StatusBadRequest || !strings.Contains(a.body, "use pending, delivered or failed") {
		t.Errorf("an unknown state: %d", a.status)
	}
}

func TestSyndicationInTheConsole(t *testing.T) {
	_, signing, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newStackWith(t, false, apitest.Options{SigningKey: signing,
		DialUpstream: func(url, key string) catalog.Upstream { return client.New(url, key) }})
	admin, alice := s.browser(t), s.browser(t)
	admin.signIn("admin")
	alice.signIn("alice")
	key, err := s.api["admin"].SigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	page := admin.get("/console/admin/syndication")
	if text := html.UnescapeString(page.body); page.status != 200 || !strings.Contains(text, key.PublicKey) || !strings.Contains(text, key.Fingerprint) ||
		!strings.Contains(page.body, "No upstreams.") || !strings.Contains(page.body, `href="/console/admin/syndication" aria-current="page"`) {
		t.Fatalf("the syndication page: %d\n%s", page.status, page.body)
	}
	if a := alice.get("/console/admin/syndication"); a.status != http.StatusForbidden || strings.Contains(html.UnescapeString(a.body), key.PublicKey) {
		t.Errorf("a tenant's syndication page: %d", a.status)
	}
	// An upstream: this installation itself, with alice's key and its own public key.
	form := url.Values{"csrf": {admin.csrf}, "name": {"self"}, "url": {s.srv.URL}, "key": {s.keys["alice"]}, "publicKey": {key.PublicKey}}
	if a := admin.post("/console/admin/upstreams", form); a.status != http.StatusSeeOther {
		t.Fatalf("add upstream: %d", a.status)
	}
	page = admin.get("/console/admin/syndication")
	if !strings.Contains(page.body, "Upstream self added") || !strings.Contains(page.body, `action="/console/admin/upstreams/self/pull"`) ||
		strings.Contains(page.body, s.keys["alice"]) {
		t.Fatalf("after adding an upstream:\n%s", page.body)
	}
	// A pattern the API refuses: its message.
	admin.post("/console/admin/upstreams/self/pull", url.Values{"csrf": {admin.csrf}, "pattern": {"::"}})
	if msg := flashErr(admin.get("/console/admin/syndication").body); msg == "" {
		t.Error("a bad pattern shows no refusal")
	}
	// A pull of what the upstream does not offer: the API's message.
	admin.post("/console/admin/upstreams/self/pull", url.Values{"csrf": {admin.csrf}, "pattern": {"Nobody:None"}})
	if msg := flashErr(admin.get("/console/admin/syndication").body); !strings.Contains(msg, "offers nothing matching Nobody:None") {
		t.Errorf("a pull of nothing: %q", msg)
	}
	// A pull of what it offers: started, with its job.
	s.upload(t, "contoso", "d")
	s.image(t, "contoso", hangar.ImageCreate{Name: "lin", OSDisk: "d"})
	if _, err := s.api["contoso"].PublishMarketplace(t.Context(), hangar.MarketplacePublish{URN: "Contoso:Linux:base:1.0.0", Image: "lin"}); err != nil {
		t.Fatal(err)
	}
	admin.post("/console/admin/upstreams/self/pull", url.Values{"csrf": {admin.csrf}, "pattern": {"Contoso:Linux"}, "follow": {"on"}})
	if page := admin.get("/console/admin/syndication").body; !strings.Contains(page, "Pulling Contoso:Linux from self: ") ||
		!strings.Contains(page, "<code>Contoso:Linux</code> (following)") {
		t.Errorf("after a pull:\n%s", page)
	}
	// A tenant posting: the API's refusal, nothing changed.
	alice.post("/console/admin/upstreams/self/remove", url.Values{"csrf": {alice.csrf}})
	if ups, _ := s.api["admin"].Upstreams(t.Context()); len(ups) != 1 {
		t.Fatal("a tenant removed an upstream")
	}
	if a := admin.post("/console/admin/upstreams/self/remove", url.Values{"csrf": {admin.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("remove: %d", a.status)
	}
	if ups, _ := s.api["admin"].Upstreams(t.Context()); len(ups) != 0 {
		t.Fatal("the upstream is still there")
	}
}

func TestDefinitionFieldsInTheForms(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	alice := s.browser(t)
	alice.signIn("alice")
	form := url.Values{"csrf": {alice.csrf}, "name": {"secure"}, "type": {"os"}, "osType": {"linux"}, "osState": {"generalized"},
		"hyperVGeneration": {"V2"}, "osDisk": {"d"}, "vcpusMin": {"2"}, "vcpusMax": {"4"}, "memoryMin": {"2"},
		"features": {"SecurityType=TrustedLaunch"}, "disallowed": {"Standard_LRS"}, "properties": {"os_distro=ubuntu"}, "resourceGroup": {"rg-web"}}
	if a := alice.post("/console/new/image", form); a.status != http.StatusSeeOther {
		t.Fatalf("create: %d %q", a.status, flashErr(a.body))
	}
	img, err := s.api["alice"].Image(t.Context(), "secure")
	if err != nil || img.Recommended == nil || *img.Recommended.VCPUs != (hangar.Range{Min: 2, Max: 4}) || img.Recommended.MemoryGB.Min != 2 ||
		img.Features["SecurityType"] != "TrustedLaunch" || img.Disallowed == nil || img.Disallowed.DiskTypes[0] != "Standard_LRS" ||
		img.Versions[0].Properties["os_distro"] != "ubuntu" || img.ResourceGroup != "rg-web" {
		t.Fatalf("the image: %+v %v", img, err)
	}
	page := alice.get("/console/images/secure").body
	for _, want := range []string{"rg-web", "2 to 4 vCPUs", "SecurityType=TrustedLaunch", "<code>os_distro</code> = <code>ubuntu</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the image page does not say %q", want)
		}
	}
	// A new version's form repeats the definition.
	if page := alice.get("/console/new/image?name=secure").body; !strings.Contains(page, `name="vcpusMax" type="number" min="0" value="4"`) ||
		!strings.Contains(page, `value="Standard_LRS" checked`) || !strings.Contains(page, `value="rg-web"`) {
		t.Errorf("the new-version form:\n%s", page)
	}
	// A new version repeating the definition is accepted.
	form.Set("version", "1.1.0")
	if a := alice.post("/console/new/image", form); a.status != http.StatusSeeOther {
		t.Fatalf("a new version with the image's definition: %d %q", a.status, flashErr(a.body))
	}
	form.Del("version")
	// The API's refusal (TrustedLaunch needs V2), with what was typed.
	form.Set("name", "v1img")
	form.Set("hyperVGeneration", "V1")
	a := alice.post("/console/new/image", form)
	if a.status != http.StatusBadRequest || !strings.Contains(flashErr(a.body), "TrustedLaunch") || !strings.Contains(a.body, `value="SecurityType=TrustedLaunch"`) {
		t.Fatalf("a refused definition: %d %q", a.status, flashErr(a.body))
	}
	// A bound that is no number never reaches the API.
	form.Set("vcpusMin", "two")
	if a := alice.post("/console/new/image", form); a.status != http.StatusBadRequest || !strings.Contains(flashErr(a.body), "whole number") {
		t.Fatalf("a bound that is no number: %d %q", a.status, flashErr(a.body))
	}
	// The VM form asks the disk type and resource group; the API checks them.
	vm := alice.get("/console/new/vm?image=secure").body
	if !strings.Contains(vm, `<select id="storageSku" name="storageSku">`) || !strings.Contains(vm, `id="resourceGroup"`) {
		t.Fatalf("the VM form:\n%s", vm)
	}
	a = alice.post("/console/new/vm", url.Values{"csrf": {alice.csrf}, "name": {"vm1"}, "image": {"secure"}, "size": {"medium"},
		"adminUsername": {"ops"}, "sshKey": {"ssh-ed25519 AAAA"}, "storageSku": {"Standard_LRS"}, "resourceGroup": {"rg-vm"}})
	// (No VM runs here: the API refuses it, and the form comes back as typed.)
	if a.status < 400 || flashErr(a.body) == "" || !strings.Contains(a.body, `<option selected>Standard_LRS</option>`) || !strings.Contains(a.body, `value="rg-vm"`) {
		t.Fatalf("a refused VM: %d %q", a.status, flashErr(a.body))
	}
}

func TestNewPagesEscapeTenantText(t *testing.T) {
	h := New(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	const markup = `<script>alert(1)</script>`
	tags := hangar.Tags{"k": markup}
	pages := []struct {
		name string
		data any
	}{
		{"disk", diskView{Disk: hangar.Disk{Name: "d"}, Tags: tagsForm("t", "disks/d", `"1-x"`, tags)}},
		{"vm", vmView{VM: hangar.VM{Name: "v"}, Tags: tagsForm("t", "vms/v", `"1-x"`, tags)}},
		{"events", eventsView{Events: []hangar.Event{{ID: "1", Type: markup, Subject: markup, Data: []byte(`{"x":"` + markup + `"}`)}},
			Webhooks: []hangar.Webhook{{ID: "w", URL: "https://x.example/" + markup}}, Form: hangar.WebhookCreate{URL: markup},
			Created: &hangar.WebhookCreated{Webhook: hangar.Webhook{URL: markup}, Secret: "whsec_" + markup}}},
		{"syndication", syndicationView{Upstreams: []hangar.Upstream{{Name: "u", URL: markup, Syndications: []hangar.Syndication{{Pattern: markup, Message: markup}}}},
			Jobs: []hangar.SyndicationJob{{URN: markup, Message: markup}}}},
		{"events", eventsView{Webhooks: []hangar.Webhook{{ID: "w"}},
			Deliveries: []hangar.EventDelivery{{Webhook: "w", EventID: "1", Type: markup, Subject: markup, State: "failed", LastError: markup}}}},
		{"disks", tagList[hangar.Disk]{Items: []hangar.Disk{{Name: "d", Tags: tags}}, Path: "/console/disks", Filter: []string{markup}, Error: markup}},
		{"vms", tagList[hangar.VM]{Items: []hangar.VM{{Name: "v", Tags: tags}}, Path: "/console/vms", Filter: []string{"k=" + markup}}},
		{"diskimport", importView{URL: markup, Error: markup}},
		{"diskgeneralize", diskGeneralizeView{Disk: hangar.Disk{Name: "d"}, Result: &hangar.DiskGeneralized{Changes: []string{markup}, Notes: []string{markup}}}},
	}
	for _, p := range pages {
		rec := httptest.NewRecorder()
		h.write(rec, http.StatusOK, p.name, view{Title: "t", CSRF: "token", Who: hangar.Tenant{Name: "alice"}, Data: p.data})
		body := rec.Body.String()
		if rec.Code != 200 || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("page %s does not escape tenant text (%d):\n%s", p.name, rec.Code, body)
		}
	}
}

func TestReadPairs(t *testing.T) {
	for in, want := range map[string]map[string]string{
		"":                            {},
		"a=1\r\nb = two words \n\n c": {"a": "1", "b": "two words", "c": ""},
		"k=v=w\nk=last":               {"k": "last"},
		"=x":                          {"": "x"}, // the API refuses an empty key
	} {
		got := readPairs(in)
		if len(got) != len(want) {
			t.Errorf("readPairs(%q) = %v, want %v", in, got, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("readPairs(%q) = %v, want %v", in, got, want)
			}
		}
		if back := readPairs(pairs(got)); len(back) != len(got) {
			t.Errorf("pairs(%v) does not read back: %v", got, back)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
