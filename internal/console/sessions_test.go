package console

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/store"
)

// node is another console over the same API and database, as another hangar
// serve node behind the same address would be (or this one after a restart).
func (s *stack) node(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Mount(s.hapi, New(s.hapi, s.log, Options{Sessions: s.db})))
	t.Cleanup(srv.Close)
	return srv
}

func signedIn(a answer) bool {
	return a.status == http.StatusOK && strings.Contains(a.body, `action="/console/signout"`)
}

func toSignIn(a answer) bool {
	return a.status == http.StatusSeeOther && strings.HasPrefix(a.header.Get("Location"), "/console/signin")
}

// TestSessionsSharedByNodes: a session made on one node works on another over the
// same database, with the same CSRF token; an action's message made on one is
// shown by the next page on the other; signing out on the second ends it on the
// first; a restart (a new Handler on the same database) keeps it.
func TestSessionsSharedByNodes(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	one := s.browser(t)
	cookie := one.signIn("alice")
	two := one.at(s.node(t).URL)
	if a := two.get("/console/disks"); !signedIn(a) || !strings.Contains(a.body, `href="/console/disks/d"`) {
		t.Fatalf("node two with node one's session: %d\n%s", a.status, a.body)
	}
	if two.csrf != one.csrf || two.csrf == "" {
		t.Fatalf("the nodes give the session different CSRF tokens: %q, %q", one.csrf, two.csrf)
	}
	// An action on node one; its page read from node two shows its message once.
	a := one.post("/console/disks/d/delete", url.Values{"csrf": {one.csrf}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("delete on node one: %d\n%s", a.status, a.body)
	}
	if page := two.get(a.header.Get("Location")); !strings.Contains(page.body, "Disk d deleted.") {
		t.Fatalf("node two does not show node one's message:\n%s", page.body)
	}
	if page := two.get(a.header.Get("Location")); strings.Contains(page.body, "Disk d deleted.") {
		t.Fatal("the message is shown twice")
	}
	// A restart: the same address, a new console on the same database.
	s.srv.Config.Handler = Mount(s.hapi, New(s.hapi, s.log, Options{Sessions: s.db}))
	if a := one.get("/console/images"); !signedIn(a) {
		t.Fatalf("after a restart: %d %s", a.status, a.header.Get("Location"))
	}
	// Sign out on node two ends the session on node one.
	if a := two.post("/console/signout", url.Values{"csrf": {two.csrf}}); a.status != http.StatusSeeOther {
		t.Fatalf("sign-out on node two: %d", a.status)
	}
	replay := s.browser(t)
	u, _ := url.Parse(s.srv.URL + "/console/")
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: cookie.Value, Path: "/console"}})
	if a := replay.get("/console/images"); !toSignIn(a) {
		t.Fatalf("the cookie signed out on node two, on node one: %d", a.status)
	}
}

// TestSessionTableHoldsNoKey: every column of every session row, read from a copy
// of the database as a dump would, holds neither an API key nor a session's
// secret, in any encoding the console uses; nor does the whole database file.
func TestSessionTableHoldsNoKey(t *testing.T) {
	s := newStack(t, false)
	var secrets []string
	for _, tenant := range []string{"alice", "bob", "admin"} {
		_, secret, _ := parseCookie(s.browser(t).signIn(tenant).Value)
		secrets = append(secrets, string(secret))
	}
	path := filepath.Join(t.TempDir(), "dump.db")
	dump, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Copy(t.Context(), s.db, dump); err != nil {
		t.Fatal(err)
	}
	dump.Close()
	forbidden := map[string][]byte{}
	for name, key := range s.keys {
		forbidden["the API key of "+name] = []byte(key)
	}
	for i, secret := range secrets {
		forbidden[fmt.Sprint("session secret ", i)] = []byte(secret)
	}
	for what, b := range forbidden {
		forbidden[what+" (base64url)"] = []byte(base64.RawURLEncoding.EncodeToString(b))
		forbidden[what+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(b))
		forbidden[what+" (hex)"] = []byte(fmt.Sprintf("%x", b))
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM console_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			cell := []byte(fmt.Sprint(v))
			if b, ok := v.([]byte); ok {
				cell = b
			}
			for what, f := range forbidden {
				if bytes.Contains(cell, f) {
					t.Errorf("column %s holds %s", cols[i], what)
				}
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d session rows, want 3", n)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for what, f := range forbidden {
		if bytes.Contains(file, f) {
			t.Errorf("the database file holds %s", what)
		}
	}
}

// TestWrongSecretRefused: a cookie with a session's ID but another secret signs no
// one in, and is answered exactly as an unknown ID; the session itself goes on.
func TestWrongSecretRefused(t *testing.T) {
	s := newStack(t, false)
	b := s.browser(t)
	id, secret, _ := parseCookie(b.signIn("alice").Value)
	with := func(value string) answer {
		o := s.browser(t)
		u, _ := url.Parse(s.srv.URL + "/console/")
		o.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/console"}})
		return o.get("/console/images")
	}
	other := append([]byte(nil), secret...)
	other[0] ^= 1
	wrong := with(b64(id) + "." + b64(other))
	unknown := with(randomToken() + "." + randomToken())
	if !toSignIn(wrong) || wrong.status != unknown.status || wrong.header.Get("Location") != unknown.header.Get("Location") || wrong.body != unknown.body {
		t.Fatalf("a wrong secret: %d %s; an unknown ID: %d %s", wrong.status, wrong.header.Get("Location"), unknown.status, unknown.header.Get("Location"))
	}
	for _, bad := range []string{b64(id), b64(id) + ".", "." + b64(secret), b64(id[:31]) + "." + b64(secret), "x"} {
		if a := with(bad); !toSignIn(a) {
			t.Errorf("cookie %q: %d", bad, a.status)
		}
	}
	if a := b.get("/console/images"); !signedIn(a) {
		t.Fatal("a wrong secret ended the session")
	}
	// The sealed key opens with the secret only.
	row, err := s.db.ConsoleSession(t.Context(), hashHex(id))
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := unseal(secret, row.IDHash, row.SealedKey); !ok || key != s.keys["alice"] {
		t.Fatal("the secret does not open the sealed key")
	}
	if _, ok := unseal(other, row.IDHash, row.SealedKey); ok {
		t.Fatal("another secret opens the sealed key")
	}
	if _, ok := unseal(secret, hashHex(other), row.SealedKey); ok {
		t.Fatal("the sealed key opens for another row")
	}
}

// TestForgedFlashIgnored: a flash cookie not signed with the session's key (set
// by a neighbouring site, or another session's) shows nothing.
func TestForgedFlashIgnored(t *testing.T) {
	s := newStack(t, false)
	b := s.browser(t)
	b.signIn("alice")
	other := s.browser(t)
	other.signIn("bob")
	s.upload(t, "bob", "d")
	a := other.post("/console/disks/d/delete", url.Values{"csrf": {other.csrf}})
	var bobs *http.Cookie
	for _, c := range readSetCookies(a.header) {
		if c.Name == flashCookie {
			bobs = c
		}
	}
	if bobs == nil || !bobs.HttpOnly || bobs.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the flash cookie: %+v", bobs)
	}
	u, _ := url.Parse(s.srv.URL + "/console/")
	forged := b64([]byte("Your key expired: paste it at evil.example\x00")) + "." + b64(make([]byte, 32))
	for _, v := range []string{bobs.Value, forged} {
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: flashCookie, Value: v, Path: "/console"}})
		if page := b.get("/console/images"); strings.Contains(page.body, "deleted") || strings.Contains(page.body, "evil.example") || !signedIn(page) {
			t.Fatalf("a foreign flash is shown:\n%s", page.body)
		}
	}
}
