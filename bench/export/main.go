// Command export benchmarks Hangar's VHDX and streamOptimized VMDK writers
// (`hangar disk convert IN OUT --format vhdx|vmdk`, the real binary, built by this
// program) against the anchor, qemu-img writing the same format
// (`qemu-img convert -f raw -O vhdx -o subformat=dynamic`, and
// `-O vmdk -o subformat=streamOptimized`), on the same input in the same run: a
// sparse raw file holding pseudo-random data in extents at random offsets (fixed
// seed). Pseudo-random data does not compress: the VMDK numbers are deflate's
// worst case on both sides. Each output is checked with qemu-img compare; runs are
// warm, interleaved, and the medians, their ratio and the output sizes printed.
//
//	go run ./bench/export [-size 1024] [-extents 64] [-extent-mib 4] [-runs 3] [-dir /tmp] [-hangar BIN]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

func main() {
	sizeMiB := flag.Int64("size", 1024, "virtual size of the input, MiB")
	count := flag.Int64("extents", 64, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	runs := flag.Int("runs", 3, "timed runs per tool (median reported)")
	dir := flag.String("dir", os.TempDir(), "directory for the input and outputs")
	prebuilt := diskbench.HangarFlag()
	flag.Parse()
	if err := run(*dir, *prebuilt, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent, prebuilt string, size, count, extLen int64, runs int) error {
	if err := diskbench.NeedTool("qemu-img"); err != nil {
		return err
	}
	ws, err := diskbench.NewWorkspace(parent, "export", prebuilt, size, count, extLen, 4<<20, 1)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	alloc, _ := diskbench.Allocated(ws.Input)
	fmt.Printf("input: raw, %d MiB virtual, %d MiB allocated in %d extents of %d MiB\n", size>>20, alloc>>20, count, extLen>>20)
	for _, f := range []struct{ format, qemuOpts string }{{"vhdx", "subformat=dynamic"}, {"vmdk", "subformat=streamOptimized"}} {
		ours, anchor := filepath.Join(ws.Dir, "hangar."+f.format), filepath.Join(ws.Dir, "qemu."+f.format)
		cmds := map[string][]string{
			"hangar":   {ws.Bin, "disk", "convert", ws.Input, ours, "--format", f.format, "--no-progress", "-o", "json"},
			"qemu-img": {"qemu-img", "convert", "-f", "raw", "-O", f.format, "-o", f.qemuOpts, ws.Input, anchor},
		}
		outs := map[string]string{"hangar": ours, "qemu-img": anchor}
		names := []string{"hangar", "qemu-img"}
		times := map[string][]time.Duration{}
		for i := range runs + 1 { // the first pass warms the cache, untimed
			for k := range names {
				name := names[(i+k)%2]
				os.Remove(outs[name])
				d, err := diskbench.Time(func() error { _, err := diskbench.Run(nil, cmds[name][0], cmds[name][1:]...); return err })
				if err != nil {
					return err
				}
				if i > 0 {
					times[name] = append(times[name], d)
				}
			}
		}
		for _, name := range names {
			if _, err := diskbench.Run(nil, "qemu-img", "compare", "-q", "-f", "raw", "-F", f.format, ws.Input, outs[name]); err != nil {
				return fmt.Errorf("%s's %s differs from the input: %w", name, f.format, err)
			}
		}
		st1, _ := os.Stat(ours)
		st2, _ := os.Stat(anchor)
		h, q := diskbench.Median(times["hangar"]), diskbench.Median(times["qemu-img"])
		fmt.Printf("%s: hangar %s [%s] %d MiB, qemu-img %s [%s] %d MiB, ratio %.2fx (both verified by qemu-img compare)\n",
			f.format, diskbench.Sec(h), diskbench.Durations(times["hangar"]), st1.Size()>>20,
			diskbench.Sec(q), diskbench.Durations(times["qemu-img"]), st2.Size()>>20, h.Seconds()/q.Seconds())
	}
	return nil
}
