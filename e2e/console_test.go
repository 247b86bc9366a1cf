package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium (Debian's chromium package) driven over CDP, with
// a count of the JavaScript dialogs anything tried to open.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	dialogs atomic.Int32
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed for the console's browser tests (scripts/deps.sh installs it):", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	b.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/healthz"))
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs.Add(1)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	// The dialog counter must see a dialog: open one on purpose, outside any page's CSP.
	b.do(chromedp.Evaluate[chromedp.Void](`setTimeout(() => alert("probe"), 0)`))
	for deadline := time.Now().Add(10 * time.Second); b.dialogs.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the browser's dialogs are not seen: the XSS checks would prove nothing")
		}
	}
	b.dialogs.Store(0)
	return b
}

// shot saves a screenshot of the page in the light and the dark theme when
// HANGAR_CONSOLE_SHOTS names a directory (for looking at the pages; part 2 makes
// the README's).
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("HANGAR_CONSOLE_SHOTS")
	if dir == "" {
		return
	}
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			b.t.Fatal(err)
		}
		png := run(b, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+scheme+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// open loads a console page and returns its main element's text.
func (b *browser) open(path string) string {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	return b.mainText()
}

func (b *browser) mainText() string {
	b.t.Helper()
	b.do(chromedp.WaitReady(chromedp.CSS("main")))
	return run(b, chromedp.Text(chromedp.CSS("main")))
}

func (b *browser) html() string {
	b.t.Helper()
	return run(b, chromedp.OuterHTML(chromedp.CSS("html")))
}

func (b *browser) signIn(key string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+"/console/signin"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/signout"]`)))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`form[action="/console/signout"] button`)), chromedp.WaitVisible(chromedp.ID("key")))
}

// click follows a link or presses a button found by its visible text, and waits
// for the page it leads to.
func (b *browser) click(text string) {
	b.t.Helper()
	q := xpathString(text)
	sel := `//a[normalize-space(.)=` + q + `] | //button[normalize-space(.)=` + q + `]`
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel, chromedp.NodeVisible))); err != nil {
		b.t.Fatalf("clicking %q: %v", text, err)
	}
}

func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// cookie returns the value of the browser's console session cookie.
func (b *browser) cookie() string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/console/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "hangar_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				b.t.Fatalf("session cookie flags: httpOnly %v sameSite %v", c.HTTPOnly, c.SameSite)
			}
			return c.Value
		}
	}
	b.t.Fatal("no session cookie")
	return ""
}

// consoleGet fetches a console path with a session cookie, without following redirects.
func consoleGet(t *testing.T, base, path, session string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.AddCookie(&http.Cookie{Name: "hangar_session", Value: session})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func mustContain(t *testing.T, where, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("%s does not show %q:\n%s", where, w, text)
		}
	}
}

// xss is written into every tenant-written field that takes it: the console must
// show it as text, and no dialog may ever open.
const xss = `<script>alert("xss")</script><img src=x onerror=alert("img")>`

func TestConsole(t *testing.T) {
	s := startServer(t)
	contoso := s.tenant("contoso", "--role", "publisher")
	alice := s.tenant("alice")
	bob := s.tenant("bob")

	// Contoso publishes to the marketplace: a plan with terms, two versions, the
	// newer excluded from latest, a description with markup.
	s.uploadDisk(contoso, "cos", 5)
	osImage(s, contoso, "lin", "cos", "--version", "1.0.0", "--description", "contoso "+xss, "--eula", "https://contoso.example/eula")
	osImage(s, contoso, "lin", "cos", "--version", "2.0.0")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "lin@1.0.0", "--plan", "std")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:2.0.0", "--image", "lin@2.0.0", "--plan", "std", "--exclude-from-latest")

	// Alice's images: web (two versions, one excluded, one with an end of life,
	// in the community with hostile publisher details, shared with bob), and
	// secret (private).
	s.uploadDisk(alice, "aos", 6)
	s.uploadDisk(alice, "spare", 7)
	osImage(s, alice, "web", "aos", "--version", "1.0.0", "--description", "web "+xss, "--eula", `javascript:alert("eula")`)
	osImage(s, alice, "web", "aos", "--version", "1.1.0")
	s.ok(alice, "image", "update-version", "web", "1.1.0", "--exclude-from-latest", "true")
	s.ok(alice, "image", "update-version", "web", "1.0.0", "--end-of-life", "2031-01-01")
	hostileURI := `https://acme.example/"><script>alert("uri")</script>`
	hostileEmail := `o'x&y{z}@acme.example`
	s.ok(alice, "image", "publish-community", "web", "--public-name", "acme", "--publisher-uri", hostileURI,
		"--publisher-email", hostileEmail, "--eula", "eula "+xss)
	s.ok(alice, "image", "share", "web", "--tenant", "bob")
	osImage(s, alice, "secret", "aos")
	// Names (images, disks, VMs, marketplace parts) are validated by the API: markup
	// cannot get into one.
	if msg := s.fails(alice, "image", "create", "--name", "<b>x", "--type", "os", "--os-type", "linux", "--os-state", "generalized", "--os-disk", "aos"); !strings.Contains(msg, "not valid") {
		t.Fatalf("a name with markup: %s", msg)
	}

	b := newBrowser(t, s.url())

	// Signing in: a wrong key shows the API's message; the right one a session.
	b.do(chromedp.Navigate(s.url()+"/console/images"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), "hgr_wrong"), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(".flash.err")))
	mustContain(t, "a wrong key's sign-in", b.mainText(), "Sign in")
	b.signIn(alice)
	session := b.cookie()

	// The marketplace, publisher → offer → SKU; accept the plan's terms in place.
	text := b.open("/console/marketplace")
	b.shot("marketplace")
	mustContain(t, "the marketplace", text, "Contoso", "Contoso:Linux:base:1.0.0", "terms to accept")
	b.click("Contoso")
	b.click("Linux")
	b.click("base")
	text = b.mainText()
	mustContain(t, "the SKU page", text, "Latest: 1.0.0", "Contoso:Linux:base:latest", "2.0.0", "excluded from latest",
		"Plan std", "https://contoso.example/eula", "contoso "+xss)
	b.shot("marketplace-sku")
	b.click("Accept the terms of plan std")
	mustContain(t, "the SKU page after accepting", b.mainText(), "The terms of plan std (Contoso) are accepted.", "Accepted on")
	var terms struct{ Accepted bool }
	s.json(alice, &terms, "vm", "image", "terms", "show", "--urn", "Contoso:Linux:base:1.0.0")
	if !terms.Accepted {
		t.Fatal("the console accepted the terms but the API says they are not")
	}

	// My images: an image's versions and references.
	text = b.open("/console/images")
	mustContain(t, "my images", text, "web", "secret")
	b.shot("images")
	// Tables filter as you type and sort by a click on a header.
	rows := `Array.from(document.querySelectorAll('#images tbody tr')).filter(r => !r.hidden).map(r => r.cells[0].textContent.trim()).join(" ")`
	b.do(chromedp.SendKeys(chromedp.CSS(`input[data-filter="images"]`), "sec"))
	if got := run(b, chromedp.Evaluate[string](rows)); got != "secret" {
		t.Fatalf("filtered by sec: %q", got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const i = document.querySelector('input[data-filter="images"]'); i.value = ""; i.dispatchEvent(new Event("input")) })()`),
		chromedp.Click(chromedp.CSS(`#images th:first-child button`)), chromedp.Click(chromedp.CSS(`#images th:first-child button`)))
	if got := run(b, chromedp.Evaluate[string](rows)); got != "web secret" {
		t.Fatalf("sorted by name, descending: %q", got)
	}
	// The keyboard alone: Tab reaches the skip link, then the brand, then the first
	// menu entry, each with a visible focus ring; Enter follows it.
	b.open("/console/images")
	focused := `(() => { const e = document.activeElement; return e.textContent.trim() + "|" + getComputedStyle(e).outlineStyle })()`
	for _, want := range []string{"Skip to content|solid", "Hangar|solid", "Marketplace|solid"} {
		b.do(chromedp.KeyEvent("\t"))
		if got := run(b, chromedp.Evaluate[string](focused)); got != want {
			t.Fatalf("after Tab the focus is %q, want %q", got, want)
		}
	}
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent("\r"))); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the page Enter led to", b.mainText(), "Latest images")
	b.open("/console/images")
	b.click("web")
	text = b.mainText()
	b.shot("image")
	mustContain(t, "the image page", text, "1.0.0", "1.1.0", "2031-01-01", "bob",
		"web@1.0.0", "web@1.1.0", "community/acme/web", "local: Completed", "web "+xss, `javascript:alert("eula")`)
	if v := run(b, chromedp.Evaluate[string](`document.querySelector('#versions .latest').closest('tr').cells[0].textContent`)); v != "1.0.0" {
		t.Fatalf("the version marked latest is %q, want 1.0.0 (1.1.0 is excluded from latest)", v)
	}
	if run(b, chromedp.Evaluate[int](`document.querySelectorAll('main a[href^="javascript"]').length`)) != 0 {
		t.Fatal("a javascript: EULA became a link")
	}

	// Community: publisher, contact and EULA as text.
	text = b.open("/console/community")
	b.shot("community")
	mustContain(t, "the community page", text, "community/acme/web", "acme", hostileURI, hostileEmail, "eula "+xss)

	// Disks: show, download (the same bytes as the CLI's), delete with confirmation.
	text = b.open("/console/disks")
	mustContain(t, "the disks page", text, "aos", "spare", "8.0 MiB")
	b.click("aos")
	mustContain(t, "a disk page", b.mainText(), "vhd", "qcow2", "raw", "web")
	b.shot("disk")
	b.click("web@1.0.0")
	mustContain(t, "the image a disk's user link leads to", b.mainText(), "References", "community/acme/web")
	resp, body := consoleGet(t, s.url(), "/console/disks/aos/download?format=raw", session)
	cli := filepath.Join(t.TempDir(), "aos.raw")
	s.ok(alice, "disk", "download", "aos", "--format", "raw", "--file", cli)
	want, _ := os.ReadFile(cli)
	if resp.StatusCode != 200 || body != string(want) {
		t.Fatalf("the console's raw download: %s, %d bytes, want %d", resp.Status, len(body), len(want))
	}
	b.open("/console/disks/spare")
	b.click("Delete spare…")
	b.click("Delete spare")
	mustContain(t, "the disks page after a delete", b.mainText(), "Disk spare deleted.")
	if out := s.ok(alice, "disk", "list"); strings.Contains(out, "spare") {
		t.Fatalf("the console deleted spare but the API still lists it:\n%s", out)
	}

	// VMs: none yet, and the page says how to make one.
	mustContain(t, "the VMs page", b.open("/console/vms"), "No VMs yet", "hangar vm create")
	if strings.Contains(b.html(), "/console/admin/") {
		t.Fatal("a user sees admin links")
	}

	// No markup anywhere became an element, and nothing opened a dialog.
	for _, p := range []string{"/console/images/web", "/console/community", "/console/marketplace/Contoso/Linux/base", "/console/images/community/acme/web"} {
		b.open(p)
		if n := run(b, chromedp.Evaluate[int](`document.scripts.length + document.images.length`)); n != 1 {
			t.Fatalf("%s has %d script and img elements, want only console.js", p, n)
		}
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}

	// Signing out ends the session on the server: the old cookie no longer works.
	b.signOut()
	if resp, _ := consoleGet(t, s.url(), "/console/images", session); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/console/signin") {
		t.Fatalf("the signed-out cookie still works: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	u, _ := url.Parse(s.url())
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: "hangar_session", Value: session,
		Domain: u.Hostname(), Path: "/console"}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(s.url()+"/console/images"), chromedp.WaitVisible(chromedp.ID("key")))

	// Bob: alice's private image looks exactly like a name that does not exist; the
	// shared one is there.
	b.signIn(bob)
	mustContain(t, "bob's images", b.open("/console/images?all=1"), "shared/alice/web", "community/acme/web")
	b.open("/console/images/secret")
	private := b.html()
	b.open("/console/images/no-such-image")
	missing := b.html()
	if private != missing || !strings.Contains(private, "Not found") {
		t.Fatalf("another tenant's image and a missing one differ:\n%s\n---\n%s", private, missing)
	}
	bobSession := b.cookie()
	r1, p1 := consoleGet(t, s.url(), "/console/images/secret", bobSession)
	r2, p2 := consoleGet(t, s.url(), "/console/images/no-such-image", bobSession)
	if r1.StatusCode != 404 || r2.StatusCode != 404 || p1 != p2 {
		t.Fatalf("not found differs: %d %d", r1.StatusCode, r2.StatusCode)
	}
	for _, p := range []string{"/console/disks/aos", "/console/disks/aos/download?format=raw", "/console/vms/nope"} {
		if r, body := consoleGet(t, s.url(), p, bobSession); r.StatusCode != 404 || body != p1 {
			t.Fatalf("bob opening %s: %d", p, r.StatusCode)
		}
	}

	// The admin sees the admin pages.
	b.signOut()
	b.signIn(s.adminKey())
	b.click("Tenants")
	b.shot("tenants")
	mustContain(t, "the tenants page", b.mainText(), "alice", "bob", "contoso", "publisher")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
	if !regexp.MustCompile(`default-src 'self'`).MatchString(r1.Header.Get("Content-Security-Policy")) {
		t.Fatal("no CSP on the not-found page")
	}
}
