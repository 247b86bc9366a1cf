package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsolePages drives the console's later pages in a browser (no VM): tags
// and a version's properties set through their forms and read back from the API,
// markup in a tag shown as text, a webhook's secret shown once, the syndication
// page; axe-core on each page.
func TestConsolePages(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "d", 3)
	osImage(s, alice, "web", "d", "--version", "1.0.0")

	b := newBrowser(t, s.url())
	b.signIn(alice)

	// A disk's tags, one with markup in its value.
	b.open("/console/disks/d")
	b.do(chromedp.Click(`//summary[.="Edit tags"]`), chromedp.SendKeys(chromedp.ID("disk-tags"), "env=prod\nnote="+xss))
	b.click("Save tags")
	mustContain(t, "the disk page after tagging", b.mainText(), "Disk d: tags saved.", "env = prod", "note = "+xss)
	b.check("disk-tags")
	var disk struct{ Tags map[string]string }
	if err := json.Unmarshal([]byte(s.ok(alice, "disk", "show", "d", "-o", "json")), &disk); err != nil || disk.Tags["env"] != "prod" || disk.Tags["note"] != xss {
		t.Fatalf("the disk's tags through the API: %+v %v", disk, err)
	}

	// A version's properties, in its panel on the image page.
	b.open("/console/images/web")
	b.do(chromedp.Click(`//summary[starts-with(normalize-space(.), "Version 1.0.0")]`),
		chromedp.Click(`//details[@id="version-1.0.0"]//summary[.="Edit properties"]`),
		chromedp.SendKeys(chromedp.CSS(`textarea[id="v1.0.0-props"]`), "os_distro=ubuntu"))
	b.click("Save properties")
	mustContain(t, "the image page after setting properties", b.mainText(), "Version 1.0.0 of web: properties saved.")
	b.do(chromedp.Click(`//summary[starts-with(normalize-space(.), "Version 1.0.0")]`))
	b.check("image-properties")
	if out := s.ok(alice, "image", "show", "web", "-o", "json"); !strings.Contains(out, `"os_distro": "ubuntu"`) && !strings.Contains(out, `"os_distro":"ubuntu"`) {
		t.Fatalf("the version's properties through the API:\n%s", out)
	}

	// The other new pages, checked as they are shown.
	b.open("/console/new/disk")
	b.check("disk-import")
	b.open("/console/disks/d/generalize")
	b.check("disk-generalize")
	b.open("/console/new/image?name=web")
	b.check("image-form-definition")

	// Events, and a webhook whose secret is shown once.
	mustContain(t, "the events page", b.open("/console/events"), "Hangar.Disk.Created", "No webhooks.")
	b.do(chromedp.SendKeys(chromedp.ID("hook-url"), "https://hooks.example/in"))
	b.click("Add the webhook")
	text := b.mainText()
	secret := regexp.MustCompile(`whsec_\S+`).FindString(text)
	if secret == "" {
		t.Fatalf("no secret on the new webhook's page:\n%s", text)
	}
	b.check("events")
	if strings.Contains(b.open("/console/events"), secret) {
		t.Fatal("the webhook's secret is shown again")
	}

	// The admin's syndication page: the installation's signing key.
	b.signOut()
	b.signIn(s.adminKey())
	b.click("Syndication")
	mustContain(t, "the syndication page", b.mainText(), "Fingerprint", "No upstreams.")
	b.check("syndication")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}

// TestConsoleSessionSurvivesRestart signs in in a browser, restarts hangar serve
// on the same data dir, and loads a page: still signed in, as the same tenant,
// since sessions live in the database; then signs out, restarts again, and the
// old cookie signs no one in.
func TestConsoleSessionSurvivesRestart(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	b := newBrowser(t, s.url())
	b.signIn(alice)
	cookie := b.cookie()
	signedIn := func() bool {
		return eval[bool](b, `document.querySelector('form[action="/console/signout"]') !== null`)
	}

	s.stop()
	s.start()
	b.base = s.url() // a new port; the cookie is the host's, whatever the port
	mustContain(t, "the disks page after a restart", b.open("/console/disks"), "Disks")
	if !signedIn() || !strings.Contains(b.html(), "alice") {
		t.Fatalf("a restart signed the browser out:\n%s", b.mainText())
	}
	if b.cookie() != cookie {
		t.Fatal("the session cookie changed across the restart")
	}

	b.signOut()
	s.stop()
	s.start()
	if resp, _ := consoleGet(t, s.url(), "/console/disks", cookie); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/console/signin") {
		t.Fatalf("the signed-out cookie after a restart: %s %s", resp.Status, resp.Header.Get("Location"))
	}
}
