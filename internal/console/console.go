package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// wasmFS holds the WebAssembly build of diskfmt and Go's wasm_exec.js when
// scripts/build-wasm.sh made them before hangar was built (make build does); the
// directory's committed README.md keeps the pattern matching on a clean checkout,
// where the console reads raw and fixed VHD files only.
//
//go:embed wasm
var wasmFS embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// csp is the Content-Security-Policy of every response: scripts, styles and images
// from this origin only (no inline script or style), forms posted here only, never
// framed. 'wasm-unsafe-eval' lets a script of this origin compile WebAssembly (the
// upload's diskfmt.wasm, served from here) and nothing more: no eval, no inline
// script; without it, the browser refuses WebAssembly.instantiate.
const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the console.
type Handler struct {
	api      http.Handler
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	perPage  int
	wasm     *wasmBuild // diskfmt.wasm and wasm_exec.js; nil when this build lacks them
}

// Options adjust a console.
type Options struct {
	// IdleTimeout ends a session unused this long (default 8 hours).
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in, used or not (default 24 hours).
	MaxAge time.Duration
	// PageSize is the rows of one page of the image list (default 100).
	PageSize int
	// Sessions keeps the sessions, shared by every node on one database and
	// kept across restarts: the server's *store.DB. Nil means no one can sign in
	// (tests that only render pages).
	Sessions SessionStore
	// Wasm holds diskfmt.wasm and wasm_exec.js for the browser upload; nil means
	// those embedded in this binary, if it was built with them. A file system
	// without them (tests) makes the console read raw and fixed VHD files only.
	Wasm fs.FS
}

// New returns the console over Hangar's own API handler, which it calls in this
// process with each session's key.
func New(api http.Handler, log *slog.Logger, o Options) *Handler {
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 8 * time.Hour
	}
	if o.MaxAge == 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.Wasm == nil {
		o.Wasm, _ = fs.Sub(wasmFS, "wasm")
	}
	h := &Handler{api: api, log: log, sessions: newSessions(o.Sessions, o.IdleTimeout, o.MaxAge), pages: parsePages(), perPage: o.PageSize, wasm: loadWasm(o.Wasm)}
	h.mux = h.routes()
	return h
}

// Mount serves the console under /console/ and sends browsers asking for / there;
// everything else goes to next (the API and ARM).
func Mount(next http.Handler, c *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/console" || strings.HasPrefix(p, Prefix):
			c.ServeHTTP(w, r)
		case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html"):
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.URL.Path == "/console" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	m.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET "+Prefix+"signin", h.signInPage)
	m.HandleFunc("POST "+Prefix+"signin", h.signIn)
	m.HandleFunc("POST "+Prefix+"signout", h.action(h.signOut))
	m.HandleFunc("GET "+Prefix+"{$}", h.page(func(c *call) error {
		http.Redirect(c.w, c.r, Prefix+"images", http.StatusSeeOther)
		return nil
	}))
	h.catalogRoutes(m)
	h.imageFormRoutes(m)
	h.imageEditRoutes(m)
	h.computeRoutes(m)
	h.vmFormRoutes(m)
	h.uploadRoutes(m)
	h.adminRoutes(m)
	h.metaRoutes(m)
	h.diskFormRoutes(m)
	h.eventRoutes(m)
	h.syndicationRoutes(m)
	m.HandleFunc(Prefix, h.page(func(c *call) error { return notFound("page") }))
	return m
}

// call is one request of a signed-in session.
type call struct {
	ctx  context.Context
	w    http.ResponseWriter
	r    *http.Request
	sess *session
	api  *client.Client // Hangar's API with the session's key
	who  hangar.Tenant
	h    *Handler
	// The flash set by this request and not shown yet (session.go).
	flashMsg, flashErr string
	flashSet           bool
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string
	Who      hangar.Tenant
	Admin    bool
	CSRF     string
	Flash    string
	FlashErr string
	Data     any
}

// render writes a page with status 200 unless told otherwise.
func (c *call) render(name, title, nav string, data any) error {
	return c.renderStatus(http.StatusOK, name, title, nav, data)
}

func (c *call) renderStatus(status int, name, title, nav string, data any) error {
	v := view{Title: title, Nav: nav, Data: data}
	if c.sess != nil {
		v.Who, v.Admin, v.CSRF = c.who, c.who.Role == hangar.RoleAdmin, c.sess.csrf
		v.Flash, v.FlashErr = c.takeFlash()
	}
	c.h.write(c.w, status, name, v)
	return nil
}

func (h *Handler) write(w http.ResponseWriter, status int, name string, v view) {
	t, ok := h.pages[name]
	if !ok {
		panic("console: no page template " + name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		h.log.Error("console: rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// notFoundError is a page for something the tenant cannot see: it names neither
// the thing nor why.
type notFoundError struct{ kind string }

func (e notFoundError) Error() string { return e.kind + " not found" }

func notFound(kind string) error { return notFoundError{kind} }

// isNotFound says whether err is the API's "not found", whatever its code.
func isNotFound(err error) bool {
	var he *hangar.Error
	return errors.As(err, &he) && he.Code.HTTPStatus() == http.StatusNotFound
}

// orNotFound turns the API's "not found" into the console's not-found page for kind.
func orNotFound(kind string, err error) error {
	if isNotFound(err) {
		return notFound(kind)
	}
	return err
}

// page wraps a GET handler: it needs a session, and its error becomes a page.
func (h *Handler) page(fn func(c *call) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.begin(w, r)
		if !ok {
			return
		}
		if err := fn(c); err != nil {
			h.fail(c, err)
		}
	}
}

// action wraps a POST handler: it needs a session, this origin and the session's
// CSRF token; its error is shown on the page it redirects to (back, or the form's
// "back" field).
func (h *Handler) action(fn func(c *call) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if !sameOrigin(r) {
			h.refuse(w, "This form was not sent from this console.")
			return
		}
		c, ok := h.begin(w, r)
		if !ok {
			return
		}
		if !c.sess.checkCSRF(r.PostFormValue("csrf")) {
			h.refuse(w, "This form has expired or was not sent from this console: reload the page and try again.")
			return
		}
		to, err := fn(c)
		if err != nil {
			c.flash("", message(err))
			if to == "" {
				to = localPath(r.PostFormValue("back"), Prefix)
			}
		}
		if to == "" {
			return
		}
		c.saveFlash()
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

// begin finds the request's session and checks its key with the API.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (*call, bool) {
	s, err := h.sessions.fromRequest(r)
	if err != nil {
		h.log.Error("console: reading a session", "err", err)
		h.write(w, http.StatusInternalServerError, "error", view{Title: "Error", Data: "internal error"})
		return nil, false
	}
	if s == nil {
		h.toSignIn(w, r)
		return nil, false
	}
	c := &call{ctx: r.Context(), w: w, r: r, sess: s, h: h,
		api: client.New("http://hangar.internal", s.key, client.WithHandler(h.api))}
	who, err := c.api.Whoami(c.ctx)
	if err != nil {
		var he *hangar.Error
		if errors.As(err, &he) && he.Code == hangar.CodeUnauthenticated {
			// The key was revoked: the session ends with it.
			if err := h.sessions.end(c.ctx, s); err != nil {
				h.log.Error("console: ending a session", "err", err)
			}
			h.toSignIn(w, r)
			return nil, false
		}
		h.fail(c, err)
		return nil, false
	}
	c.who = who.Tenant
	return c, true
}

func (h *Handler) toSignIn(w http.ResponseWriter, r *http.Request) {
	to := Prefix + "signin"
	if r.Method == http.MethodGet && r.URL.Path != Prefix {
		to += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// fail shows err as a page: the same not-found page for whatever cannot be seen,
// else the API's message with its status.
func (h *Handler) fail(c *call, err error) {
	var nf notFoundError
	if errors.As(err, &nf) || isNotFound(err) {
		c.renderStatus(http.StatusNotFound, "notfound", "Not found", "", nil)
		return
	}
	var he *hangar.Error
	if !errors.As(err, &he) {
		h.log.Error("console: a page failed", "path", c.r.URL.Path, "err", err)
	}
	c.renderStatus(statusOf(err), "error", "Error", "", message(err))
}

// statusOf is the HTTP status of err: the API's, else 500.
func statusOf(err error) int {
	var he *hangar.Error
	if errors.As(err, &he) {
		return he.Code.HTTPStatus()
	}
	return http.StatusInternalServerError
}

// message is what a person is told of err: the API's own message.
func message(err error) string {
	var he *hangar.Error
	if errors.As(err, &he) {
		return he.Message
	}
	var nf notFoundError
	if errors.As(err, &nf) {
		return "Not found."
	}
	return "internal error"
}

// refuse answers a POST that fails the CSRF checks: 403, nothing changed.
func (h *Handler) refuse(w http.ResponseWriter, msg string) {
	h.write(w, http.StatusForbidden, "error", view{Title: "Refused", Data: msg})
}

// sameOrigin says whether a POST may come from this console: a browser that says
// where a request comes from (Sec-Fetch-Site, Origin) must say it is this origin.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http://"
		if overTLS(r) {
			scheme = "https://"
		}
		return o == scheme+r.Host
	}
	return true
}

// overTLS says whether the browser reached the console over HTTPS: served with TLS,
// or through a proxy that terminates it and says so with X-Forwarded-Proto (as
// docs/OPERATIONS.md sets it up). A client that sends the header itself changes
// only its own cookie's Secure flag and its own Origin check.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// localPath returns p if it is a path of the console, else def: a redirect never
// leaves the console.
func localPath(p, def string) string {
	if !strings.HasPrefix(p, Prefix) || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return def
	}
	return p
}
