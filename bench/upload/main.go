// Command upload benchmarks `hangar disk upload FILE` (the real binary, built by
// this program) to a real `hangar serve` on loopback, started with a fresh data
// directory for every run, against the anchor `qemu-img convert -f raw -O vpc -o
// subformat=fixed,force_size FILE OUT` of the same file in the same run. The input
// is the one bench/convert uses: a sparse raw file of 4 GiB holding 1 GiB of
// pseudo-random data in 256 extents of 4 MiB at random offsets (fixed seed). It
// prints every time, the medians, the ratio (target <= 1.0) and the bytes sent
// (`upload.sentBytes` of `hangar disk upload -o json`) against the allocated bytes
// of the file (target: within 2%).
//
// Runs are cold (page cache dropped before each, when this program may: root) and
// warm, alternating between the two tools.
//
// With -baseline OLDBIN, an older hangar binary (client and server) is timed in
// the same runs too.
//
//	go run ./bench/upload [-size 4096] [-extents 256] [-extent-mib 4] [-align 4194304] [-runs 3] [-connections 4]
//	                      [-hangar BIN] [-baseline OLDBIN]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

// prebuilt and baseline are the -hangar and -baseline flags.
var prebuilt, baseline *string

func main() {
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	count := flag.Int64("extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	align := flag.Int64("align", 4<<20, "extent offsets are random multiples of this many bytes")
	runs := flag.Int("runs", 3, "timed runs per tool (median reported)")
	conns := flag.Int("connections", 4, "hangar disk upload --connections")
	dir := flag.String("dir", os.TempDir(), "directory for the input, the outputs and the server's data")
	seed := flag.Uint64("seed", 1, "seed of the layout and the data")
	prebuilt = diskbench.HangarFlag()
	baseline = flag.String("baseline", "", "also time this (older) hangar binary in the same runs, for a before/after")
	flag.Parse()
	if err := run(*dir, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *runs, *conns, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent string, size, count, extLen, align int64, runs, conns int, seed uint64) error {
	if err := diskbench.NeedTool("qemu-img"); err != nil {
		return err
	}
	ws, err := diskbench.NewWorkspace(parent, "upload", *prebuilt, size, count, extLen, align, seed)
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
		size>>20, alloc, alloc>>20, count, extLen>>20, align, seed)
	anchorOut := filepath.Join(dir, "qemu.vhd")
	anchor := []string{"qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size", in, anchorOut}
	fmt.Printf("commands:\n  hangar: %s disk upload %s --name disk -o json --no-progress --connections %d (fresh hangar serve on 127.0.0.1, fresh data dir, each run)\n  qemu-img: %v\n",
		bin, in, conns, anchor)
	modes := []string{"warm"}
	if diskbench.CanDropCaches() {
		modes = []string{"cold", "warm"}
	} else {
		fmt.Println("note: cannot drop the page cache (not root); warm runs only")
	}
	upload := func(bin string, i int, cold bool) (diskbench.UploadResult, time.Duration, error) {
		srv, err := diskbench.StartServer(bin, filepath.Join(dir, "srv"+strconv.Itoa(i)))
		if err != nil {
			return diskbench.UploadResult{}, 0, err
		}
		defer os.RemoveAll(srv.DataDir)
		defer srv.Stop()
		if cold {
			if err := diskbench.DropCaches(); err != nil {
				return diskbench.UploadResult{}, 0, err
			}
		}
		return srv.Upload(bin, in, "disk", "--connections", strconv.Itoa(conns))
	}
	convert := func(cold bool) (time.Duration, error) {
		os.Remove(anchorOut)
		if cold {
			if err := diskbench.DropCaches(); err != nil {
				return 0, err
			}
		}
		return diskbench.Time(func() error { _, err := diskbench.Run(nil, anchor[0], anchor[1:]...); return err })
	}
	ours, theirs, before := map[string][]time.Duration{}, map[string][]time.Duration{}, map[string][]time.Duration{}
	var last diskbench.UploadResult
	for _, mode := range modes {
		cold := mode == "cold"
		if !cold { // one untimed pass of each, so that the input is cached
			if _, _, err := upload(bin, -1, false); err != nil {
				return err
			}
			if _, err := convert(false); err != nil {
				return err
			}
		}
		contenders := 2
		if *baseline != "" {
			contenders = 3
		}
		for i := range runs {
			for k := range contenders {
				load := diskbench.LoadAvg()
				switch (i + k) % contenders {
				case 0:
					res, d, err := upload(bin, i, cold)
					if err != nil {
						return err
					}
					last = res
					ours[mode] = append(ours[mode], d)
					fmt.Printf("  %s run %d hangar upload    %s (sent %d bytes, loadavg %s)\n", mode, i+1, diskbench.Sec(d), res.Upload.SentBytes, load)
				case 2:
					_, d, err := upload(*baseline, i, cold)
					if err != nil {
						return err
					}
					before[mode] = append(before[mode], d)
					fmt.Printf("  %s run %d baseline upload  %s (loadavg %s)\n", mode, i+1, diskbench.Sec(d), load)
				default:
					d, err := convert(cold)
					if err != nil {
						return err
					}
					theirs[mode] = append(theirs[mode], d)
					fmt.Printf("  %s run %d qemu-img convert %s (loadavg %s)\n", mode, i+1, diskbench.Sec(d), load)
				}
			}
		}
	}
	if _, err := diskbench.Run(nil, "qemu-img", "compare", "-q", "-f", "raw", "-F", "vpc", in, anchorOut); err != nil {
		return fmt.Errorf("qemu-img output differs from the input: %w", err)
	}
	fmt.Printf("results (median of %d runs):\n", runs)
	for _, mode := range modes {
		h, q := diskbench.Median(ours[mode]), diskbench.Median(theirs[mode])
		fmt.Printf("  %s: hangar upload %s [%s]  qemu-img convert %s [%s]  ratio %s\n", mode,
			diskbench.Sec(h), diskbench.Durations(ours[mode]), diskbench.Sec(q), diskbench.Durations(theirs[mode]), diskbench.Ratio(h, q, 1.0, true))
		fmt.Printf("  %s throughput: hangar %.0f MiB/s of allocated data, qemu-img %.0f MiB/s\n", mode,
			float64(alloc)/h.Seconds()/float64(diskbench.MiB), float64(alloc)/q.Seconds()/float64(diskbench.MiB))
		if b := diskbench.Median(before[mode]); b > 0 {
			fmt.Printf("  %s before/after: baseline upload %s [%s] (%.2fx qemu-img); hangar is %.2fx faster\n", mode,
				diskbench.Sec(b), diskbench.Durations(before[mode]), b.Seconds()/q.Seconds(), b.Seconds()/h.Seconds())
		}
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
