package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// Cookie names. The session cookie holds the session's ID and secret; the sign-in
// cookie holds the token that the sign-in form must echo (there is no session yet);
// the flash cookie holds the message of the last action, shown once by the next
// page.
const (
	sessionCookie = "hangar_session"
	signInCookie  = "hangar_signin"
	flashCookie   = "hangar_flash"
)

// maxSessions bounds the sessions of the whole installation; past it new sign-ins
// are refused (never is someone else's session ended to make room).
// maxSessionsPerKey bounds one key's: past it that key's oldest session ends, so
// that one tenant signing in again and again cannot fill the table.
const (
	maxSessions       = 10000
	maxSessionsPerKey = 20
)

// touchEvery is how often a session's last use is written: the idle timeout is
// kept to within it, and a page costs no write.
const touchEvery = time.Minute

// sealInfo is the HKDF info of the key that seals a session's API key.
const sealInfo = "hangar console session"

// errTooManySessions is a sign-in refused because maxSessions are live;
// errNoSessions one refused because the console was given no store.
var (
	errTooManySessions = errors.New("too many people are signed in to this console right now: try again later, or use the CLI")
	errNoSessions      = errors.New("this console keeps no sessions: use the CLI")
)

// SessionStore keeps the console's sessions where every node on the database sees
// them and a restart keeps them; *store.DB is one. The console hands it only
// what a dump may show: the ID's hash, the key's hash, the key sealed under the
// session's secret, which is never stored.
type SessionStore interface {
	CreateConsoleSession(ctx context.Context, s store.ConsoleSession, b store.SessionBounds) error
	ConsoleSession(ctx context.Context, idHash string) (store.ConsoleSession, error)
	TouchConsoleSession(ctx context.Context, idHash string, at time.Time) error
	DeleteConsoleSession(ctx context.Context, idHash string) error
	DeleteExpiredConsoleSessions(ctx context.Context, now, idleSince time.Time) (int64, error)
}

var _ SessionStore = (*store.DB)(nil)

// session is one signed-in browser, as one request found it.
type session struct {
	idHash string // hex SHA-256 of the session ID: the row's key
	key    string // the API key signed in with, unsealed with the cookie's secret
	csrf   string // the token every form of this session carries
	flash  []byte // the key that signs this session's flash cookie
}

func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// sessions are the console's sessions, in the store.
type sessions struct {
	db        SessionStore // nil: no one can sign in
	idle, max time.Duration
	bounds    store.SessionBounds
	now       func() time.Time
}

func newSessions(db SessionStore, idle, max time.Duration) *sessions {
	return &sessions{db: db, idle: idle, max: max, now: time.Now,
		bounds: store.SessionBounds{PerKey: maxSessionsPerKey, Total: maxSessions}}
}

// random32 returns 256 random bits.
func random32() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// randomToken returns 256 random bits, base64url.
func randomToken() string { return b64(random32()) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// derive returns HMAC-SHA256(secret, label): the session's CSRF token and flash
// key come from its secret, so neither is stored.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// aead returns AES-256-GCM under HKDF-SHA256(secret, info sealInfo).
func aead(secret []byte) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		panic(err) // 32 bytes of SHA-256's HKDF never fail
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// seal seals key under secret, bound to the row idHash (a sealed key moved to
// another row does not open).
func seal(secret []byte, idHash, key string) string {
	g := aead(secret)
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(g.Seal(nonce, nonce, []byte(key), []byte(idHash)))
}

// unseal opens what seal made; a wrong secret or a changed row fails.
func unseal(secret []byte, idHash, sealed string) (string, bool) {
	g := aead(secret)
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < g.NonceSize() {
		return "", false
	}
	key, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(idHash))
	return string(key), err == nil
}

// parseCookie splits a session cookie, ID.SECRET, each 32 bytes base64url.
func parseCookie(v string) (id, secret []byte, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return nil, nil, false
	}
	id, err1 := base64.RawURLEncoding.DecodeString(a)
	secret, err2 := base64.RawURLEncoding.DecodeString(b)
	return id, secret, err1 == nil && err2 == nil && len(id) == 32 && len(secret) == 32
}

func newSession(idHash, key string, secret []byte) *session {
	return &session{idHash: idHash, key: key, csrf: b64(derive(secret, "csrf")), flash: derive(secret, "flash")}
}

// create makes a session for key and returns its cookie's value. Expired sessions
// go first, whoever's they are.
func (ss *sessions) create(ctx context.Context, key string) (string, error) {
	if ss.db == nil {
		return "", errNoSessions
	}
	now := ss.now()
	if _, err := ss.db.DeleteExpiredConsoleSessions(ctx, now, now.Add(-ss.idle)); err != nil {
		return "", err
	}
	id, secret := random32(), random32()
	idHash := hashHex(id)
	err := ss.db.CreateConsoleSession(ctx, store.ConsoleSession{IDHash: idHash, KeyHash: hashHex([]byte(key)),
		SealedKey: seal(secret, idHash, key), CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ss.max)}, ss.bounds)
	if errors.Is(err, store.ErrTooManySessions) {
		return "", errTooManySessions
	}
	if err != nil {
		return "", err
	}
	return b64(id) + "." + b64(secret), nil
}

// get returns the live session of a cookie's value, or nil: a malformed cookie,
// an unknown ID, a wrong secret and an expired session all give nil alike.
func (ss *sessions) get(ctx context.Context, value string) (*session, error) {
	id, secret, ok := parseCookie(value)
	if !ok || ss.db == nil {
		return nil, nil
	}
	idHash := hashHex(id)
	row, err := ss.db.ConsoleSession(ctx, idHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, ok := unseal(secret, idHash, row.SealedKey)
	if !ok {
		return nil, nil
	}
	now := ss.now()
	if now.Sub(row.LastUsedAt) > ss.idle || now.After(row.ExpiresAt) {
		return nil, ss.db.DeleteConsoleSession(ctx, idHash)
	}
	if now.Sub(row.LastUsedAt) >= touchEvery {
		if err := ss.db.TouchConsoleSession(ctx, idHash, now); err != nil {
			return nil, err
		}
	}
	return newSession(idHash, key, secret), nil
}

func (ss *sessions) fromRequest(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	return ss.get(r.Context(), c.Value)
}

// end deletes a session: its cookie no longer signs anyone in, on any node.
func (ss *sessions) end(ctx context.Context, s *session) error {
	return ss.db.DeleteConsoleSession(ctx, s.idHash)
}

// maxFlash bounds a flash message's bytes, so that its cookie stays small.
const maxFlash = 1000

// flash sets the message of an action, shown once by the page it leads to: by
// this request's page if it renders one, else by the next (a cookie).
func (c *call) flash(msg, errMsg string) {
	c.flashMsg, c.flashErr, c.flashSet = msg, errMsg, true
}

// saveFlash puts a flash not shown yet in its cookie, signed with the session's
// flash key: a cookie set by anyone else (another site's subdomain) shows nothing.
func (c *call) saveFlash() {
	if !c.flashSet || c.sess == nil {
		return
	}
	payload := strings.ToValidUTF8(cut(c.flashMsg)+"\x00"+cut(c.flashErr), "")
	m := hmac.New(sha256.New, c.sess.flash)
	m.Write([]byte(payload))
	http.SetCookie(c.w, cookie(c.r, flashCookie, b64([]byte(payload))+"."+b64(m.Sum(nil)), 300))
	c.flashSet = false
}

func cut(s string) string {
	if len(s) > maxFlash {
		return s[:maxFlash]
	}
	return s
}

// takeFlash returns the flash to show on this page, and deletes its cookie.
func (c *call) takeFlash() (string, string) {
	if c.flashSet {
		c.flashSet = false
		return c.flashMsg, c.flashErr
	}
	ck, err := c.r.Cookie(flashCookie)
	if err != nil || c.sess == nil {
		return "", ""
	}
	http.SetCookie(c.w, cookie(c.r, flashCookie, "", -1))
	p, mac, _ := strings.Cut(ck.Value, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	m := hmac.New(sha256.New, c.sess.flash)
	m.Write(payload)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, m.Sum(nil)) {
		return "", ""
	}
	msg, errMsg, _ := strings.Cut(string(payload), "\x00")
	return msg, errMsg
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, Secure over HTTPS,
// for the console's paths only. maxAge < 0 deletes it.
func cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: strings.TrimSuffix(Prefix, "/"), MaxAge: maxAge,
		HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode}
}

// signInView is the sign-in page's data.
type signInView struct {
	Token, Next, Error string
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if s, _ := h.sessions.fromRequest(r); s != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next"), Prefix), http.StatusSeeOther)
		return
	}
	h.showSignIn(w, r, http.StatusOK, "")
}

func (h *Handler) showSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := randomToken()
	http.SetCookie(w, cookie(r, signInCookie, token, 3600))
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	h.write(w, status, "signin", view{Title: "Sign in", Data: signInView{Token: token, Next: localPath(next, ""), Error: msg}})
}

// signIn checks the key with the API (whoami) and makes a session.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(signInCookie)
	if !sameOrigin(r) || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		h.showSignIn(w, r, http.StatusForbidden, "This sign-in form has expired or was not sent from this console: try again.")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		h.showSignIn(w, r, http.StatusBadRequest, "Enter an API key (hangar tenant create prints one; the admin's is in DATA_DIR/admin.key).")
		return
	}
	api := client.New("http://hangar.internal", key, client.WithHandler(h.api))
	if _, err := api.Whoami(r.Context()); err != nil {
		status := http.StatusInternalServerError
		var he *hangar.Error
		if errors.As(err, &he) {
			status = he.Code.HTTPStatus()
		}
		h.showSignIn(w, r, status, message(err))
		return
	}
	value, err := h.sessions.create(r.Context(), key)
	if err != nil {
		msg := err.Error()
		if !errors.Is(err, errTooManySessions) && !errors.Is(err, errNoSessions) {
			h.log.Error("console: making a session", "err", err)
			msg = "internal error"
		}
		h.showSignIn(w, r, http.StatusServiceUnavailable, msg)
		return
	}
	http.SetCookie(w, cookie(r, signInCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, value, 0))
	http.Redirect(w, r, localPath(r.PostFormValue("next"), Prefix), http.StatusSeeOther)
}

// signOut ends the session on the server and deletes the cookie.
func (h *Handler) signOut(c *call) (string, error) {
	if err := h.sessions.end(c.ctx, c.sess); err != nil {
		return "", err
	}
	http.SetCookie(c.w, cookie(c.r, sessionCookie, "", -1))
	return Prefix + "signin", nil
}
