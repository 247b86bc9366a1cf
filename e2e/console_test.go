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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
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
// HANGAR_CONSOLE_SHOTS names a directory (docs/console holds some, made so).
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
		png, err := smallPNG(run(b, chromedp.FullScreenshot(100)))
		if err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+scheme+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// axeSource is axe-core (e2e/testdata/axe), read once.
var axeSource = sync.OnceValues(func() (string, error) {
	data, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	return string(data), err
})

// axe runs axe-core on the page shown, through the DevTools protocol (the console
// never serves it), and fails the test on any serious or critical violation.
func (b *browser) axe(where string) {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	if !run(b, chromedp.Evaluate[bool](`typeof window.axe === "object"`)) {
		b.do(chromedp.Evaluate[chromedp.Void](src))
	}
	// axe-core must see a violation: show it one on purpose (an image with no
	// text alternative, removed at once).
	probe := run(b, chromedp.Evaluate[string](`(async () => {
		const img = document.createElement("img");
		img.src = "data:,";
		document.body.appendChild(img);
		try {
			const r = await axe.run(img, {runOnly: ["image-alt"]});
			return r.violations.map(v => v.impact + " " + v.id).join();
		} finally { img.remove(); }
	})()`, chromedp.EvalAwaitPromise))
	if probe != "critical image-alt" {
		b.t.Fatalf("axe-core does not see an image with no alt (%q): its checks would prove nothing", probe)
	}
	report := run(b, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
			v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.slice(0, 4).map(n => n.target.join(" ")).join(", "))))`,
		chromedp.EvalAwaitPromise))
	if report != "[]" {
		b.t.Errorf("axe-core on %s: %s", where, report)
	}
}

// check runs axe-core and saves screenshots of the page shown.
func (b *browser) check(name string) {
	b.t.Helper()
	b.axe(name)
	b.shot(name)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return run(b, chromedp.Evaluate[T](expr))
}

// waitJS waits until the JavaScript expression is true, up to limit.
func (b *browser) waitJS(what, expr string, limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for !eval[bool](b, expr) {
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %s; the page shows:\n%s", limit, what, b.mainText())
		}
		time.Sleep(250 * time.Millisecond)
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
	b.check("signin")
	b.signIn(alice)
	session := b.cookie()

	// The marketplace, publisher → offer → SKU; accept the plan's terms in place.
	text := b.open("/console/marketplace")
	b.check("marketplace")
	mustContain(t, "the marketplace", text, "Contoso", "Contoso:Linux:base:1.0.0", "terms to accept")
	b.click("Contoso")
	b.click("Linux")
	b.click("base")
	text = b.mainText()
	mustContain(t, "the SKU page", text, "Latest: 1.0.0", "Contoso:Linux:base:latest", "2.0.0", "excluded from latest",
		"Plan std", "https://contoso.example/eula", "contoso "+xss)
	b.check("marketplace-sku")
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
	b.check("images")
	// The image list filters its page's rows as you type, the whole list on the
	// server on Enter, and sorts on the server by a click on a header (it is paged).
	rows := `Array.from(document.querySelectorAll('#images tbody tr')).filter(r => !r.hidden).map(r => r.cells[0].textContent.trim()).join(" ")`
	b.do(chromedp.SendKeys(chromedp.CSS(`input[data-filter="images"]`), "sec"))
	if got := run(b, chromedp.Evaluate[string](rows)); got != "secret" {
		t.Fatalf("filtered by sec: %q", got)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.SendKeys(chromedp.CSS(`input[data-filter="images"]`), "\r"))); err != nil {
		t.Fatal(err)
	}
	if got := run(b, chromedp.Evaluate[string](`document.querySelectorAll('#images tbody tr').length + " " + location.search`)); got != "1 ?q=sec" {
		t.Fatalf("filtered by sec on the server: %q", got)
	}
	b.open("/console/images")
	b.click("Name")
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
	b.check("image")
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
	b.check("community")
	mustContain(t, "the community page", text, "community/acme/web", "acme", hostileURI, hostileEmail, "eula "+xss)

	// Disks: show, download (the same bytes as the CLI's), delete with confirmation.
	text = b.open("/console/disks")
	mustContain(t, "the disks page", text, "aos", "spare", "8.0 MiB")
	b.check("disks")
	b.click("aos")
	mustContain(t, "a disk page", b.mainText(), "vhd", "qcow2", "raw", "web")
	b.check("disk")
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

	// The browser uploads a fixed VHD (the data before its footer) through the page's
	// own reader (TestConsoleUploadFormats has the other formats).
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeDisk(t, src, 12<<20, 9, map[int64]int64{0: 4096, 6 << 20: 3 << 20})
	s.ok("", "disk", "convert", src, filepath.Join(dir, "src.vhd"), "--format", "vhd")
	if st := b.upload(filepath.Join(dir, "src.vhd"), "fromvhd"); st != "done" {
		t.Fatalf("the fixed VHD's upload: %s\n%s", st, b.mainText())
	}
	if f := eval[string](b, `document.getElementById("upload-status").dataset.format`); f != "vhd-fixed" {
		t.Fatalf("the fixed VHD was read as %q", f)
	}
	s.ok(alice, "disk", "download", "fromvhd", "--format", "raw", "--file", filepath.Join(dir, "back.raw"))
	sameFile(t, src, filepath.Join(dir, "back.raw"))

	// VMs: none yet, and the page says how to make one.
	mustContain(t, "the VMs page", b.open("/console/vms"), "No VMs yet", "hangar vm create")
	b.check("vms-empty")
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
	b.check("notfound")
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
	b.check("tenants")
	mustContain(t, "the tenants page", b.mainText(), "alice", "bob", "contoso", "publisher")
	// A tenant's quotas and keys; a new key, shown once, works.
	b.click("bob")
	mustContain(t, "bob's page", b.mainText(), "stored bytes", "API keys")
	b.do(chromedp.SendKeys(chromedp.ID("keyName"), "laptop"))
	b.click("Create key")
	key := eval[string](b, `document.querySelector(".newkey code").textContent`)
	b.check("tenant")
	if r := s.api(key, "GET", "/v1/whoami", nil); r.status != 200 || !strings.Contains(r.body, `"bob"`) {
		t.Fatalf("the key made in the console: %d %s", r.status, r.body)
	}
	b.click("Hosts")
	mustContain(t, "the hosts page", b.mainText(), "up")
	b.check("hosts")
	b.click("GC & scrub")
	b.click("Run GC")
	mustContain(t, "the GC report", b.mainText(), "dry run: nothing removed", "Chunks scanned")
	b.click("Run scrub")
	mustContain(t, "the scrub report", b.mainText(), "Chunks verified", "Corrupt")
	b.check("maintenance")
	// Both runs are in the history, each with its report.
	mustContain(t, "the history", b.mainText(), "Latest garbage collections", "Latest scrubs", "Run 1", "Run 2", "admin", "succeeded")
	b.click("Run 1")
	mustContain(t, "a GC run's report", b.mainText(), "Garbage collection 1 (dry run)", "by admin", "Chunks scanned", "Would remove")
	b.check("run")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
	if !regexp.MustCompile(`default-src 'self'`).MatchString(r1.Header.Get("Content-Security-Policy")) {
		t.Fatal("no CSP on the not-found page")
	}
}

// upload chooses file on the upload page, names the disk and uploads it; it returns
// the upload's state at its end: "done" or "error".
func (b *browser) upload(file, name string) string {
	b.t.Helper()
	b.open("/console/upload")
	b.do(chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
		chromedp.SendKeys(chromedp.ID("upload-name"), name), chromedp.Click(chromedp.ID("upload-start")))
	st := `document.getElementById("upload-status").dataset.state`
	b.waitJS("the upload of "+name+" to end", st+` === "done" || `+st+` === "error"`, time.Minute)
	return eval[string](b, st)
}

// holdUpload intercepts the upload script's questions about missing chunks: the
// first pass go through (and their chunks are sent), the others are held (never
// answered, so no more chunk is sent) until the page they came from goes away. It
// returns how many are held so far, and a stop that ends the interception.
// (The chunks' PUTs themselves cannot be held: Chromium does not pause requests
// with multi-megabyte bodies read from a file.)
func (b *browser) holdUpload(pass int) (held func() int32, stop func()) {
	b.t.Helper()
	var seen, holding atomic.Int32
	ctx, cancel := context.WithCancel(b.ctx)
	events := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/console/api/uploads/*/missing", RequestStage: fetch.RequestStageRequest}}}); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if seen.Add(1) <= int32(pass) {
				chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			holding.Add(1)
		}
	}()
	return holding.Load, func() {
		cancel()
		if _, err := chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
			b.t.Fatal(err)
		}
	}
}

// TestConsoleVM is the console's whole path of a VM, in the browser: upload the
// test guest from the file chooser (interrupted by a reload, then resumed), make it
// an OS image, create a VM from it with the wizard, watch the VM list reach
// Running and Succeeded without a reload, read the serial console, run a command,
// stop it, back it up, capture it, share the capture with bob, who sees it.
func TestConsoleVM(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	b := newBrowser(t, s.url())
	b.signIn(alice)

	// The upload: the first question about missing chunks goes through (it asks
	// about the first chunk alone; the next asks about every chunk hashed
	// meanwhile) and its chunk is sent, then the upload is held; the page is reloaded
	// mid-upload.
	b.open("/console/upload")
	b.check("upload")
	held, stopHolding := b.holdUpload(1)
	b.do(chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{img}),
		chromedp.SendKeys(chromedp.ID("upload-name"), "guest"), chromedp.Click(chromedp.ID("upload-start")))
	status := `document.getElementById("upload-status")`
	b.waitJS("a chunk sent and the next question held", status+`.dataset.sentChunks === "1"`, time.Minute)
	for deadline := time.Now().Add(30 * time.Second); held() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no more chunks were asked about")
		}
	}
	progress := b.mainText()
	mustContain(t, "the upload's progress", progress, "MiB of 64.0 MiB", "MiB/s", "left", "sent 4.0 MiB")
	if v := eval[float64](b, `document.getElementById("upload-progress").value`); v <= 0 {
		t.Fatalf("the progress bar shows %v", v)
	}
	b.shot("upload-progress")
	b.do(chromedp.Reload())
	stopHolding()
	mustContain(t, "the upload page after a reload", b.mainText(), "was interrupted: choose the same file to resume it")
	if name := eval[string](b, `document.getElementById("upload-name").value`); name != "guest" {
		t.Fatalf("the interrupted upload's name is %q", name)
	}
	b.do(chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{img}), chromedp.Click(chromedp.ID("upload-start")))
	b.waitJS("the upload to end", status+`.dataset.state === "done" || `+status+`.dataset.state === "error"`, 2*time.Minute)
	if st := eval[string](b, status+`.dataset.state`); st != "done" {
		t.Fatalf("the resumed upload: %s", b.mainText())
	}
	if r, p := eval[string](b, status+`.dataset.resumed`), eval[int](b, `Number(`+status+`.dataset.presentChunks)`); r != "true" || p < 1 {
		t.Fatalf("the upload did not resume: resumed %s, chunks already on the server %d", r, p)
	}
	mustContain(t, "the finished upload", b.mainText(), "Uploaded 64.0 MiB", "already on the server", "Disk guest is ready")
	downloaded := filepath.Join(t.TempDir(), "guest.raw")
	s.ok(alice, "disk", "download", "guest", "--format", "raw", "--file", downloaded)
	sameFile(t, img, downloaded)

	// An OS image of it.
	b.click("make an image of it")
	b.check("image-form")
	b.do(chromedp.SendKeys(chromedp.ID("name"), "guestimg"))
	b.click("Create")
	mustContain(t, "the new image", b.mainText(), "Image guestimg version 1.0.0 created.", "guestimg@1.0.0")

	// The wizard: the password's rules checked as one types; an SSH key chosen.
	b.click("Create a VM…")
	if ref := eval[string](b, `document.getElementById("image").value`); ref != "guestimg" {
		t.Fatalf("the wizard's image is %q", ref)
	}
	b.do(chromedp.Click(chromedp.CSS(`input[name="auth"][value="password"]`)), chromedp.SendKeys(chromedp.ID("adminPassword"), "abc"))
	rule := func(r string) string {
		return eval[string](b, `document.querySelector('[data-rule="`+r+`"]').className`)
	}
	if rule("length") != "unmet" || rule("classes") != "unmet" || rule("control") != "met" {
		t.Fatalf("rules for abc: length %q classes %q control %q", rule("length"), rule("classes"), rule("control"))
	}
	b.do(chromedp.SendKeys(chromedp.ID("adminPassword"), "-Def-1"))
	if rule("length") != "met" || rule("classes") != "met" {
		t.Fatalf("rules for abc-Def-1: length %q classes %q", rule("length"), rule("classes"))
	}
	b.check("vm-wizard")
	b.do(chromedp.Click(chromedp.CSS(`input[name="auth"][value="ssh"]`)),
		chromedp.SendKeys(chromedp.ID("name"), "vm1"), chromedp.SendKeys(chromedp.ID("adminUsername"), "ops"),
		chromedp.SendKeys(chromedp.ID("sshKey"), newSSHKey(t)))
	b.click("Create VM")
	mustContain(t, "the new VM's page", b.mainText(), "VM vm1 is being created from guestimg@1.0.0.")

	// The VM list follows the VM's states without a reload.
	b.open("/console/vms")
	cell := func(field string) string {
		return `document.querySelector('[data-vm="vm1"][data-field="` + field + `"]').textContent.trim()`
	}
	if st := eval[string](b, cell("provisioningState")); st != "Creating" {
		t.Fatalf("the VM is already %q: the list's refresh would not be seen", st)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	b.waitJS("vm1 running and provisioned", cell("powerState")+` === "running" && `+cell("provisioningState")+`.startsWith("Succeeded")`, 6*time.Minute)
	if !eval[bool](b, `window.sameDocument === true`) {
		t.Fatal("the VM list was reloaded")
	}
	b.check("vms")

	// Its serial console, then a command run in the guest.
	b.click("vm1")
	b.waitJS("the agent in the serial console", `document.getElementById("serial").textContent.includes("hangar-agent")`, time.Minute)
	b.check("vm")
	b.do(chromedp.Click(chromedp.CSS(`details.panel summary`)), chromedp.SendKeys(chromedp.ID("script"), `echo "console-$((6*7))"`))
	b.click("Run")
	if out := eval[string](b, `document.getElementById("stdout").textContent`); out != "console-42\n" {
		t.Fatalf("run-command's output: %q\n%s", out, b.mainText())
	}
	mustContain(t, "the run-command page", b.mainText(), "Exit code 0")
	b.check("run-command")

	// Stop, back up, capture.
	b.click("vm1")
	b.click("Stop")
	mustContain(t, "the stopped VM", b.mainText(), "VM vm1 stopped.")
	b.waitJS("vm1 stopped", `document.querySelector('[data-field="powerState"]').textContent.trim() === "stopped"`, time.Minute)
	if n := len(s.qemuProcesses()); n != 0 {
		t.Fatalf("%d QEMU processes after the console stopped the VM", n)
	}
	b.do(chromedp.Click(`//summary[.="Backup"]`))
	b.click("Back up")
	mustContain(t, "the backup", b.mainText(), "Backup vm1-backup-")
	// Generalizing waits for the VM's name, typed.
	b.click("Generalize…")
	if !eval[bool](b, `document.querySelector("[data-confirm-button]").disabled`) {
		t.Fatal("generalize can be pressed before the name is typed")
	}
	b.do(chromedp.SendKeys(chromedp.ID("confirm"), "vm1"))
	if eval[bool](b, `document.querySelector("[data-confirm-button]").disabled`) {
		t.Fatal("generalize cannot be pressed with the name typed")
	}
	b.check("generalize")
	// The server checks the typed name too: a form sent with another one (around
	// the disabled button) generalizes nothing.
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Evaluate[chromedp.Void](
		`document.getElementById("confirm").value = "vm"; document.getElementById("confirm").form.submit()`))); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "a generalize with the wrong name", b.mainText(), "Type the VM's name, vm1, to confirm.")
	var vm vmJSON
	s.json(alice, &vm, "vm", "show", "vm1")
	if vm.PowerState != "stopped" {
		t.Fatalf("after a refused generalize the VM is %s", vm.PowerState)
	}
	b.click("Cancel")
	b.do(chromedp.Click(`//summary[.="Capture"]`), chromedp.SendKeys(chromedp.ID("imageName"), "cap"))
	b.click("Capture")
	mustContain(t, "the captured image", b.mainText(), "VM vm1 captured as image cap.", "specialized", "cap@1.0.0")

	// Share it with bob, who then sees it.
	b.do(chromedp.SendKeys(chromedp.ID("share-tenant"), "bob"))
	b.click("Share")
	mustContain(t, "the shared image", b.mainText(), "Image cap is shared with bob.", "Stop sharing with bob")
	b.check("image-owner")
	b.signOut()
	b.signIn(bob)
	mustContain(t, "bob's images", b.open("/console/images?all=1"), "shared/alice/cap")
	b.click("cap")
	mustContain(t, "the image shared with bob", b.mainText(), "shared/alice/cap", "Create a VM…")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}
