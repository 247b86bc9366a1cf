package main

// -floor: where the browser upload's time goes. One server whose API discards
// chunk bodies (and fakes the commit), the real one for the page's own upload;
// the browser PUTs a file's 4 MiB slices with fetch() (no hashing), hashes them in
// hash-worker.js (no sending), or runs the page, at several parallelisms. Each
// line says the CPU seconds each process spent (the Go server, Chromium's
// renderer, network service, GPU process, others).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/console"
	"github.com/hangarvm/hangar/internal/hangar"
)

// discardAPI discards chunk bodies and fakes commits (withdrawing the upload);
// the rest is the API's.
type discardAPI struct{ next http.Handler }

func (d discardAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPut && strings.Contains(p, "/chunks/"):
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/commit"):
		// The upload is withdrawn (the tenant may hold only so many).
		del, _ := http.NewRequestWithContext(r.Context(), http.MethodDelete, strings.TrimSuffix(p, "/commit"), nil)
		del.Header.Set("Authorization", r.Header.Get("Authorization"))
		d.next.ServeHTTP(httptest.NewRecorder(), del)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"name":"discarded"}`))
	default:
		d.next.ServeHTTP(w, r)
	}
}

// floorExps are -floor's experiments, each kind:par[:direct]: kind put (the
// file's slices, no hashing), put-ab (ArrayBuffer bodies), hash (par workers,
// nothing sent) or both-W (W hashing workers, par chunks in flight); through the
// console's proxy, or with :direct to /v1 with the key; hstream:N / bstream:N
// read the file once as a stream, and hash (N digests at once) / hash and send (N
// chunks in flight).
var floorExps string

// floorAltJS, if set, is another upload.js: each round then runs the page with
// this build's and with that one, alternately.
var floorAltJS string

const floorJS = `(async (kind, par, url, auth) => {
  const form = document.getElementById("upload");
  const file = document.getElementById("upload-file").files[0];
  const cs = Number(form.dataset.chunkSize);
  const offs = [];
  for (let o = 0; o < file.size; o += cs) offs.push(o);
  const headers = { "X-Hangar-CSRF": form.dataset.csrf };
  if (auth) headers["Authorization"] = "Bearer " + auth;
  let next = 0;
  const t0 = performance.now();
  if (kind.startsWith("both")) {
    // both-W: W hash workers (hash-worker.js, the page's), par chunks in flight,
    // each sent as the file's slice once hashed: the page's reading and sending,
    // without its questions about missing chunks.
    const ws = Array.from({ length: Number(kind.split("-")[1]) }, () => new Worker("/console/static/hash-worker.js"));
    const waiting = new Map();
    let seq = 0, rr = 0;
    ws.forEach(w => w.onmessage = e => { const p = waiting.get(e.data.id); waiting.delete(e.data.id); p(e.data); });
    const ask = msg => new Promise(ok => { const id = ++seq; waiting.set(id, ok); ws[rr++ % ws.length].postMessage({ id, ...msg }); });
    await Promise.all(Array.from({ length: par }, async () => {
      while (next < offs.length) {
        const o = offs[next++], n = Math.min(cs, file.size - o);
        const h = await ask({ file, offset: o, length: n });
        if (h.error) throw new Error(h.error);
        const r = await fetch(url + "/chunks/" + h.digest, { method: "PUT", headers, body: file.slice(o, o + n), credentials: "same-origin", cache: "no-store" });
        await r.text();
      }
    }));
    const ms = performance.now() - t0;
    ws.forEach(w => w.terminate());
    return ms;
  }
  if (kind === "bstream") {
    // The file read once as a stream and hashed as chunks fill (as hstream), each
    // chunk then sent as the file's slice, par at most in flight.
    const rd = file.stream().getReader();
    let buf = new Uint8Array(Math.min(cs, file.size)), fill = 0, off = 0;
    const inflight = new Set();
    const go = (o, b) => {
      const p = crypto.subtle.digest("SHA-256", b).then(d => {
        const hx = Array.from(new Uint8Array(d), x => x.toString(16).padStart(2, "0")).join("");
        return fetch(url + "/chunks/" + hx, { method: "PUT", headers, body: file.slice(o, o + b.length), credentials: "same-origin", cache: "no-store" });
      }).then(r => r.text()).finally(() => inflight.delete(p));
      inflight.add(p);
    };
    for (;;) {
      const { done, value } = await rd.read();
      if (done) break;
      let v = value;
      while (v.length) {
        const n = Math.min(v.length, buf.length - fill);
        buf.set(v.subarray(0, n), fill);
        fill += n; v = v.subarray(n);
        if (fill === buf.length) {
          while (inflight.size >= par) await Promise.race(inflight);
          go(off, buf);
          off += buf.length;
          buf = new Uint8Array(Math.min(cs, file.size - off)); fill = 0;
        }
      }
    }
    await Promise.all(inflight);
    return performance.now() - t0;
  }
  if (kind === "hstream") {
    // The file read once, as a stream, cut into chunks hashed as they fill.
    const rd = file.stream().getReader();
    let buf = new Uint8Array(Math.min(cs, file.size)), fill = 0, pending = [];
    for (;;) {
      const { done, value } = await rd.read();
      if (done) break;
      let v = value;
      while (v.length) {
        const n = Math.min(v.length, buf.length - fill);
        buf.set(v.subarray(0, n), fill);
        fill += n; v = v.subarray(n);
        if (fill === buf.length) {
          pending.push(crypto.subtle.digest("SHA-256", buf));
          if (pending.length >= par) await pending.shift();
          buf = new Uint8Array(cs); fill = 0;
        }
      }
    }
    await Promise.all(pending);
    return performance.now() - t0;
  }
  if (kind === "hash") {
    const ws = Array.from({ length: par }, () => new Worker("/console/static/hash-worker.js"));
    await Promise.all(ws.map(async w => {
      while (next < offs.length) {
        const o = offs[next++];
        await new Promise(ok => { w.onmessage = ok; w.postMessage({ id: o, file, offset: o, length: Math.min(cs, file.size - o) }); });
      }
    }));
    const ms = performance.now() - t0;
    ws.forEach(w => w.terminate());
    return ms;
  }
  await Promise.all(Array.from({ length: par }, async () => {
    while (next < offs.length) {
      const o = offs[next++];
      let body = file.slice(o, o + cs);
      if (kind === "put-ab") body = await body.arrayBuffer();
      const r = await fetch(url + "/chunks/" + o.toString(16).padStart(64, "0"), { method: "PUT", headers, body, credentials: "same-origin", cache: "no-store" });
      await r.text();
    }
  }));
  return performance.now() - t0;
})`

func runFloor(ctx context.Context, size int64, rounds int) error {
	dir, err := os.MkdirTemp("", "hangar-bench-consolefloor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := apitest.Open(ctx, dir, apitest.Options{AdminKey: adminKey})
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	api := discardAPI{svc.API}
	h := console.Mount(api, console.New(api, svc.Log, console.Options{Sessions: svc.DB}))
	var js [2][]byte // this build's upload.js, and -floor-alt-js
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/static/upload.js", nil))
	js[0] = rec.Body.Bytes()
	if floorAltJS != "" {
		if js[1], err = os.ReadFile(floorAltJS); err != nil {
			return err
		}
	}
	var alt atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console/static/upload.js" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Header().Set("Cache-Control", "no-store")
			if alt.Load() {
				w.Write(js[1])
			} else {
				w.Write(js[0])
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	alice, err := client.New(srv.URL, adminKey).CreateTenant(ctx, hangar.TenantCreate{Name: "alice"})
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "f.raw")
	if err := randomFile(file, size); err != nil {
		return err
	}
	b, err := newBrowser(ctx, srv.URL, alice.Key)
	if err != nil {
		return err
	}
	defer b.close()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+"/console/upload"), chromedp.WaitVisible(chromedp.ID("upload-file")),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file})); err != nil {
		return err
	}
	mibps := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	type exp struct {
		name, kind, url, auth string
		par                   int
	}
	var exps []exp
	px := "/console/api/uploads/x"
	for _, e := range strings.Split(floorExps, ",") {
		f := strings.Split(e, ":")
		p, _ := strconv.Atoi(f[1])
		x := exp{name: e, kind: f[0], url: px, par: p}
		if len(f) > 2 && f[2] == "direct" {
			x.url, x.auth = "/v1/uploads/x", alice.Key
		}
		exps = append(exps, x)
	}
	fmt.Printf("%d MiB file; load average %s", size>>20, loadavg())
	for r := range rounds {
		// The CLI to the same (discarding) server, for scale.
		cpu0 := cpuByProcess()
		t0 := time.Now()
		if _, _, err := client.New(srv.URL, alice.Key).UploadDisk(ctx, file, fmt.Sprintf("cli%d", r), client.UploadOptions{}); err != nil {
			return fmt.Errorf("CLI upload: %w", err)
		}
		d := time.Since(t0)
		fmt.Printf("%-48s %7.1f MiB/s  %s\n", "CLI (UploadDisk), discarding server", mibps(d), cpuDelta(cpu0, cpuByProcess(), d))
		for _, e := range exps {
			cpu0 := cpuByProcess()
			ms, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](fmt.Sprintf("%s(%q, %d, %q, %q)", floorJS, e.kind, e.par, e.url, e.auth), chromedp.EvalAwaitPromise))
			if err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			d := time.Duration(ms * float64(time.Millisecond))
			fmt.Printf("%-48s %7.1f MiB/s  %s\n", e.name, mibps(d), cpuDelta(cpu0, cpuByProcess(), d))
		}
		// The page, to the discarding server: this build's, and -floor-alt-js's.
		for i, what := range []string{"the page's upload, discarding server", "the same, " + floorAltJS} {
			if i == 1 && floorAltJS == "" {
				break
			}
			alt.Store(i == 1)
			cpu0 = cpuByProcess()
			d, err = b.upload(file, fmt.Sprintf("page%d-%d", r, i))
			if err != nil {
				return fmt.Errorf("page upload: %w", err)
			}
			fmt.Printf("%-48s %7.1f MiB/s  %s\n", what, mibps(d), cpuDelta(cpu0, cpuByProcess(), d))
		}
	}
	return nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b)
}

// cpuByProcess returns CPU seconds so far by kind: "go" (this process), and
// Chromium's processes by --type (renderer, gpu, network, other utility, browser).
func cpuByProcess() map[string]float64 {
	m := map[string]float64{}
	m["go"] = procCPU("self")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), "hangar-bench-chromium") {
			continue
		}
		c := string(cmd)
		kind := "browser"
		switch {
		case strings.Contains(c, "--type=renderer"):
			kind = "renderer"
		case strings.Contains(c, "--type=gpu-process"):
			kind = "gpu"
		case strings.Contains(c, "network.mojom.NetworkService"):
			kind = "network"
		case strings.Contains(c, "--type="):
			kind = "chr-other"
		}
		m[kind] += procCPU(e.Name())
	}
	return m
}

func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

func cpuDelta(a, b map[string]float64, d time.Duration) string {
	var sb strings.Builder
	total := 0.0
	for _, k := range []string{"go", "renderer", "network", "gpu", "browser", "chr-other"} {
		v := b[k] - a[k]
		total += v
		fmt.Fprintf(&sb, " %s %.0f%%", k, 100*v/d.Seconds())
	}
	fmt.Fprintf(&sb, " | all %.0f%% of 200%%", 100*total/d.Seconds())
	return sb.String()
}
