package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hangarvm/hangar/internal/api/apitest"
)

// wasmBuildFS is a build with the browser's diskfmt (its content does not matter
// here: the browser runs it in e2e/console_upload_test.go).
func wasmBuildFS() fstest.MapFS {
	return fstest.MapFS{
		"README.md":    {Data: []byte("placeholder")},
		"diskfmt.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00")},
		"wasm_exec.js": {Data: []byte("// Go's loader")},
	}
}

func TestLoadWasm(t *testing.T) {
	if loadWasm(wasmBuildFS()) == nil {
		t.Error("a build with both files is not seen")
	}
	for name, fsys := range map[string]fstest.MapFS{
		"clean checkout": {"README.md": {Data: []byte("placeholder")}},
		"no loader":      {"diskfmt.wasm": {Data: []byte("\x00asm")}},
		"empty wasm":     {"diskfmt.wasm": {}, "wasm_exec.js": {Data: []byte("//")}},
		"a directory":    {"diskfmt.wasm/x": {Data: []byte("x")}, "wasm_exec.js": {Data: []byte("//")}},
	} {
		if loadWasm(fsys) != nil {
			t.Errorf("%s: taken for a build with the browser's diskfmt", name)
		}
	}
}

// With diskfmt.wasm, the upload page reads every format and serves the two build
// outputs (and nothing else of their directory); without, it says what this build
// reads and how to get the rest, and serves neither.
func TestUploadPageFormats(t *testing.T) {
	with := newStackOf(t, false, apitest.Options{}, Options{Wasm: wasmBuildFS()})
	b := with.browser(t)
	b.signIn("alice")
	page := b.get("/console/upload")
	for _, want := range []string{`data-wasm="/console/static/disk-worker.js"`, `data-wasm-module="/console/wasm/diskfmt.wasm"`, "raw, VHD, VHDX, qcow2 or VMDK",
		`data-max-missing="4096"`, `data-chunk-size="4194304"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the upload page lacks %s", want)
		}
	}
	if strings.Contains(page.body, `id="upload-formats"`) {
		t.Error("a build with diskfmt.wasm says it lacks it")
	}
	anon := with.browser(t)
	for path, ctype := range map[string]string{"/console/wasm/diskfmt.wasm": "application/wasm",
		"/console/wasm/wasm_exec.js": "text/javascript; charset=utf-8", "/console/static/disk-worker.js": "text/javascript; charset=utf-8",
		"/console/static/hash-lib.js": "text/javascript; charset=utf-8"} {
		a := anon.get(path)
		if a.status != http.StatusOK || a.header.Get("Content-Type") != ctype || a.header.Get("Content-Security-Policy") != csp {
			t.Errorf("GET %s: %d, %s, CSP %q", path, a.status, a.header.Get("Content-Type"), a.header.Get("Content-Security-Policy"))
		}
	}
	// Revalidation costs no download while the build is the same.
	etag := anon.get("/console/wasm/diskfmt.wasm").header.Get("ETag")
	if a := anon.send("GET", "/console/wasm/diskfmt.wasm", nil, map[string]string{"If-None-Match": etag}); etag == "" || a.status != http.StatusNotModified {
		t.Errorf("diskfmt.wasm with If-None-Match its ETag %s: %d, want 304", etag, a.status)
	}
	// Gzipped for a browser that takes it, as it is for one that does not.
	for _, enc := range []string{"gzip, deflate, br", "identity"} {
		a := anon.send("GET", "/console/wasm/diskfmt.wasm", nil, map[string]string{"Accept-Encoding": enc})
		body := []byte(a.body)
		if enc != "identity" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil || a.header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("diskfmt.wasm asked for gzip: Content-Encoding %q, %v", a.header.Get("Content-Encoding"), err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, wasmBuildFS()["diskfmt.wasm"].Data) || a.header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("diskfmt.wasm with Accept-Encoding %q: other bytes, or Vary %q", enc, a.header.Get("Vary"))
		}
	}
	if a := b.get("/console/wasm/README.md"); a.status != http.StatusNotFound {
		t.Errorf("GET /console/wasm/README.md: %d, want 404", a.status)
	}

	without := newStackOf(t, false, apitest.Options{}, Options{Wasm: fstest.MapFS{"README.md": {Data: []byte("placeholder")}}})
	b = without.browser(t)
	b.signIn("alice")
	page = b.get("/console/upload")
	for _, want := range []string{`id="upload-formats"`, "uploads only raw and fixed VHD files", "make build",
		"Disk file (raw or fixed VHD)", "qemu-img convert -O raw"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the upload page of a build without diskfmt.wasm lacks %q", want)
		}
	}
	if strings.Contains(page.body, "data-wasm") {
		t.Error("a build without diskfmt.wasm offers it to the upload script")
	}
	if a := b.get("/console/wasm/diskfmt.wasm"); a.status != http.StatusNotFound {
		t.Errorf("a build without diskfmt.wasm serves it: %d", a.status)
	}
}
