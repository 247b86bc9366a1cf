// Command hashing measures the throughput of the upload pipeline's read-and-hash
// stage (client.HashDisk: two workers per core, each reading a chunk of the file
// into its own buffer and hashing it there) on the bench/convert input (a sparse
// raw file of 4 GiB holding 1 GiB of pseudo-random data, warm in the page cache),
// against the single-core SHA-256 rate of this machine measured in the same run
// (one goroutine hashing a 4 MiB buffer already in memory). Runs alternate and the
// medians are compared. Target: pipeline >= 1.6x the single-core rate with two
// cores. Other load on the machine shows directly in this ratio (the pipeline
// needs both cores, the single-core rate one): run it on a quiet machine.
//
//	go run ./bench/hashing [-size 4096] [-extents 256] [-runs 9] [-workers 0]
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/diskfmt"
)

func main() {
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	count := flag.Int64("extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	align := flag.Int64("align", 4<<20, "extent offsets are random multiples of this many bytes")
	runs := flag.Int("runs", 9, "timed runs of each (median reported)")
	workers := flag.Int("workers", 0, "hashing workers (0: as uploads do, two per core)")
	dir := flag.String("dir", os.TempDir(), "directory for the input")
	seed := flag.Uint64("seed", 1, "seed of the layout and the data")
	flag.Parse()
	if err := run(*dir, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *runs, *workers, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent string, size, count, extLen, align int64, runs, workers int, seed uint64) error {
	dir, err := os.MkdirTemp(parent, "hangar-bench-hashing-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("machine:", diskbench.Machine(dir))
	exts, err := diskbench.Layout(size, count, extLen, align, seed)
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "in.raw")
	if err := diskbench.WriteSparse(in, size, exts, seed); err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	disk, err := diskfmt.Open(f, size, diskfmt.Options{})
	if err != nil {
		return err
	}
	data := count * extLen
	label := fmt.Sprint(workers)
	if workers <= 0 {
		label = fmt.Sprintf("default (two per core, GOMAXPROCS %d)", runtime.GOMAXPROCS(0))
	}
	fmt.Printf("input: raw, %d MiB virtual, %d MiB of data in %d extents; pipeline workers: %s\n", size>>20, data>>20, count, label)
	ctx := context.Background()
	if _, err := client.HashDisk(ctx, disk, workers); err != nil { // warm the page cache
		return err
	}
	buf := make([]byte, 4*diskbench.MiB)
	diskbench.Stream(seed).Read(buf) //nolint:errcheck // never fails
	single := func() time.Duration {
		start := time.Now()
		for done := int64(0); done < data; done += int64(len(buf)) {
			sha256.Sum256(buf)
		}
		return time.Since(start)
	}
	var pipe, one []time.Duration
	for i := range runs {
		for k := range 2 {
			if (i+k)%2 == 0 {
				d, err := diskbench.Time(func() error { _, err := client.HashDisk(ctx, disk, workers); return err })
				if err != nil {
					return err
				}
				pipe = append(pipe, d)
				fmt.Printf("  run %d pipeline    %s  %6.0f MiB/s (loadavg %s)\n", i+1, diskbench.Sec(d), rate(data, d), diskbench.LoadAvg())
			} else {
				d := single()
				one = append(one, d)
				fmt.Printf("  run %d single core %s  %6.0f MiB/s (loadavg %s)\n", i+1, diskbench.Sec(d), rate(data, d), diskbench.LoadAvg())
			}
		}
	}
	p, s := diskbench.Median(pipe), diskbench.Median(one)
	fmt.Printf("results (median of %d runs):\n", runs)
	fmt.Printf("  pipeline %.0f MiB/s [%s]  single-core sha256 %.0f MiB/s [%s]  speed-up %s\n",
		rate(data, p), diskbench.Durations(pipe), rate(data, s), diskbench.Durations(one),
		diskbench.RatioOf(s.Seconds()/p.Seconds(), 1.6, false))
	return nil
}

func rate(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / float64(diskbench.MiB) }
