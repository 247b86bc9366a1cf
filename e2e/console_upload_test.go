package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestConsoleUploadFormats uploads qcow2 (compressed clusters), VHDX,
// stream-optimized VMDK and dynamic VHD files from the browser, which reads them
// with diskfmt built as WebAssembly: each disk reads back as qemu-img's raw
// conversion of its file, and the CLI, uploading the same file after it, finds
// every chunk already on the server (the same chunks: the same extents and
// chunking). The browser asks about missing chunks in batches and retries a
// dropped request by itself; a corrupt qcow2 and a differencing VHD are refused
// with diskfmt's message and make no disk.
func TestConsoleUploadFormats(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	b := newBrowser(t, s.url())
	b.signIn(alice)

	needQemuImg(t)
	dir := t.TempDir()
	// Each file has its own content: none finds the others' chunks on the server.
	files := []struct {
		file, format string
		convert      []string
	}{
		{"src.qcow2", "qcow2", []string{"-c", "-O", "qcow2"}},
		{"src.vhdx", "vhdx", []string{"-O", "vhdx"}},
		{"src.vmdk", "vmdk", []string{"-O", "vmdk", "-o", "subformat=streamOptimized"}},
		{"src.vhd", "vhd-dynamic", []string{"-O", "vpc", "-o", "subformat=dynamic"}},
	}
	for i, f := range files {
		raw := filepath.Join(dir, f.file+".src")
		writeRandomDisk(t, raw, 24<<20, uint64(i))
		qemuImg(t, append(append([]string{"convert"}, f.convert...), raw, filepath.Join(dir, f.file))...)
	}

	b.open("/console/upload")
	mustContain(t, "the upload page", b.mainText(), "raw, VHD, VHDX, qcow2 or VMDK")
	if eval[bool](b, `document.getElementById("upload-formats") !== null`) {
		t.Fatal("the upload page says this build lacks diskfmt.wasm, which the e2e harness built")
	}
	status := `document.getElementById("upload-status").dataset`
	for i, f := range files {
		name := "web" + strconv.Itoa(i)
		file := filepath.Join(dir, f.file)
		// The first question about missing chunks is held a second: the chunks read
		// meanwhile are asked about together, in one more question.
		var stop func()
		if i == 0 {
			stop = b.delayFirst("*/console/api/uploads/*/missing", time.Second)
		}
		if st := b.upload(file, name); st != "done" {
			t.Fatalf("the %s upload: %s\n%s", f.format, st, b.mainText())
		}
		if stop != nil {
			stop()
			calls, _ := strconv.Atoi(eval[string](b, status+".missingCalls"))
			asked, _ := strconv.Atoi(eval[string](b, status+".missingAsked"))
			t.Logf("the browser asked about %d chunks in %d questions", asked, calls)
			if asked < 5 || calls > 2 {
				t.Fatalf("the browser asked about %d chunks in %d questions; want them batched (at most 2 questions)", asked, calls)
			}
		}
		if got := eval[string](b, status+".format"); got != f.format {
			t.Fatalf("%s: read as %q, want %q", f.file, got, f.format)
		}
		if sent, _ := strconv.Atoi(eval[string](b, status+".sent")); sent == 0 {
			t.Fatalf("%s: the browser sent nothing", f.file)
		}
		mustContain(t, "the finished upload", b.mainText(), "Disk "+name+" is ready")

		// The disk is the file's content, as qemu-img reads it.
		want := filepath.Join(dir, f.file+".raw")
		qemuImg(t, "convert", "-O", "raw", file, want)
		got := filepath.Join(dir, name+".raw")
		s.ok(alice, "disk", "download", name, "--format", "raw", "--file", got)
		if w, g := fileSHA256(t, want), fileSHA256(t, got); w != g {
			t.Fatalf("%s uploaded from the browser reads back as %s, qemu-img reads %s", f.file, g, w)
		}
		// The CLI reads the same chunks: all of them are on the server already.
		var cli struct {
			StoredBytes int64 `json:"storedBytes"`
			VirtualSize int64 `json:"virtualSize"`
			Upload      struct {
				DataBytes int64 `json:"dataBytes"`
				SentBytes int64 `json:"sentBytes"`
			} `json:"upload"`
		}
		s.json(alice, &cli, "disk", "upload", file, "--name", "cli"+strconv.Itoa(i))
		var web struct {
			StoredBytes  int64  `json:"storedBytes"`
			VirtualSize  int64  `json:"virtualSize"`
			SourceFormat string `json:"sourceFormat"`
		}
		s.json(alice, &web, "disk", "show", name)
		if cli.Upload.SentBytes != 0 || cli.Upload.DataBytes == 0 || web.StoredBytes != cli.StoredBytes ||
			web.VirtualSize != cli.VirtualSize || web.SourceFormat != f.format {
			t.Fatalf("%s: the CLI's upload after the browser's sent %d of %d bytes of data (want 0), stored %d bytes "+
				"of %d virtual, the browser's %d of %d (%s)", f.file, cli.Upload.SentBytes, cli.Upload.DataBytes,
				cli.StoredBytes, cli.VirtualSize, web.StoredBytes, web.VirtualSize, web.SourceFormat)
		}
	}

	// A dropped connection: the first question about missing chunks fails once with
	// a reset connection (DevTools' Fetch interception; a chunk's PUT cannot be
	// intercepted: Chromium holds requests with multi-megabyte bodies forever); the
	// page asks again by itself and the upload ends with the disk whole.
	again := filepath.Join(dir, "again.qcow2")
	writeRandomDisk(t, again+".src", 12<<20, 99)
	qemuImg(t, "convert", "-c", "-O", "qcow2", again+".src", again)
	failed, stop := b.failFirst("*/console/api/uploads/*/missing")
	st := b.upload(again, "again")
	stop()
	if st != "done" || failed() != 1 || eval[string](b, status+".retries") != "1" {
		t.Fatalf("an upload with one request dropped: %s, %d dropped, %q retries\n%s", st, failed(), eval[string](b, status+".retries"), b.mainText())
	}
	qemuImg(t, "convert", "-O", "raw", again, again+".raw")
	s.ok(alice, "disk", "download", "again", "--format", "raw", "--file", again+".back")
	sameFile(t, again+".raw", again+".back")

	// A qcow2 whose L1 table lies past the end of the file: diskfmt's refusal, on
	// the page, and no disk.
	bad := filepath.Join(dir, "bad.qcow2")
	data, err := os.ReadFile(filepath.Join(dir, "src.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	copy(data[40:48], []byte{0, 0, 0, 0, 0x40, 0, 0, 0}) // l1_table_offset: 1 GiB
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if st := b.upload(bad, "bad"); st != "error" {
		t.Fatalf("a corrupt qcow2 was uploaded: %s", st)
	}
	mustContain(t, "the corrupt qcow2's refusal", b.mainText(), "this file cannot be read: qcow2 l1 table offset at offset 40:",
		"runs past the end of the file")
	if msg := s.fails(alice, "disk", "show", "bad"); !strings.Contains(msg, "not found") {
		t.Fatalf("a refused upload made a disk? disk show bad: %s", msg)
	}

	// A differencing VHD is refused, as the CLI refuses it.
	diff, err := filepath.Abs("../internal/diskfmt/testdata/vhd-differencing.vhd")
	if err != nil {
		t.Fatal(err)
	}
	if st := b.upload(diff, "diff"); st != "error" {
		t.Fatalf("a differencing VHD was uploaded: %s", st)
	}
	mustContain(t, "the differencing VHD's refusal", b.mainText(), "this file cannot be read: vhd: this is a differencing disk")
	b.check("upload-formats")
}

// delayFirst holds the first request to a URL matching pattern for d (then lets it
// go) and lets the others through at once, until stop.
func (b *browser) delayFirst(pattern string, d time.Duration) (stop func()) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	events := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: pattern, RequestStage: fetch.RequestStageRequest}}}); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		first := true
		for ev, err := range events {
			if err != nil {
				return
			}
			if first {
				first = false
				go func() {
					time.Sleep(d)
					chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				}()
				continue
			}
			chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	return func() {
		cancel()
		if _, err := chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
			b.t.Fatal(err)
		}
	}
}

// failFirst fails the first request to a URL matching pattern as a reset
// connection and lets the others through, until stop; failed says how many it
// failed.
func (b *browser) failFirst(pattern string) (failed func() int32, stop func()) {
	b.t.Helper()
	var n atomic.Int32
	ctx, cancel := context.WithCancel(b.ctx)
	events := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: pattern, RequestStage: fetch.RequestStageRequest}}}); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if n.CompareAndSwap(0, 1) {
				chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
				continue
			}
			chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	return n.Load, func() {
		cancel()
		if _, err := chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
			b.t.Fatal(err)
		}
	}
}

// writeRandomDisk writes a sparse raw disk of size bytes: random data (which no
// compression shrinks) and runs of a repeated byte (which compress), in six
// separate 4 MiB chunks, with holes between and around them.
func writeRandomDisk(t *testing.T, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 34))
	for i, region := range [][2]int64{{0, 4096}, {5 << 20, 1 << 20}, {8<<20 + 512, 300 << 10}, {13 << 20, 2 << 20}, {17 << 20, 64 << 10}, {size - 1<<20, 1 << 20}} {
		buf := make([]byte, region[1])
		for j := range buf {
			if j < len(buf)/2 {
				buf[j] = byte(r.Uint32())
			} else {
				buf[j] = byte(i + 1)
			}
		}
		if _, err := f.WriteAt(buf, region[0]); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
