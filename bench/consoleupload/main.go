// Command consoleupload measures the console's browser upload against the CLI's
// upload of a file of the same size, in the same run, to the same server: the real
// service layer and API (SQLite, a chunk directory) with the console, over loopback
// HTTP. The CLI side is the client's UploadDisk with its defaults, as `hangar disk
// upload` runs it; the browser side is Debian's headless Chromium driven through
// chromedp, choosing the file in the upload page and waiting for the page to say
// it is done. The two files hold different random bytes (dense, nothing to dedup,
// nothing zero), so that neither upload finds the other's chunks, and new ones in
// each round; the rounds alternate the two uploads, and the median ratio is the
// result (a shared machine is noisy). Target: the browser at least 0.7x the CLI's
// throughput.
//
// -format qcow2 (or vhdx, vmdk, vpc: qemu-img's names) converts both files with
// qemu-img first: the browser then reads them with diskfmt in WebAssembly
// (scripts/build-wasm.sh must have run: make build does), the CLI natively.
//
//	go run ./bench/consoleupload [-size-mib 256] [-rounds 5] [-format raw]
//
// -floor measures what bounds the browser instead (floor.go): a server whose API
// discards chunks, the browser only sending the file's slices, only hashing them,
// or both, and the CPU each process spent.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/console"
	"github.com/hangarvm/hangar/internal/hangar"
)

const adminKey = "bench-admin-key-0123456789"

func main() {
	sizeMiB := flag.Int64("size-mib", 256, "size of each file, MiB")
	rounds := flag.Int("rounds", 5, "rounds, each one CLI and one browser upload")
	format := flag.String("format", "raw", "the files' format: raw, or a qemu-img format they are converted to (qcow2, vhdx, vmdk, vpc)")
	floor := flag.Bool("floor", false, "measure the browser's floor instead: sending only, hashing only, to a server that discards chunks")
	flag.StringVar(&floorExps, "floor-exps", "put:4,put:6,put:8,put:6:direct,hash:1,hash:2,hash:4,both-2:4,both-2:6,both-4:8",
		"-floor's experiments (see floor.go)")
	flag.StringVar(&floorAltJS, "floor-alt-js", "", "-floor: another upload.js, whose page upload alternates with this build's")
	flag.Parse()
	if *floor {
		if err := runFloor(context.Background(), *sizeMiB<<20, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), *sizeMiB<<20, *rounds, *format); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, size int64, rounds int, format string) error {
	dir, err := os.MkdirTemp("", "hangar-bench-consoleupload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := apitest.Open(ctx, dir, apitest.Options{AdminKey: adminKey})
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	srv := httptest.NewServer(console.Mount(svc.API, console.New(svc.API, svc.Log, console.Options{Sessions: svc.DB})))
	defer srv.Close()
	alice, err := client.New(srv.URL, adminKey).CreateTenant(ctx, hangar.TenantCreate{Name: "alice"})
	if err != nil {
		return err
	}
	files := [2]string{filepath.Join(dir, "cli.raw"), filepath.Join(dir, "browser.raw")}
	fmt.Printf("%d rounds, each: a CLI upload and a browser upload of %d MiB of new random bytes (%s); server and browser on this machine (loopback)\n",
		rounds, size>>20, format)
	b, err := newBrowser(ctx, srv.URL, alice.Key)
	if err != nil {
		return err
	}
	defer b.close()
	rate := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	fmt.Printf("%-6s %12s %12s %8s\n", "round", "CLI MiB/s", "browser MiB/s", "ratio")
	var ratios []float64
	for r := range rounds {
		var up [2]string // what is uploaded: the random file, or its conversion
		for i, f := range files {
			if err := randomFile(f, size); err != nil {
				return err
			}
			if up[i] = f; format != "raw" {
				up[i] = f + "." + format
				if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-O", format, f, up[i]).CombinedOutput(); err != nil {
					return fmt.Errorf("qemu-img convert -O %s: %w\n%s", format, err, out)
				}
			}
		}
		t0 := time.Now()
		if _, _, err := client.New(srv.URL, alice.Key).UploadDisk(ctx, up[0], fmt.Sprintf("cli%d", r), client.UploadOptions{}); err != nil {
			return fmt.Errorf("CLI upload: %w", err)
		}
		cli := time.Since(t0)
		browser, err := b.upload(up[1], fmt.Sprintf("browser%d", r))
		if err != nil {
			return fmt.Errorf("browser upload: %w", err)
		}
		ratios = append(ratios, cli.Seconds()/browser.Seconds())
		fmt.Printf("%-6d %12.1f %12.1f %7.2fx\n", r+1, rate(cli), rate(browser), ratios[r])
	}
	slices.Sort(ratios)
	fmt.Printf("median browser / CLI throughput: %.2fx (target at least 0.7x)\n", ratios[len(ratios)/2])
	return nil
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// browser is a headless Chromium signed in to the console.
type browser struct {
	ctx   context.Context
	base  string
	close func()
}

func newBrowser(ctx context.Context, base, key string) (*browser, error) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "hangar-bench-chromium")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(profile))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: bctx, base: base, close: func() { cancel(); cancelAlloc(); os.RemoveAll(profile) }}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/signout"]`))); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// upload uploads file as disk name from the console's upload page and returns
// the time from the click to the page saying done.
func (b *browser) upload(file, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.base+"/console/upload"), chromedp.WaitVisible(chromedp.ID("upload-file")),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
		chromedp.SendKeys(chromedp.ID("upload-name"), name)); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("upload-start"))); err != nil {
		return 0, err
	}
	for {
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("upload-status").dataset.state || ""`))
		if err != nil {
			return 0, err
		}
		switch state {
		case "done":
			d := time.Since(t0)
			if ms, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("upload-status").dataset.openMs || ""`)); ms != "" {
				fmt.Printf("(the browser's reader was ready in %s ms of the %.0f ms)\n", ms, d.Seconds()*1000)
			}
			return d, nil
		case "error":
			msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("upload-error")))
			return 0, errors.New(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
