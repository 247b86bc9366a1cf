// Command upload benchmarks `hangar disk upload FILE` (the real binary, built by
// this program) to a real `hangar serve` on loopback, started with a fresh data
// directory for every run, against, in the same runs and alternating:
//
//   - the hashing floor: two SHA-256 passes over the file's data, in memory, on two
//     goroutines (an upload hashes every byte on the client and again on the
//     server; nothing that verifies can be faster);
//   - the wire floor (wire.go): the bytes moved as any verifying, durable upload
//     over loopback TCP must move them (read, hash, sendfile, hash, O_DIRECT
//     write, fsync), with nothing else: no HTTP, database or dedup questions. It
//     is the floor of this design on the machine; upload/wire floor is what the
//     protocol and the service add;
//   - the write floor (wire.go): only the durable writes the server makes (O_DIRECT
//     from aligned buffers, the same writers, fsync at the end): what the disk takes;
//   - `aws s3 cp FILE s3://BUCKET/` to a fresh bucket of a real S3 server (versitygw,
//     posix backend, on loopback): what users would pick otherwise;
//   - the same hangar upload with the server on PostgreSQL + S3 (the same versitygw,
//     a fresh database and bucket each run);
//   - `qemu-img convert -f raw -O vpc -o subformat=fixed,force_size FILE OUT`.
//
// The input is the one bench/convert uses: a sparse raw file of 4 GiB holding 1 GiB
// of pseudo-random data in 256 extents of 4 MiB at random offsets (fixed seed);
// `-size 1024` makes it one dense 1 GiB file (the case of issue 13, and the fair
// one for aws s3 cp, which sends holes as bytes). It prints every time, the medians,
// the ratios upload/floor (target <= 2.0), upload/aws (target <= 0.4) and
// upload/qemu-img, the server's CPU seconds per GiB received, and the bytes sent
// (`upload.sentBytes` of `hangar disk upload -o json`) against the allocated bytes
// of the file (target: within 2%).
//
// Runs are warm (the input in the page cache) unless -cold, which drops the page
// cache before each run (root only; it disturbs everyone on the machine).
//
// With -baseline OLDBIN, an older hangar binary (client and server) is timed in
// the same runs too, on the embedded default.
//
//	go run ./bench/upload [-size 4096] [-extents 256] [-extent-mib 4] [-align 4194304] [-runs 3] [-connections 8]
//	                      [-cold] [-no-pg-s3] [-no-aws] [-hangar BIN] [-baseline OLDBIN]
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
	"github.com/hangarvm/hangar/internal/client"
)

// options are the flags.
type options struct {
	size, count, extLen, align int64
	runs, conns                int
	seed                       uint64
	cold, pgS3, aws            bool
	prebuilt, baseline         string
}

func main() {
	var o options
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	flag.Int64Var(&o.count, "extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	flag.Int64Var(&o.align, "align", 4<<20, "extent offsets are random multiples of this many bytes")
	flag.IntVar(&o.runs, "runs", 3, "timed runs per contender (median reported)")
	flag.IntVar(&o.conns, "connections", client.DefaultConnections, "hangar disk upload --connections")
	dir := flag.String("dir", os.TempDir(), "directory for the input, the outputs and the servers' data")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the layout and the data")
	flag.BoolVar(&o.cold, "cold", false, "also time cold runs (drops the page cache before each: root)")
	noPG := flag.Bool("no-pg-s3", false, "skip hangar on PostgreSQL + S3")
	noAWS := flag.Bool("no-aws", false, "skip aws s3 cp")
	prebuilt := diskbench.HangarFlag()
	flag.StringVar(&o.baseline, "baseline", "", "also time this (older) hangar binary in the same runs, for a before/after")
	flag.Parse()
	o.size, o.extLen, o.prebuilt = *sizeMiB*diskbench.MiB, *extMiB*diskbench.MiB, *prebuilt
	o.pgS3, o.aws = !*noPG, !*noAWS
	err := run(*dir, o)
	diskbench.StopPeers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

const (
	wireName  = "wire floor (read, hash, TCP, hash, O_DIRECT)"
	writeName = "write floor (O_DIRECT write + fsync only)"
)

// contender is one thing timed in every run.
type contender struct {
	name string
	// time runs it once (cold: after dropping the page cache) and returns how long
	// it took and, for a hangar upload, the server's CPU time during it.
	time   func(i int, cold bool) (d, cpu time.Duration, err error)
	times  map[string][]time.Duration
	cpus   map[string][]time.Duration
	upload bool // a hangar upload: reports server CPU
	// cpuWhat names the CPU time time returns, if any: the server's for an upload.
	cpuWhat string
}

func run(parent string, o options) error {
	if err := diskbench.NeedTool("qemu-img"); err != nil {
		return err
	}
	ws, err := diskbench.NewWorkspace(parent, "upload", o.prebuilt, o.size, o.count, o.extLen, o.align, o.seed)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	dir, bin, in := ws.Dir, ws.Bin, ws.Input
	alloc, err := diskbench.Allocated(in)
	if err != nil {
		return err
	}
	fmt.Printf("input: raw, %d MiB virtual, %d bytes (%d MiB) allocated in %d extents of %d MiB (offsets multiples of %d bytes, seed %d)\n",
		o.size>>20, alloc, alloc>>20, o.count, o.extLen>>20, o.align, o.seed)
	var s3 *diskbench.S3
	if o.pgS3 || o.aws {
		s3 = diskbench.StartS3()
		for _, kv := range s3.Env() { // for aws and for hangar serve --store s3://
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	}
	var last diskbench.UploadResult
	clientCPU := map[string][]time.Duration{} // by contender, every upload run (the untimed one too)
	upload := func(label, bin string, extra ...string) func(i int, cold bool) (time.Duration, time.Duration, error) {
		return func(i int, cold bool) (time.Duration, time.Duration, error) {
			srvDir := filepath.Join(dir, "srv"+strconv.Itoa(i))
			srv, err := diskbench.StartServer(bin, srvDir, extra...)
			if err != nil {
				return 0, 0, err
			}
			defer os.RemoveAll(srvDir)
			defer os.RemoveAll(filepath.Join(dir, "cache"))
			defer srv.Stop()
			if cold {
				if err := diskbench.DropCaches(); err != nil {
					return 0, 0, err
				}
			}
			cpu0, err := srv.CPUTime()
			if err != nil {
				return 0, 0, err
			}
			res, d, err := srv.Upload(bin, in, "disk", "--connections", strconv.Itoa(o.conns))
			if err != nil {
				return 0, 0, err
			}
			cpu1, err := srv.CPUTime()
			last = res
			clientCPU[label] = append(clientCPU[label], res.ClientCPU)
			return d, cpu1 - cpu0, err
		}
	}
	cs := []*contender{{name: "hangar upload (SQLite + dir)", time: upload("hangar upload (SQLite + dir)", bin), upload: true, cpuWhat: "server CPU"}}
	if o.pgS3 {
		cs = append(cs, &contender{name: "hangar upload (PostgreSQL + S3)", upload: true, cpuWhat: "server CPU",
			time: func(i int, cold bool) (time.Duration, time.Duration, error) {
				return upload("hangar upload (PostgreSQL + S3)", bin, "--db", diskbench.PostgresDSN(), "--store", s3.StoreURL(s3.NewBucket()))(i, cold)
			}})
	}
	floor, err := newFloor(in, ws.Extents)
	if err != nil {
		return err
	}
	cs = append(cs, &contender{name: "hashing floor (2 x SHA-256, 2 goroutines)", time: floor},
		&contender{name: wireName, time: newWireFloor(in, dir, ws.Extents, o.conns), cpuWhat: "CPU (both ends)"},
		&contender{name: writeName, time: newWriteFloor(in, dir, ws.Extents, o.conns), cpuWhat: "CPU"})
	if o.aws {
		if err := diskbench.NeedTool("aws"); err != nil {
			return err
		}
		cs = append(cs, &contender{name: "aws s3 cp (versitygw)", time: func(i int, cold bool) (time.Duration, time.Duration, error) {
			bucket := s3.NewBucket().Bucket
			defer os.RemoveAll(filepath.Join(s3.Root(), bucket))
			if cold {
				if err := diskbench.DropCaches(); err != nil {
					return 0, 0, err
				}
			}
			d, err := diskbench.Time(func() error {
				_, err := diskbench.Run(nil, "aws", "s3", "cp", "--only-show-errors", in, "s3://"+bucket+"/in.raw")
				return err
			})
			return d, 0, err
		}})
	}
	anchorOut := filepath.Join(dir, "qemu.vhd")
	anchor := []string{"qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size", in, anchorOut}
	cs = append(cs, &contender{name: "qemu-img convert", time: func(i int, cold bool) (time.Duration, time.Duration, error) {
		os.Remove(anchorOut)
		if cold {
			if err := diskbench.DropCaches(); err != nil {
				return 0, 0, err
			}
		}
		d, err := diskbench.Time(func() error { _, err := diskbench.Run(nil, anchor[0], anchor[1:]...); return err })
		return d, 0, err
	}})
	if o.baseline != "" {
		cs = append(cs, &contender{name: "baseline upload (SQLite + dir)", time: upload("baseline upload (SQLite + dir)", o.baseline), upload: true, cpuWhat: "server CPU"})
	}
	fmt.Printf("commands:\n  hangar: %s disk upload %s --name disk -o json --no-progress --connections %d (fresh hangar serve on 127.0.0.1, fresh data dir, each run)\n",
		bin, in, o.conns)
	if o.pgS3 {
		fmt.Println("  hangar on PostgreSQL + S3: the same, hangar serve --db (fresh database) --store s3://BUCKET/chunks (fresh bucket on versitygw)")
	}
	if o.aws {
		out, _ := exec.Command("aws", "--version").CombinedOutput()
		fmt.Printf("  aws: aws s3 cp --only-show-errors %s s3://FRESHBUCKET/in.raw (AWS_ENDPOINT_URL=versitygw posix; %s)\n", in, strings.TrimSpace(string(out)))
	}
	fmt.Printf("  qemu-img: %v\n", anchor)
	modes := []string{"warm"}
	if o.cold {
		modes = []string{"cold", "warm"}
	}
	for _, c := range cs {
		c.times, c.cpus = map[string][]time.Duration{}, map[string][]time.Duration{}
	}
	for _, mode := range modes {
		cold := mode == "cold"
		if !cold { // one untimed pass of each, so that the input and the programs are cached
			for _, c := range cs {
				if _, _, err := c.time(-1, false); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
			}
		}
		for i := range o.runs {
			for k := range cs {
				c := cs[(i+k)%len(cs)]
				load := diskbench.LoadAvg()
				d, cpu, err := c.time(i, cold)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				c.times[mode] = append(c.times[mode], d)
				c.cpus[mode] = append(c.cpus[mode], cpu)
				extra := ""
				if c.cpuWhat != "" {
					extra = fmt.Sprintf(", %s %s", c.cpuWhat, diskbench.Sec(cpu))
				}
				fmt.Printf("  %s run %d %-42s %s (loadavg %s%s)\n", mode, i+1, c.name, diskbench.Sec(d), load, extra)
			}
		}
	}
	if _, err := diskbench.Run(nil, "qemu-img", "compare", "-q", "-f", "raw", "-F", "vpc", in, anchorOut); err != nil {
		return fmt.Errorf("qemu-img output differs from the input: %w", err)
	}
	report(cs, modes, o, alloc)
	for b, cpus := range clientCPU {
		fmt.Printf("  client CPU (hangar disk upload, user + system), %s: median %s per GiB [%s]\n", b,
			diskbench.Sec(time.Duration(float64(diskbench.Median(cpus))/(float64(alloc)/float64(diskbench.GiB)))), diskbench.Durations(cpus))
	}
	sent := last.Upload.SentBytes
	over := float64(sent-alloc) / float64(alloc) * 100
	verdict := "met"
	if math.Abs(over) > 2 {
		verdict = "MISSED"
	}
	fmt.Printf("  bytes: sent %d, allocated %d, stored %d: sent is %+.2f%% of allocated (target within 2%%: %s)\n",
		sent, alloc, last.StoredBytes, over, verdict)
	return nil
}

// report prints the medians and, for each hangar upload, its ratios to the others.
func report(cs []*contender, modes []string, o options, alloc int64) {
	fmt.Printf("results (median of %d runs):\n", o.runs)
	byName := map[string]*contender{}
	for _, c := range cs {
		byName[c.name] = c
	}
	for _, mode := range modes {
		for _, c := range cs {
			m := diskbench.Median(c.times[mode])
			fmt.Printf("  %s: %-42s %s [%s] %.0f MiB/s", mode, c.name, diskbench.Sec(m), diskbench.Durations(c.times[mode]),
				float64(alloc)/m.Seconds()/float64(diskbench.MiB))
			if c.cpuWhat != "" {
				cpu := diskbench.Median(c.cpus[mode])
				fmt.Printf(", %s %.2f s per GiB received", c.cpuWhat, cpu.Seconds()/(float64(alloc)/float64(diskbench.GiB)))
			}
			fmt.Println()
		}
		for _, c := range cs {
			if !c.upload {
				continue
			}
			m := diskbench.Median(c.times[mode])
			ratio := func(name string, target float64) string {
				other, ok := byName[name]
				if !ok {
					return "-"
				}
				a := diskbench.Median(other.times[mode])
				if target == 0 {
					return fmt.Sprintf("%.2fx", m.Seconds()/a.Seconds())
				}
				return diskbench.Ratio(m, a, target, true)
			}
			fmt.Printf("  %s ratios of %s: /floor %s, /aws %s, /qemu-img %s, /wire floor %s\n", mode, c.name,
				ratio("hashing floor (2 x SHA-256, 2 goroutines)", 2.0), ratio("aws s3 cp (versitygw)", 0.4), ratio("qemu-img convert", 0), ratio(wireName, 0))
			fmt.Printf("  %s ratios of %s: /write floor %s\n", mode, c.name, ratio(writeName, 0))
		}
		if w, f := byName[wireName], byName["hashing floor (2 x SHA-256, 2 goroutines)"]; w != nil && f != nil {
			fmt.Printf("  %s: wire floor / hashing floor %.2fx (what the design cannot go below)\n", mode,
				diskbench.Median(w.times[mode]).Seconds()/diskbench.Median(f.times[mode]).Seconds())
		}
	}
}

// newFloor reads the file's data extents into memory once and returns a contender
// that hashes all of it twice, on two goroutines at once.
func newFloor(path string, exts []diskbench.Extent) (func(int, bool) (time.Duration, time.Duration, error), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var total int64
	for _, e := range exts {
		total += e.Length
	}
	data := make([]byte, total)
	at := int64(0)
	for _, e := range exts {
		if _, err := f.ReadAt(data[at:at+e.Length], e.Offset); err != nil {
			return nil, err
		}
		at += e.Length
	}
	return func(int, bool) (time.Duration, time.Duration, error) {
		d, err := diskbench.Time(func() error {
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					h := sha256.New()
					for p := data; len(p) > 0; p = p[min(len(p), 4<<20):] {
						h.Write(p[:min(len(p), 4<<20)])
					}
					h.Sum(nil)
				})
			}
			wg.Wait()
			return nil
		})
		return d, 0, err
	}, nil
}
