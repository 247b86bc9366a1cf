package console

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// These tests run the console over the real service layer (SQLite, a chunk
// directory, no VM); e2e/console_test.go drives it in a real browser.

type stack struct {
	srv  *httptest.Server
	h    *Handler
	keys map[string]string // tenant → API key; "admin" too
	api  map[string]*client.Client
	db   *store.DB // under the API: for what no API call makes (a delivery's outcome)
	hapi http.Handler
	log  *slog.Logger
}

func newStack(t *testing.T, tls bool) *stack {
	t.Helper()
	return newStackWith(t, tls, apitest.Options{})
}

func newStackWith(t *testing.T, tls bool, o apitest.Options) *stack {
	t.Helper()
	return newStackOf(t, tls, o, Options{})
}

// newStackOf is newStack with options for the service and for the console.
func newStackOf(t *testing.T, tls bool, o apitest.Options, co Options) *stack {
	t.Helper()
	svc := apitest.NewWith(t, o)
	hangarAPI := svc.API
	if co.Sessions == nil {
		co.Sessions = svc.DB
	}
	h := New(hangarAPI, svc.Log, co)
	adminKey := svc.AdminKey
	s := &stack{h: h, keys: map[string]string{"admin": adminKey}, api: map[string]*client.Client{}, db: svc.DB, hapi: hangarAPI, log: svc.Log}
	if tls {
		s.srv = httptest.NewTLSServer(Mount(hangarAPI, h))
	} else {
		s.srv = httptest.NewServer(Mount(hangarAPI, h))
	}
	t.Cleanup(s.srv.Close)
	s.api["admin"] = client.New("http://hangar.internal", s.keys["admin"], client.WithHandler(hangarAPI))
	for _, tc := range []hangar.TenantCreate{{Name: "alice"}, {Name: "bob"}, {Name: "contoso", Role: hangar.RolePublisher}} {
		created, err := s.api["admin"].CreateTenant(t.Context(), tc)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[tc.Name] = created.Key
		s.api[tc.Name] = client.New("http://hangar.internal", created.Key, client.WithHandler(hangarAPI))
	}
	return s
}

// upload stores a small disk for the tenant.
func (s *stack) upload(t *testing.T, tenant, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".raw")
	data := make([]byte, 8<<20)
	copy(data[4096:], "a disk named "+name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.api[tenant].UploadDisk(t.Context(), path, name, client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) image(t *testing.T, tenant string, req hangar.ImageCreate) {
	t.Helper()
	req.Type, req.OSType, req.OSState = hangar.ImageTypeOS, hangar.OSLinux, hangar.Generalized
	if _, err := s.api[tenant].CreateImage(t.Context(), req); err != nil {
		t.Fatal(err)
	}
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	s    *stack
	c    *http.Client
	csrf string
	base string // the server's URL: s.srv's unless at says another node's
}

func (s *stack) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: s.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, s: s, c: c}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) send(method, path string, form url.Values, headers map[string]string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url()+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(data)}
	if m := csrfField.FindStringSubmatch(a.body); m != nil && strings.Contains(a.body, `action="/console/signout"`) {
		b.csrf = m[1]
	}
	return a
}

func (b *browser) url() string {
	if b.base != "" {
		return b.base
	}
	return b.s.srv.URL
}

// at is this browser (its cookies) talking to another node at base.
func (b *browser) at(base string) *browser {
	o := *b
	o.base = base
	return &o
}

func (b *browser) get(path string) answer { return b.send("GET", path, nil, nil) }

// post sends a form as a browser would from the console's own page.
func (b *browser) post(path string, form url.Values) answer {
	return b.send("POST", path, form, map[string]string{"Origin": b.url(), "Sec-Fetch-Site": "same-origin"})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with the tenant's key and returns the session cookie.
func (b *browser) signIn(tenant string) *http.Cookie {
	b.t.Helper()
	page := b.get("/console/signin")
	m := csrfField.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no sign-in token:\n%s", page.body)
	}
	a := b.post("/console/signin", url.Values{"csrf": {m[1]}, "key": {b.s.keys[tenant]}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != Prefix {
		b.t.Fatalf("sign-in: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	b.get("/console/images") // reads the session's CSRF token
	for _, c := range readSetCookies(a.header) {
		if c.Name == sessionCookie {
			return c
		}
	}
	b.t.Fatal("no session cookie")
	return nil
}

func readSetCookies(h http.Header) []*http.Cookie {
	return (&http.Response{Header: h}).Cookies()
}

func TestSessionCookie(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		s := newStack(t, useTLS)
		b := s.browser(t)
		c := b.signIn("alice")
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != useTLS || c.Path != "/console" {
			t.Errorf("TLS %v: cookie %+v: want HttpOnly, SameSite=Strict, Secure only under TLS, Path /console", useTLS, c)
		}
		if id, secret, ok := parseCookie(c.Value); !ok || len(c.Value) != 87 || strings.Contains(c.Value, s.keys["alice"]) || string(id) == string(secret) {
			t.Errorf("the cookie is not a 256-bit ID and a 256-bit secret: %q", c.Value)
		}
		if again := s.browser(t).signIn("alice"); again.Value == c.Value {
			t.Error("two sign-ins got one token")
		}
	}
	// Behind a proxy that terminates TLS and says so, the cookie is Secure and the
	// origin is https.
	s0 := newStack(t, false)
	b := s0.browser(t)
	proxied := map[string]string{"X-Forwarded-Proto": "https", "Origin": strings.Replace(s0.srv.URL, "http://", "https://", 1), "Sec-Fetch-Site": "same-origin"}
	a := b.send("GET", "/console/signin", nil, map[string]string{"X-Forwarded-Proto": "https"})
	a = b.send("POST", "/console/signin", url.Values{"csrf": {csrfField.FindStringSubmatch(a.body)[1]}, "key": {s0.keys["alice"]}}, proxied)
	if cs := readSetCookies(a.header); a.status != http.StatusSeeOther || len(cs) != 2 || !cs[1].Secure || cs[1].Name != sessionCookie {
		t.Errorf("behind a TLS proxy: %d %v", a.status, cs)
	}
	// The sign-in page's own cookie has the same flags.
	s := newStack(t, true)
	for _, c := range readSetCookies(s.browser(t).get("/console/signin").header) {
		if c.Name == signInCookie && (!c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode) {
			t.Errorf("sign-in cookie %+v", c)
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	s := newStack(t, false)
	b := s.browser(t)
	token := csrfField.FindStringSubmatch(b.get("/console/signin").body)[1]
	cases := []struct {
		name    string
		form    url.Values
		headers map[string]string
		status  int
		says    string
	}{
		{"wrong key", url.Values{"csrf": {token}, "key": {"hgr_nope"}}, nil, http.StatusUnauthorized, ""},
		{"no key", url.Values{"csrf": {token}}, nil, http.StatusBadRequest, "Enter an API key"},
		{"no token", url.Values{"key": {s.keys["alice"]}}, nil, http.StatusForbidden, "expired"},
		{"wrong token", url.Values{"csrf": {altered(token)}, "key": {s.keys["alice"]}}, nil, http.StatusForbidden, "expired"},
		{"cross-site", url.Values{"csrf": {token}, "key": {s.keys["alice"]}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, "expired"},
		{"other origin", url.Values{"csrf": {token}, "key": {s.keys["alice"]}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "expired"},
	}
	for _, tc := range cases {
		// Each attempt re-reads the sign-in page, as a refused one hands out a new token.
		a := b.send("POST", "/console/signin", tc.form, tc.headers)
		if a.status != tc.status || !strings.Contains(a.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, a.status, tc.status, tc.says, a.body)
		}
		if c := readSetCookies(a.header); len(c) > 0 && c[0].Name == sessionCookie {
			t.Errorf("%s: a session was made", tc.name)
		}
		token = csrfField.FindStringSubmatch(a.body)[1]
		for i := range cases {
			if cases[i].form.Has("csrf") && cases[i].name != "wrong token" {
				cases[i].form.Set("csrf", token)
			}
		}
	}
	if !strings.Contains(s.browser(t).send("POST", "/console/signin", url.Values{"csrf": {"a"}, "key": {"hgr_nope"}}, nil).body, "expired") {
		t.Error("a sign-in without the sign-in cookie was not refused")
	}
}

// altered is a token one character off: never the token itself.
func altered(token string) string {
	if token[0] == 'x' {
		return "y" + token[1:]
	}
	return "x" + token[1:]
}

func TestCSRFRefusals(t *testing.T) {
	s := newStack(t, false)
	alice := s.browser(t)
	alice.signIn("alice")
	other := s.browser(t)
	other.signIn("alice")
	s.upload(t, "alice", "d")
	cases := []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"empty token", url.Values{"csrf": {""}}, nil},
		{"wrong token", url.Values{"csrf": {altered(alice.csrf)}}, nil},
		{"another session's token", url.Values{"csrf": {other.csrf}}, nil},
		{"cross-site", url.Values{"csrf": {alice.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site", url.Values{"csrf": {alice.csrf}}, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"other origin", url.Values{"csrf": {alice.csrf}}, map[string]string{"Origin": "http://evil.example"}},
		{"null origin", url.Values{"csrf": {alice.csrf}}, map[string]string{"Origin": "null"}},
	}
	for _, path := range []string{"/console/disks/d/delete", "/console/signout", "/console/marketplace/terms/accept", "/console/vms/v/start",
		"/console/new/image", "/console/new/vm", "/console/images/web/share", "/console/images/web/unshare", "/console/images/web/community",
		"/console/images/web/community/withdraw", "/console/vms/v/run-command", "/console/vms/v/backup", "/console/vms/v/generalize",
		"/console/vms/v/capture", "/console/admin/gc", "/console/admin/scrub", "/console/admin/tenants/bob/keys", "/console/admin/tenants/bob/quotas",
		"/console/images/web/versions/1.0.0", "/console/images/web/marketplace", "/console/delete/image/web", "/console/admin/tenants",
		"/console/disks/d/tags", "/console/vms/v/tags", "/console/images/web/tags", "/console/images/web/versions/1.0.0/tags",
		"/console/images/web/versions/1.0.0/properties", "/console/images/web/versions/1.0.0/replicate", "/console/withdraw/marketplace/A:B:C:1.0.0",
		"/console/new/disk", "/console/disks/d/generalize", "/console/webhooks", "/console/webhooks/w/delete", "/console/admin/upstreams",
		"/console/admin/upstreams/u/remove", "/console/admin/upstreams/u/pull"} {
		for _, tc := range cases {
			a := alice.send("POST", path, tc.form, tc.headers)
			if a.status != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403", path, tc.name, a.status)
			}
		}
	}
	// Nothing changed: the disk and the session are still there.
	if _, err := s.api["alice"].Disk(t.Context(), "d"); err != nil {
		t.Fatal(err)
	}
	if a := alice.get("/console/disks"); a.status != 200 || !strings.Contains(a.body, `href="/console/disks/d"`) {
		t.Fatalf("after refused POSTs: %d", a.status)
	}
	// GET never changes anything: the POST-only paths answer GET with no effect.
	for _, path := range []string{"/console/signout", "/console/vms/v/start", "/console/marketplace/terms/accept"} {
		if a := alice.get(path); a.status == http.StatusSeeOther || a.status == http.StatusOK {
			t.Errorf("GET %s: %d", path, a.status)
		}
	}
	if a := alice.get("/console/images"); a.status != 200 {
		t.Fatalf("GET /console/signout signed out: %d", a.status)
	}
	// The same POST with the token and this origin works.
	if a := alice.post("/console/disks/d/delete", url.Values{"csrf": {alice.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("a proper delete: %d\n%s", a.status, a.body)
	}
	if _, err := s.api["alice"].Disk(t.Context(), "d"); err == nil {
		t.Fatal("the disk is still there")
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	s := newStack(t, false)
	b := s.browser(t)
	cookie := b.signIn("alice")
	a := b.post("/console/signout", url.Values{"csrf": {b.csrf}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin" {
		t.Fatalf("sign-out: %d %s", a.status, a.header.Get("Location"))
	}
	// The old cookie, sent again by hand, signs no one in.
	replay := s.browser(t)
	u, _ := url.Parse(s.srv.URL + "/console/")
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: cookie.Value, Path: "/console"}})
	if a := replay.get("/console/images"); a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/signin") {
		t.Fatalf("the signed-out cookie: %d %s", a.status, a.header.Get("Location"))
	}
	// A revoked key ends its sessions too.
	b2 := s.browser(t)
	b2.signIn("bob")
	keys, err := s.api["admin"].ListKeys(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.api["admin"].CreateKey(t.Context(), "bob", hangar.KeyCreate{Name: "spare"}); err != nil {
		t.Fatal(err)
	}
	if err := s.api["admin"].RevokeKey(t.Context(), "bob", keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if a := b2.get("/console/images"); a.status != http.StatusSeeOther {
		t.Fatalf("a revoked key's session: %d", a.status)
	}
	if n, err := s.db.CountConsoleSessions(t.Context(), ""); err != nil || n != 0 {
		t.Fatalf("%d sessions left, want none (%v)", n, err)
	}
}

func TestSessionsExpire(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	ss := newSessions(db, time.Hour, 3*time.Hour)
	now := time.Unix(1e9, 0)
	ss.now = func() time.Time { return now }
	token, err := ss.create(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // used every 50 minutes: alive until the maximum age
		now = now.Add(50 * time.Minute)
		if got, err := ss.get(ctx, token); (got != nil) != (i < 3) || err != nil {
			t.Fatalf("after %v: session %v (%v)", time.Duration(i+1)*50*time.Minute, got != nil, err)
		}
	}
	token, _ = ss.create(ctx, "k")
	now = now.Add(61 * time.Minute)
	if got, _ := ss.get(ctx, token); got != nil {
		t.Fatal("an idle session lives on")
	}
	// Both expired sessions are gone from the table, not only refused.
	if n, _ := db.CountConsoleSessions(ctx, ""); n != 0 {
		t.Fatalf("%d expired sessions are kept", n)
	}
	// A session used less than a minute apart is not written at each use, and
	// still ends idle: its last use is kept to the minute.
	token, _ = ss.create(ctx, "k")
	for range 70 {
		now = now.Add(59 * time.Second)
		if got, _ := ss.get(ctx, token); got == nil {
			t.Fatal("a session used every 59 seconds ended")
		}
	}
	now = now.Add(61 * time.Minute)
	if got, _ := ss.get(ctx, token); got != nil {
		t.Fatal("an idle session lives on")
	}
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSessionsBounded: one key signing in again and again ends only its own oldest
// sessions, never another key's; a full table refuses new sign-ins.
func TestSessionsBounded(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	ss := newSessions(db, time.Hour, 3*time.Hour)
	ss.bounds.Total = maxSessionsPerKey + 10
	victim, _ := ss.create(ctx, "victim")
	var first string
	for i := range 3 * maxSessionsPerKey {
		token, err := ss.create(ctx, "attacker")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = token
		}
	}
	alive := func(token string) bool { s, _ := ss.get(ctx, token); return s != nil }
	if !alive(victim) {
		t.Fatal("another key's sign-ins ended the victim's session")
	}
	if n, _ := db.CountConsoleSessions(ctx, ""); alive(first) || n != maxSessionsPerKey+1 {
		t.Fatalf("the attacker keeps %d sessions (its first: %v)", n-1, alive(first))
	}
	for i := maxSessionsPerKey + 1; i < ss.bounds.Total; i++ {
		if _, err := ss.create(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ss.create(ctx, "late"); !errors.Is(err, errTooManySessions) || !alive(victim) {
		t.Fatalf("a sign-in with the table full: %v (victim still in: %v)", err, alive(victim))
	}
}

// csp is checked on every kind of answer the console gives.
func TestHeadersOnEveryPage(t *testing.T) {
	s := newStack(t, false)
	anon := s.browser(t)
	b := s.browser(t)
	b.signIn("alice")
	check := func(what string, a answer) {
		t.Helper()
		for k, want := range map[string]string{"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := a.header.Get(k); got != want {
				t.Errorf("%s: %s is %q, want %q", what, k, got, want)
			}
		}
	}
	for _, p := range []string{"/console/signin", "/console/images", "/console/images?all=1", "/console/marketplace",
		"/console/community", "/console/disks", "/console/vms", "/console/images/nope", "/console/disks/nope",
		"/console/vms/nope", "/console/nope", "/console/static/console.css", "/console/static/console.js",
		"/console/admin/tenants", "/console/", "/console"} {
		check("GET "+p, b.get(p))
		check("anonymous GET "+p, anon.get(p))
	}
	check("refused POST", b.send("POST", "/console/signout", url.Values{}, nil))
	check("sign-in POST", anon.send("POST", "/console/signin", url.Values{}, nil))
	for _, directive := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, directive) || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("the CSP lacks %s or allows inline code or eval: %s", directive, csp)
		}
	}
	// No page carries inline script or style the CSP would block.
	for _, p := range []string{"/console/images", "/console/signin", "/console/marketplace"} {
		body := b.get(p).body
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s has inline script or style", p)
		}
	}
	// The API and the redirect for browsers at /.
	if a := b.send("GET", "/", nil, map[string]string{"Accept": "text/html"}); a.status != http.StatusSeeOther || a.header.Get("Location") != Prefix {
		t.Errorf("GET / from a browser: %d %s", a.status, a.header.Get("Location"))
	}
	if a := b.get("/healthz"); a.status != 200 {
		t.Errorf("/healthz: %d", a.status)
	}
	if a := b.send("GET", "/v1/whoami", nil, map[string]string{"Authorization": "Bearer " + s.keys["alice"]}); a.status != 200 {
		t.Errorf("the API: %d", a.status)
	}
}

func TestNotFoundIsTheSame(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "secret-disk")
	s.image(t, "alice", hangar.ImageCreate{Name: "secret", OSDisk: "secret-disk"})
	s.upload(t, "contoso", "cos")
	s.image(t, "contoso", hangar.ImageCreate{Name: "sql", OSDisk: "cos"})
	if _, err := s.api["contoso"].PublishMarketplace(t.Context(), hangar.MarketplacePublish{URN: "Contoso:SQL:ent:1.0.0", Image: "sql", Entitlement: "msdn"}); err != nil {
		t.Fatal(err)
	}
	alice, bob := s.browser(t), s.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	if a := alice.get("/console/images/secret"); a.status != 200 {
		t.Fatalf("the owner's own image: %d", a.status)
	}
	cases := []struct{ hidden, missing string }{
		{"/console/images/secret", "/console/images/no-such"},
		{"/console/images/shared/alice/secret", "/console/images/shared/alice/no-such"},
		{"/console/disks/secret-disk", "/console/disks/no-such"},
		{"/console/disks/secret-disk/delete", "/console/disks/no-such/delete"},
		{"/console/disks/secret-disk/generalize", "/console/disks/no-such/generalize"},
		{"/console/withdraw/marketplace/Contoso:SQL:ent:1.0.0", "/console/withdraw/marketplace/Contoso:SQL:none:1.0.0"},
		{"/console/disks/secret-disk/download?format=raw", "/console/disks/no-such/download?format=raw"},
		{"/console/marketplace/Contoso", "/console/marketplace/Nobody"},
		{"/console/marketplace/Contoso/SQL/ent", "/console/marketplace/Contoso/SQL/none"},
		{"/console/vms/no-vm", "/console/images/no-such"},
	}
	for _, tc := range cases {
		h, m := bob.get(tc.hidden), bob.get(tc.missing)
		if h.status != http.StatusNotFound || h.status != m.status || h.body != m.body {
			t.Errorf("bob: %s answers %d, %s answers %d; the pages differ: %v", tc.hidden, h.status, tc.missing, m.status, h.body != m.body)
		}
	}
	// A refused action on something hidden says what the API says of a missing one.
	a := bob.post("/console/disks/secret-disk/delete", url.Values{"csrf": {bob.csrf}})
	hidden := bob.get(a.header.Get("Location"))
	a = bob.post("/console/disks/no-such/delete", url.Values{"csrf": {bob.csrf}})
	missing := bob.get(a.header.Get("Location"))
	if strings.ReplaceAll(hidden.body, "secret-disk", "no-such") != missing.body || !strings.Contains(missing.body, "not found") {
		t.Errorf("deleting another tenant's disk and a missing one differ:\n%s\n---\n%s", hidden.body, missing.body)
	}
	if _, err := s.api["alice"].Disk(t.Context(), "secret-disk"); err != nil {
		t.Fatal("bob deleted alice's disk")
	}
}

func TestTenantTextIsEscaped(t *testing.T) {
	s := newStack(t, false)
	const markup = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	s.upload(t, "alice", "d")
	s.image(t, "alice", hangar.ImageCreate{Name: "web", OSDisk: "d", Description: markup, EULA: "javascript:alert(3)"})
	if _, err := s.api["alice"].PublishCommunity(t.Context(), "web", hangar.Community{PublicName: "acme",
		PublisherURI: `https://acme.example/"><script>alert(4)</script>`, PublisherEmail: "o'x&y@acme.example", EULA: markup}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.signIn("alice")
	for _, p := range []string{"/console/images/web", "/console/community", "/console/images/community/acme/web"} {
		body := b.get(p).body
		for _, raw := range []string{"<script>alert", "<img src=x", `href="javascript`, `"><script>`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s carries %q unescaped", p, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the description as text", p)
		}
	}
	if body := b.get("/console/community").body; !strings.Contains(body, `href="mailto:o%27x&amp;y@acme.example"`) &&
		!strings.Contains(body, `href="mailto:o&#39;x&amp;y@acme.example"`) {
		t.Errorf("the e-mail link:\n%s", body)
	}
}

func TestOnlyHTTPURLsAreLinks(t *testing.T) {
	for s, want := range map[string]bool{
		"https://acme.example/eula": true, "http://acme.example": true, "javascript:alert(1)": false,
		"data:text/html,<script>": false, "//acme.example/x": false, "https://": false, "HTTPS://acme.example": true,
		`https://acme.example/"><x>`: false, "ftp://acme.example": false, "vbscript:x": false, "the EULA text": false,
	} {
		if isHTTP(s) != want {
			t.Errorf("isHTTP(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"images@acme.example": true, "Acme <images@acme.example>": false, "a@b?subject=x": false, "not an address": false,
	} {
		if isEmail(s) != want {
			t.Errorf("isEmail(%q) = %v", s, !want)
		}
	}
}

func TestRedirectsStayInTheConsole(t *testing.T) {
	for in, want := range map[string]string{
		"/console/images": "/console/images", "https://evil.example/": "/console/", "//evil.example/console/": "/console/",
		"/console/\\evil": "/console/", "/v1/whoami": "/console/", "": "/console/", "/console/images?all=1": "/console/images?all=1",
	} {
		if got := localPath(in, Prefix); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignInGoesBackWhereItWasAsked(t *testing.T) {
	s := newStack(t, false)
	for next, want := range map[string]string{"/console/disks": "/console/disks", "//evil.example/": Prefix, "https://evil.example/": Prefix} {
		b := s.browser(t)
		a := b.get("/console/signin?next=" + url.QueryEscape(next))
		token := csrfField.FindStringSubmatch(a.body)[1]
		a = b.post("/console/signin", url.Values{"csrf": {token}, "key": {s.keys["alice"]}, "next": {next}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != want {
			t.Errorf("next=%s: %d to %s, want %s", next, a.status, a.header.Get("Location"), want)
		}
	}
	// A page asked for without a session sends to the sign-in page with itself as next.
	if a := s.browser(t).get("/console/disks?x=1"); a.header.Get("Location") != "/console/signin?next="+url.QueryEscape("/console/disks?x=1") {
		t.Errorf("an anonymous page: %s", a.header.Get("Location"))
	}
}

func TestAdminLinksOnlyForAdmins(t *testing.T) {
	s := newStack(t, false)
	for tenant, admin := range map[string]bool{"admin": true, "alice": false, "contoso": false} {
		b := s.browser(t)
		b.signIn(tenant)
		if got := strings.Contains(b.get("/console/images").body, "/console/admin/"); got != admin {
			t.Errorf("%s sees admin links: %v", tenant, got)
		}
		if a := b.get("/console/admin/tenants"); (a.status == 200) != admin {
			t.Errorf("%s opening the tenants page: %d", tenant, a.status)
		}
	}
}

// A VM's page shows what its guest wrote (serial console, provisioning message) as
// text: rendered here from a VM value, as no VM boots in these tests.
func TestVMTextIsEscaped(t *testing.T) {
	h := New(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	const markup = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	vm := hangar.VM{Name: "web1", Image: "web@1.0.0", PowerState: "running", ProvisioningState: "Failed",
		ProvisioningMessage: "guest says " + markup, ComputerName: markup, AdminUsername: "ops",
		Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: 1 << 30}}}
	for _, page := range []struct {
		name string
		data any
	}{{"vm", vmView{VM: vm, Serial: "login: " + markup + "\x1b[0m"}}, {"vms", tagList[hangar.VM]{Items: []hangar.VM{vm}, Path: "/console/vms"}}} {
		rec := httptest.NewRecorder()
		h.write(rec, http.StatusOK, page.name, view{Title: "t", CSRF: "token", Who: hangar.Tenant{Name: "alice"}, Data: page.data})
		body := rec.Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("page %s does not escape the guest's text:\n%s", page.name, body)
		}
	}
}
