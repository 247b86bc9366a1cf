// Command reupload measures what a new version of a disk costs to upload: the
// bench/convert input (a sparse raw file of 4 GiB holding 1 GiB of pseudo-random
// data) is uploaded to a real `hangar serve` on loopback (fresh data directory
// each run), then ten separate regions totalling 1% of the data are rewritten
// with new bytes (random 4 KiB-aligned places inside the data, fixed seed) and the
// file is uploaded again as a second disk of the same tenant. It prints the bytes
// the second upload sent (`upload.sentBytes`) against the bound: the rewritten
// regions rounded out to chunk boundaries (target: sent <= bound), the same bound
// for other chunk sizes (what they would have sent), and the time of the second
// upload (median of the runs).
//
//	go run ./bench/reupload [-size 4096] [-extents 256] [-regions 10] [-percent 1] [-runs 3] [-hangar BIN]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
	"github.com/hangarvm/hangar/internal/chunks"
)

// prebuilt is the -hangar flag.
var prebuilt *string

func main() {
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	count := flag.Int64("extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	align := flag.Int64("align", 4<<20, "extent offsets are random multiples of this many bytes")
	regions := flag.Int("regions", 10, "number of rewritten regions")
	percent := flag.Float64("percent", 1, "rewritten bytes, percent of the data")
	runs := flag.Int("runs", 3, "runs (median time reported)")
	dir := flag.String("dir", os.TempDir(), "directory for the input and the server's data")
	seed := flag.Uint64("seed", 1, "seed of the layout, the data and the regions")
	prebuilt = diskbench.HangarFlag()
	flag.Parse()
	if err := run(*dir, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *regions, *percent, *runs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent string, size, count, extLen, align int64, nRegions int, percent float64, runs int, seed uint64) error {
	ws, err := diskbench.NewWorkspace(parent, "reupload", *prebuilt, size, count, extLen, align, seed)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	dir, bin, in, exts := ws.Dir, ws.Bin, ws.Input, ws.Extents
	data := count * extLen
	regions, err := diskbench.PickRegions(exts, nRegions, int64(float64(data)*percent/100), seed)
	if err != nil {
		return err
	}
	var rewritten int64
	for _, r := range regions {
		rewritten += r.Length
	}
	fmt.Printf("input: raw, %d MiB virtual, %d MiB of data in %d extents; %d regions rewritten, %d bytes (%.2f%% of the data):\n",
		size>>20, data>>20, count, len(regions), rewritten, float64(rewritten)/float64(data)*100)
	for _, r := range regions {
		fmt.Printf("    offset %d, %d bytes\n", r.Offset, r.Length)
	}
	fmt.Printf("commands: %s disk upload in.raw --name v1 -o json; rewrite the regions; %s disk upload in.raw --name v2 -o json\n", bin, bin)

	var times []time.Duration
	var sent int64
	for i := range runs {
		srv, err := diskbench.StartServer(bin, filepath.Join(dir, "srv"+strconv.Itoa(i)))
		if err != nil {
			return err
		}
		first, _, err := srv.Upload(bin, in, "v1")
		if err == nil {
			var saved [][]byte
			if saved, err = diskbench.Rewrite(in, regions, seed+uint64(i)+1); err == nil {
				var second diskbench.UploadResult
				var d time.Duration
				second, d, err = srv.Upload(bin, in, "v2")
				if err == nil {
					sent = second.Upload.SentBytes
					times = append(times, d)
					fmt.Printf("  run %d: first upload sent %d bytes; second upload sent %d bytes in %s (loadavg %s)\n",
						i+1, first.Upload.SentBytes, sent, diskbench.Sec(d), diskbench.LoadAvg())
				}
				if rerr := diskbench.Restore(in, regions, saved); err == nil {
					err = rerr
				}
			}
		}
		srv.Stop()
		os.RemoveAll(srv.DataDir)
		if err != nil {
			return err
		}
	}
	bound := roundOut(regions, chunks.ChunkSize, size)
	verdict := "met"
	if sent > bound {
		verdict = "MISSED"
	}
	fmt.Printf("results (median of %d runs):\n", runs)
	fmt.Printf("  second upload: %s [%s]\n", diskbench.Sec(diskbench.Median(times)), diskbench.Durations(times))
	fmt.Printf("  bytes: sent %d; bound (regions rounded out to %d MiB chunks) %d: target sent <= bound: %s\n",
		sent, chunks.ChunkSize>>20, bound, verdict)
	fmt.Printf("  the same bound for other chunk sizes (bytes a re-upload would send):")
	for _, cs := range []int64{256 << 10, 1 << 20, 4 << 20, 16 << 20} {
		fmt.Printf("  %d KiB: %d (%.1fx rewritten)", cs>>10, roundOut(regions, cs, size), float64(roundOut(regions, cs, size))/float64(rewritten))
	}
	fmt.Println()
	return nil
}

// roundOut is the bytes of the chunks of chunkSize that the regions touch.
func roundOut(regions []diskbench.Extent, chunkSize, size int64) int64 {
	touched := map[int64]bool{}
	var n int64
	for _, r := range regions {
		for c := r.Offset / chunkSize; c <= (r.Offset+r.Length-1)/chunkSize; c++ {
			if !touched[c] {
				touched[c] = true
				n += min(chunkSize, size-c*chunkSize)
			}
		}
	}
	return n
}
