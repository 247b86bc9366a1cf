package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Cookie names. The session cookie holds only the session's token; the sign-in
// cookie holds the token that the sign-in form must echo (there is no session yet).
const (
	sessionCookie = "hangar_session"
	signInCookie  = "hangar_signin"
)

// maxSessions bounds the sessions kept in memory; past it new sign-ins are
// refused (never is someone else's session ended to make room). maxSessionsPerKey
// bounds one key's: past it that key's oldest session ends, so that one tenant
// signing in again and again cannot fill the table.
const (
	maxSessions       = 10000
	maxSessionsPerKey = 20
)

// errTooManySessions is a sign-in refused because maxSessions are live.
var errTooManySessions = errors.New("too many people are signed in to this console right now: try again later, or use the CLI")

// session is one signed-in browser. Only the server holds it.
type session struct {
	id      [32]byte // SHA-256 of the cookie's token: the token itself is not kept
	key     string   // the API key signed in with
	csrf    string   // the token every form of this session carries
	created time.Time
	seen    time.Time
	// The message of the last action, shown once by the next page.
	flash, flashErr string
}

func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// sessions are the console's sessions, in memory: a restart signs everyone out.
type sessions struct {
	mu        sync.Mutex
	m         map[[32]byte]*session
	idle, max time.Duration
	now       func() time.Time
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, max: max, now: time.Now}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create makes a session for key and returns its cookie token.
func (ss *sessions) create(key string) (string, *session, error) {
	token := randomToken()
	now := ss.now()
	s := &session{id: sha256.Sum256([]byte(token)), key: key, csrf: randomToken(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var own []*session
	for id, o := range ss.m {
		if ss.expired(o, now) {
			delete(ss.m, id)
		} else if o.key == key {
			own = append(own, o)
		}
	}
	if len(own) >= maxSessionsPerKey {
		oldest := own[0]
		for _, o := range own {
			if o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(ss.m, oldest.id)
	}
	if len(ss.m) >= maxSessions {
		return "", nil, errTooManySessions
	}
	ss.m[s.id] = s
	return token, s, nil
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.max
}

// get returns the live session of token, or nil.
func (ss *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	id := sha256.Sum256([]byte(token))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, id)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) fromRequest(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return ss.get(c.Value)
}

// end deletes a session: its cookie no longer signs anyone in.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.id)
}

func (ss *sessions) setFlash(s *session, msg, errMsg string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash, s.flashErr = msg, errMsg
}

func (ss *sessions) takeFlash(s *session) (string, string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	msg, errMsg := s.flash, s.flashErr
	s.flash, s.flashErr = "", ""
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
	if h.sessions.fromRequest(r) != nil {
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
	token, _, err := h.sessions.create(key)
	if err != nil {
		h.showSignIn(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	http.SetCookie(w, cookie(r, signInCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, token, 0))
	http.Redirect(w, r, localPath(r.PostFormValue("next"), Prefix), http.StatusSeeOther)
}

// signOut ends the session on the server and deletes the cookie.
func (h *Handler) signOut(c *call) (string, error) {
	h.sessions.end(c.sess)
	http.SetCookie(c.w, cookie(c.r, sessionCookie, "", -1))
	return Prefix + "signin", nil
}
