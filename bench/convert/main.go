// Command convert benchmarks `hangar disk convert IN OUT --format vhd` (the real
// binary, built by this program) against the anchor
// `qemu-img convert -f raw -O vpc -o subformat=fixed,force_size IN OUT` on the same
// input in the same run: a sparse raw file of 4 GiB holding 1 GiB of pseudo-random
// data in 256 extents of 4 MiB at random offsets (fixed seed). Both outputs are
// checked with `qemu-img compare -f raw -F vpc`. Runs are repeated and interleaved
// (the order rotates), cold (page cache dropped before each run, when this
// program may: root) and warm; it prints every time, the medians and the ratio.
// Target: hangar <= 0.5x qemu-img.
//
// Neither fsyncs its output: both leave writing it to disk to the kernel, as cp
// does. Two more contenders compare the durable variants: "hangar+sync" is
// `hangar disk convert --sync` (fsync before the rename, then of the directory) and
// "qemu-img+sync" is qemu-img followed by `sync --data` of its output.
//
// With -baseline OLDBIN, an older hangar binary is timed in the same runs too.
//
//	go run ./bench/convert [-size 4096] [-extents 256] [-extent-mib 4] [-align 4194304] [-runs 5] [-dir /tmp]
//	                       [-hangar BIN] [-baseline OLDBIN]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

// tool is one contender: a command.
type tool struct {
	name string
	out  string
	cmd  []string
}

// prebuilt and baseline are the -hangar and -baseline flags.
var prebuilt, baseline *string

func main() {
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	count := flag.Int64("extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	align := flag.Int64("align", 4<<20, "extent offsets are random multiples of this many bytes")
	runs := flag.Int("runs", 5, "timed runs per tool and cache state (median reported)")
	dir := flag.String("dir", os.TempDir(), "directory for the input and outputs")
	seed := flag.Uint64("seed", 1, "seed of the layout and the data")
	prebuilt = diskbench.HangarFlag()
	baseline = flag.String("baseline", "", "also time this (older) hangar binary in the same runs, for a before/after")
	flag.Parse()
	if err := run(*dir, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *runs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent string, size, count, extLen, align int64, runs int, seed uint64) error {
	if err := diskbench.NeedTool("qemu-img"); err != nil {
		return err
	}
	ws, err := diskbench.NewWorkspace(parent, "convert", *prebuilt, size, count, extLen, align, seed)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	dir, bin, in := ws.Dir, ws.Bin, ws.Input
	alloc, _ := diskbench.Allocated(in)
	fmt.Printf("input: raw, %d MiB virtual, %d MiB allocated in %d extents of %d MiB (offsets multiples of %d bytes, seed %d)\n",
		size>>20, alloc>>20, count, extLen>>20, align, seed)

	ours := filepath.Join(dir, "hangar.vhd")
	anchor := filepath.Join(dir, "qemu.vhd")
	// The first two are the benchmark; the two others are the durable variants.
	durable := filepath.Join(dir, "hangar-sync.vhd")
	tools := []tool{
		{name: "hangar", out: ours, cmd: []string{bin, "disk", "convert", in, ours, "--format", "vhd", "--no-progress", "-o", "json"}},
		{name: "qemu-img", out: anchor, cmd: []string{"qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size", in, anchor}},
		{name: "hangar+sync", out: durable, cmd: []string{bin, "disk", "convert", in, durable, "--format", "vhd", "--sync", "--no-progress", "-o", "json"}},
		{name: "qemu-img+sync", out: anchor, cmd: []string{"sh", "-c", "qemu-img convert -f raw -O vpc -o subformat=fixed,force_size \"$1\" \"$2\" && sync --data \"$2\"", "sh", in, anchor}},
	}
	if *baseline != "" {
		old := filepath.Join(dir, "baseline.vhd")
		tools = append(tools, tool{name: "baseline", out: old, cmd: []string{*baseline, "disk", "convert", in, old, "--format", "vhd", "--no-progress", "-o", "json"}})
	}
	fmt.Println("commands:")
	for _, t := range tools {
		fmt.Printf("  %s: %v\n", t.name, t.cmd)
	}
	modes := []string{"warm"}
	if diskbench.CanDropCaches() {
		modes = []string{"cold", "warm"}
	} else {
		fmt.Println("note: cannot drop the page cache (not root); warm runs only")
	}
	times := map[string]map[string][]time.Duration{}
	for _, mode := range modes {
		times[mode] = map[string][]time.Duration{}
		if mode == "warm" { // one untimed pass of each so the input is cached
			for _, t := range tools {
				os.Remove(t.out)
				if err := t.run(); err != nil {
					return err
				}
			}
		}
		for i := range runs {
			for k := range tools {
				t := tools[(i+k)%len(tools)] // alternate which tool goes first
				os.Remove(t.out)
				if mode == "cold" {
					if err := diskbench.DropCaches(); err != nil {
						return err
					}
				}
				load := diskbench.LoadAvg()
				d, err := diskbench.Time(t.run)
				if err != nil {
					return err
				}
				times[mode][t.name] = append(times[mode][t.name], d)
				fmt.Printf("  %s run %d %-8s %s (loadavg %s)\n", mode, i+1, t.name, diskbench.Sec(d), load)
			}
		}
	}
	// Every output must be the input's disk, as qemu-img reads it.
	for _, t := range tools {
		if t.name == "qemu-img+sync" {
			continue
		}
		if _, err := diskbench.Run(nil, "qemu-img", "compare", "-q", "-f", "raw", "-F", "vpc", in, t.out); err != nil {
			return fmt.Errorf("%s output differs from the input: %w", t.name, err)
		}
		a, _ := diskbench.Allocated(t.out)
		st, _ := os.Stat(t.out)
		fmt.Printf("verified: qemu-img compare -f raw -F vpc in.raw %s: identical (file %d bytes, %d MiB allocated)\n",
			filepath.Base(t.out), st.Size(), a>>20)
	}
	fmt.Println("results (median of", runs, "runs):")
	for _, mode := range modes {
		med := func(name string) time.Duration { return diskbench.Median(times[mode][name]) }
		fmt.Printf("  %s: hangar %s [%s]  qemu-img %s [%s]  ratio %s\n", mode,
			diskbench.Sec(med("hangar")), diskbench.Durations(times[mode]["hangar"]),
			diskbench.Sec(med("qemu-img")), diskbench.Durations(times[mode]["qemu-img"]),
			diskbench.Ratio(med("hangar"), med("qemu-img"), 0.5, true))
		fmt.Printf("  %s, durable: hangar --sync %s [%s]  qemu-img+sync %s [%s]  ratio %.2fx\n", mode,
			diskbench.Sec(med("hangar+sync")), diskbench.Durations(times[mode]["hangar+sync"]),
			diskbench.Sec(med("qemu-img+sync")), diskbench.Durations(times[mode]["qemu-img+sync"]),
			med("hangar+sync").Seconds()/med("qemu-img+sync").Seconds())
		if len(times[mode]["baseline"]) > 0 {
			fmt.Printf("  %s, before/after: baseline %s [%s] (%.2fx qemu-img); hangar is %.2fx faster\n", mode,
				diskbench.Sec(med("baseline")), diskbench.Durations(times[mode]["baseline"]),
				med("baseline").Seconds()/med("qemu-img").Seconds(), med("baseline").Seconds()/med("hangar").Seconds())
		}
	}
	return nil
}

// run runs the tool once.
func (t tool) run() error {
	_, err := diskbench.Run(nil, t.cmd[0], t.cmd[1:]...)
	return err
}
