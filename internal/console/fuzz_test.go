package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSessionCookie: whatever a browser sends as its session cookie, and whatever
// the database holds as a sealed key, parsing and opening never panic, and a key
// opens only with the secret and the row it was sealed for.
func FuzzSessionCookie(f *testing.F) {
	id, secret := random32(), random32()
	f.Add(b64(id)+"."+b64(secret), "bogus")
	f.Add(".", "")
	f.Add("a.b.c", "AAAA")
	f.Fuzz(func(t *testing.T, cookie, sealed string) {
		gotID, gotSecret, ok := parseCookie(cookie)
		if ok && (len(gotID) != 32 || len(gotSecret) != 32) {
			t.Fatalf("parseCookie(%q) accepted a %d-byte ID and a %d-byte secret", cookie, len(gotID), len(gotSecret))
		}
		if !ok {
			gotSecret = secret
		}
		idHash := hashHex(gotID)
		unseal(gotSecret, idHash, sealed) // must not panic
		s := seal(gotSecret, idHash, cookie)
		if key, ok := unseal(gotSecret, idHash, s); !ok || key != cookie {
			t.Fatalf("a sealed key does not open with its own secret and row")
		}
		if _, ok := unseal(gotSecret, idHash+"x", s); ok {
			t.Fatal("a sealed key opens for another row")
		}
	})
}

// FuzzFlashCookie: a flash cookie is shown only if the session signed it; any
// other value shows nothing and never panics.
func FuzzFlashCookie(f *testing.F) {
	f.Add("bWVzc2FnZQ.c2ln", "message")
	f.Add("", "")
	f.Add("...", "\x00")
	f.Fuzz(func(t *testing.T, value, msg string) {
		sess := newSession("idhash", "key", random32())
		// A cookie the session made round-trips.
		w := httptest.NewRecorder()
		c := &call{w: w, r: httptest.NewRequest("GET", "/console/", nil), sess: sess}
		c.flash(msg, "")
		c.saveFlash()
		r := httptest.NewRequest("GET", "/console/", nil)
		for _, ck := range w.Result().Cookies() {
			r.AddCookie(ck)
		}
		c = &call{w: httptest.NewRecorder(), r: r, sess: sess}
		want, _, _ := strings.Cut(strings.ToValidUTF8(cut(msg)+"\x00", ""), "\x00")
		if got, _ := c.takeFlash(); got != want {
			t.Fatalf("flash %q came back as %q", msg, got)
		}
		// Any other value shows nothing.
		r = httptest.NewRequest("GET", "/console/", nil)
		r.AddCookie(&http.Cookie{Name: flashCookie, Value: value})
		c = &call{w: httptest.NewRecorder(), r: r, sess: sess}
		if got, gotErr := c.takeFlash(); got != "" || gotErr != "" {
			t.Fatalf("an unsigned flash cookie %q showed %q, %q", value, got, gotErr)
		}
	})
}
