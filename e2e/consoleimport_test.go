package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleImportProgress imports a disk from a URL in the browser (no VM):
// the import page's script posts through the console's proxy and shows the
// API's progress as it comes (the file server sends half the file slowly, then
// holds the rest while the test looks: bytes, rate and time left), then the
// bar full, "Done" and the disk in the list, the same bytes as the file. An
// address the server may not reach shows the API's SSRF refusal on the page.
func TestConsoleImportProgress(t *testing.T) {
	const size, piece = 4 << 20, 256 << 10
	data := bytes.Repeat([]byte("console import, "), size/16)
	release := make(chan struct{})
	web := fileServer(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		rc := http.NewResponseController(w)
		for off := 0; off < size; off += piece {
			if off == size/2 {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			} else if off < size/2 {
				time.Sleep(100 * time.Millisecond)
			}
			w.Write(data[off : off+piece])
			rc.Flush()
		}
	}))
	refused := fileServer(t, "127.0.0.2:0", http.NotFoundHandler())
	s := startServer(t, "--import-allow-cidr", "127.0.0.1/32")
	alice := s.tenant("alice")
	b := newBrowser(t, s.url())
	b.signIn(alice)

	start := func(name, url string) {
		t.Helper()
		b.open("/console/new/disk")
		b.do(chromedp.SetValue(chromedp.ID("name"), name), chromedp.SetValue(chromedp.ID("url"), url),
			chromedp.Click(chromedp.ID("import-start")))
	}
	// Refused by the SSRF policy: the API's message on the page, and no disk.
	start("nope", refused+"/d.raw")
	b.waitJS("the refusal", `!document.getElementById("import-failed").hidden`, 30*time.Second)
	mustContain(t, "the refused import", b.mainText(), "127.0.0.2 is a loopback address", "--import-allow-cidr", "The import failed")
	if s.hasDisk(alice, "nope") {
		t.Fatal("a refused import made a disk")
	}

	start("imp", web+"/disk.raw")
	b.waitJS("progress with a rate and the time left", `(() => {
		const bar = document.getElementById("import-progress"), text = document.getElementById("import-status").textContent;
		return bar.value > 0 && bar.value < bar.max && /^Fetching the file .*: [\d.]+ [KM]iB of 4\.0 MiB \(\d+%\) · [\d.]+ [KM]iB\/s · .+ left$/.test(text);
	})()`, 30*time.Second)
	b.check("disk-import-progress")
	close(release)
	b.waitJS("the import done", `(() => {
		const bar = document.getElementById("import-progress");
		return bar.value === bar.max && document.getElementById("import-status").textContent.startsWith("Done: disk imp imported, 4.0 MiB (raw)");
	})()`, 60*time.Second)
	b.click("Open disk imp")
	mustContain(t, "the imported disk's page", b.mainText(), "4.0 MiB")
	mustContain(t, "the disk list", b.open("/console/disks"), "imp")
	back := filepath.Join(t.TempDir(), "imp.raw")
	s.ok(alice, "disk", "download", "imp", "--format", "raw", "--file", back)
	if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the imported disk differs from the file (%d bytes, %v)", len(got), err)
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}
