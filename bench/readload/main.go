// Command readload measures catalog reads while uploads run: the latency of
// `GET /v1/images` (image list) and `POST /v1/images:resolve` on a real `hangar
// serve`, one reader in a loop, first with the server idle, then while 8 tenants
// each upload a dense disk at once (`hangar disk upload`, 4 connections each).
// Target: p99 under 20 ms during the uploads.
//
// To tell the causes apart it also measures the reads, on the same idle server,
// under one load at a time that isolates one resource:
//
//   - cpu: another process spinning SHA-256 on 2 threads per core, then on 16 threads
//     (about as many as 8 uploading clients keep runnable): what the hashing costs the
//     reader, without any database or disk work;
//   - fsync: another process writing 4 MiB files and fsyncing them in the server's
//     file system (the disk and its flushes, without CPU or the database);
//   - db-writes: 8 goroutines retagging a disk through the API in a loop (small
//     write transactions, each a commit with an fsync: SQLite's write lock and the
//     connection pool, little CPU and no chunk I/O).
//
// Each database runs in turn: SQLite + chunk directory, then PostgreSQL + S3
// (versitygw), unless -db names one.
//
//	go run ./bench/readload [-db sqlite|postgres|both] [-uploads 8] [-size 128] [-n 400] [-hangar BIN]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-burn" { // the cpu load, as its own process
		threads, _ := strconv.Atoi(os.Args[2])
		burn(threads)
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "-fsyncs" { // the fsync load, as its own process
		fsyncs(os.Args[2])
		return
	}
	dbs := flag.String("db", "both", "sqlite, postgres or both")
	uploads := flag.Int("uploads", 8, "concurrent uploads, one tenant each")
	sizeMiB := flag.Int64("size", 128, "MiB of pseudo-random data per upload")
	n := flag.Int("n", 400, "reads per phase (each read is a list and a resolve); the upload phase reads until the uploads end")
	dir := flag.String("dir", os.TempDir(), "directory for the inputs and the server's data")
	prebuilt := diskbench.HangarFlag()
	flag.Parse()
	err := run(*dir, *prebuilt, *dbs, *uploads, *sizeMiB*diskbench.MiB, *n)
	diskbench.StopPeers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent, prebuilt, dbs string, uploads int, size int64, n int) error {
	dir, err := os.MkdirTemp(parent, "hangar-bench-readload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("machine:", diskbench.Machine(dir))
	bin, err := diskbench.Hangar(dir, prebuilt)
	if err != nil {
		return err
	}
	inputs := make([]string, uploads)
	for i := range inputs {
		inputs[i] = filepath.Join(dir, fmt.Sprintf("in%d.raw", i))
		f, err := os.Create(inputs[i])
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, diskbench.Stream(uint64(100+i)), size)
		f.Close()
		if err != nil {
			return err
		}
	}
	fmt.Printf("uploads: %d tenants at once, each `hangar disk upload` of %d MiB of pseudo-random data, --connections 4\n", uploads, size>>20)
	fmt.Println("reads: one client, every 5 ms GET /v1/images then POST /v1/images:resolve {\"reference\":\"img\"}, latency of each")
	for _, db := range []string{"sqlite", "postgres"} {
		if dbs != "both" && dbs != db {
			continue
		}
		if err := runDB(dir, bin, db, inputs, n); err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
	}
	return nil
}

// runDB measures every phase on one server.
func runDB(dir, bin, db string, inputs []string, n int) error {
	var extra []string
	label := "SQLite + chunk directory"
	if db == "postgres" {
		s3 := diskbench.StartS3()
		for _, kv := range s3.Env() {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
		extra = []string{"--db", diskbench.PostgresDSN(), "--store", s3.StoreURL(s3.NewBucket())}
		label = "PostgreSQL + S3 (versitygw)"
	}
	srvDir := filepath.Join(dir, "srv-"+db)
	srv, err := diskbench.StartServer(bin, srvDir, extra...)
	if err != nil {
		return err
	}
	defer os.RemoveAll(srvDir)
	defer srv.Stop()
	env := srv.Env()
	keys := make([]string, len(inputs)+1)
	for i := range keys {
		out, err := diskbench.Run(env, bin, "tenant", "create", "t"+strconv.Itoa(i), "-o", "json")
		if err != nil {
			return err
		}
		var created struct{ Key string }
		if err := json.Unmarshal(out, &created); err != nil {
			return err
		}
		keys[i] = created.Key
	}
	reader := keys[len(inputs)]
	small := filepath.Join(dir, "small.raw")
	if err := os.WriteFile(small, bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		return err
	}
	renv := withKey(env, reader)
	if _, err := diskbench.Run(renv, bin, "disk", "upload", small, "--name", "d", "--no-progress", "-o", "json"); err != nil {
		return err
	}
	if _, err := diskbench.Run(renv, bin, "image", "create", "--name", "img", "--type", "os", "--os-type", "linux",
		"--os-state", "generalized", "--os-disk", "d", "-o", "json"); err != nil {
		return err
	}
	r := &readerClient{url: srv.URL, key: reader}
	fmt.Printf("%s:\n", label)
	phase := func(name string, start loadFunc) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done, wait, err := start(ctx)
		if err != nil {
			return err
		}
		cpu0, _ := srv.CPUTime()
		t0 := time.Now()
		lists, resolves, err := r.measure(n, done)
		wall := time.Since(t0)
		cpu1, _ := srv.CPUTime()
		cancel()
		if werr := wait(); err == nil {
			err = werr
		}
		if err != nil {
			return err
		}
		fmt.Printf("  %-32s list p50 %s p99 %s, resolve p50 %s p99 %s (%d reads in %s, server CPU %.0f%% of one core, loadavg %s)%s\n", name,
			ms(pct(lists, 50)), ms(pct(lists, 99)), ms(pct(resolves, 50)), ms(pct(resolves, 99)), len(lists), diskbench.Sec(wall),
			100*(cpu1-cpu0).Seconds()/wall.Seconds(), diskbench.LoadAvg(), verdict(name, max(pct(lists, 99), pct(resolves, 99))))
		return nil
	}
	idle := func(context.Context) (<-chan struct{}, func() error, error) {
		return nil, func() error { return nil }, nil
	}
	if err := phase("idle", idle); err != nil {
		return err
	}
	if err := phase(fmt.Sprintf("during %d uploads", len(inputs)), uploadLoad(bin, env, keys[:len(inputs)], inputs, db)); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, threads := range []int{2 * runtime.NumCPU(), 16} {
		if err := phase(fmt.Sprintf("cpu: %d threads of SHA-256", threads), processLoad(self, "-burn", strconv.Itoa(threads))); err != nil {
			return err
		}
	}
	if err := phase("fsync: 4 MiB write+fsync loop", processLoad(self, "-fsyncs", filepath.Join(srvDir, "fsync-load"))); err != nil {
		return err
	}
	return phase("db-writes: 8 retaggers", retagLoad(srv.URL, keys[:len(inputs)], db))
}

// loadFunc starts a load. done, unless nil, closes when the load has ended by
// itself (the reads then stop); otherwise the reads run their count and ctx ends the
// load. wait waits for it and reports its error.
type loadFunc func(ctx context.Context) (done <-chan struct{}, wait func() error, err error)

func verdict(name string, p99 time.Duration) string {
	if !strings.HasPrefix(name, "during") {
		return ""
	}
	if p99 < 20*time.Millisecond {
		return " [target p99 < 20 ms: met]"
	}
	return " [target p99 < 20 ms: MISSED]"
}

func withKey(env []string, key string) []string {
	out := slices.Clone(env)
	for i, kv := range out {
		if strings.HasPrefix(kv, "HANGAR_KEY=") {
			out[i] = "HANGAR_KEY=" + key
		}
	}
	return out
}

// uploadLoad starts one upload per tenant, each of its own disk.
func uploadLoad(bin string, env, keys, inputs []string, name string) loadFunc {
	return func(context.Context) (<-chan struct{}, func() error, error) {
		var wg sync.WaitGroup
		errs := make([]error, len(inputs))
		for i, in := range inputs {
			wg.Go(func() {
				_, errs[i] = diskbench.Run(withKey(env, keys[i]), bin, "disk", "upload", in, "--name", name,
					"--connections", "4", "--no-progress", "-o", "json")
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		return done, func() error { <-done; return errors.Join(errs...) }, nil
	}
}

// processLoad runs this program with args as a load until the reads end.
func processLoad(self string, args ...string) loadFunc {
	return func(context.Context) (<-chan struct{}, func() error, error) {
		cmd := exec.Command(self, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		time.Sleep(200 * time.Millisecond) // let it get going
		return nil, func() error {
			cmd.Process.Kill() //nolint:errcheck // it runs until killed
			cmd.Wait()         //nolint:errcheck // killed
			if args[0] == "-fsyncs" {
				os.RemoveAll(args[1])
			}
			return nil
		}, nil
	}
}

// retagLoad runs one goroutine per tenant that sets the tags of the tenant's disk
// (the one it uploaded) in a loop, as fast as the server answers.
func retagLoad(url string, keys []string, disk string) loadFunc {
	return func(ctx context.Context) (<-chan struct{}, func() error, error) {
		var wg sync.WaitGroup
		errs := make([]error, len(keys))
		for w, key := range keys {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					body := fmt.Sprintf(`{"tags":{"n":"%d"}}`, i)
					if _, err := do(url, key, "PUT", "/v1/disks/"+disk+"/tags", body); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		return nil, func() error { wg.Wait(); return errors.Join(errs...) }, nil
	}
}

// burn spins SHA-256 on threads OS threads until killed: 16 is about what 8
// uploading clients keep runnable (each hashes and sends on every core).
func burn(threads int) {
	runtime.GOMAXPROCS(threads)
	buf := make([]byte, 1<<20)
	for range threads {
		go func() {
			for {
				sha256.Sum256(buf)
			}
		}()
	}
	select {}
}

// fsyncs writes and fsyncs 4 MiB files in dir until killed.
func fsyncs(dir string) {
	os.MkdirAll(dir, 0o700) //nolint:errcheck // the writes say
	buf := make([]byte, 4<<20)
	for i := 0; ; i++ {
		p := filepath.Join(dir, strconv.Itoa(i%64))
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		f.Write(buf) //nolint:errcheck // load only
		f.Sync()     //nolint:errcheck // load only
		f.Close()
	}
}

// readerClient reads the catalog as one tenant.
type readerClient struct{ url, key string }

// readEvery paces the reader (a list and a resolve each time): 400 requests a
// second, under the server's per-tenant rate limit of 500.
const readEvery = 5 * time.Millisecond

// measure reads n times or, when done is not nil, until done closes.
func (r *readerClient) measure(n int, done <-chan struct{}) (lists, resolves []time.Duration, err error) {
	tick := time.NewTicker(readEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i > 0 {
			<-tick.C
		}
		if done == nil && i >= n {
			return lists, resolves, nil
		}
		if done != nil {
			select {
			case <-done:
				return lists, resolves, nil
			default:
			}
		}
		d, err := do(r.url, r.key, "GET", "/v1/images", "")
		if err != nil {
			return nil, nil, err
		}
		lists = append(lists, d)
		d, err = do(r.url, r.key, "POST", "/v1/images:resolve", `{"reference":"img"}`)
		if err != nil {
			return nil, nil, err
		}
		resolves = append(resolves, d)
	}
}

// do makes one request and returns how long the answer took (the whole body read).
func do(url, key, method, path, body string) (time.Duration, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode >= 300 {
		return 0, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return d, nil
}

// pct is the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
