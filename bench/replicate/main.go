// Command replicate measures the replication of a new image version to a region that
// already holds the previous version, against a full copy of the image with cp.
//
// The input is the bench/convert disk (a sparse raw file of 4 GiB holding 1 GiB of
// pseudo-random data). A real `hangar serve` on loopback has a second region whose
// chunk store is a directory on the same file system as the primary's. Each run
// (fresh data directory): upload the disk, make it version 1.0.0 of an image,
// replicate that to the region; rewrite ten separate regions totalling 1% of the data
// (as bench/reupload does), upload and make it version 2.0.0; then time
// `hangar image replicate img 2.0.0 --region west` until the region shows Completed.
// The anchor, in the same run, is `cp --sparse=always` of the 2.0.0 disk file, then
// `sync` of the copy (Hangar's directory store syncs each chunk it writes). It prints
// the bytes each copied and the time, with their ratios.
//
//	go run ./bench/replicate [-size 4096] [-extents 256] [-runs 3] [-hangar BIN]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

func main() {
	sizeMiB := flag.Int64("size", 4096, "virtual size of the input, MiB")
	count := flag.Int64("extents", 256, "number of data extents")
	extMiB := flag.Int64("extent-mib", 4, "size of each extent, MiB")
	align := flag.Int64("align", 4<<20, "extent offsets are random multiples of this many bytes")
	regions := flag.Int("regions", 10, "number of rewritten regions")
	percent := flag.Float64("percent", 1, "rewritten bytes, percent of the data")
	runs := flag.Int("runs", 3, "runs (median reported)")
	dir := flag.String("dir", os.TempDir(), "directory for the input, the server's data and the copies")
	seed := flag.Uint64("seed", 1, "seed of the layout, the data and the regions")
	prebuilt := diskbench.HangarFlag()
	flag.Parse()
	if err := run(*dir, *prebuilt, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *regions, *percent, *runs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type replica struct {
	Region      string `json:"region"`
	State       string `json:"state"`
	TotalBytes  int64  `json:"totalBytes"`
	CopiedBytes int64  `json:"copiedBytes"`
}

func run(parent, prebuilt string, size, count, extLen, align int64, nRegions int, percent float64, runs int, seed uint64) error {
	ws, err := diskbench.NewWorkspace(parent, "replicate", prebuilt, size, count, extLen, align, seed)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	dir, bin, in := ws.Dir, ws.Bin, ws.Input
	data := count * extLen
	regions, err := diskbench.PickRegions(ws.Extents, nRegions, int64(float64(data)*percent/100), seed)
	if err != nil {
		return err
	}
	fmt.Printf("input: raw, %d MiB virtual, %d MiB of data in %d extents; version 2.0.0 rewrites %d regions (%.2f%% of the data)\n",
		size>>20, data>>20, count, len(regions), percent)
	fmt.Printf("commands: %s image replicate img 2.0.0 --region west -o json  vs  cp --sparse=always v2.raw copy.raw && sync copy.raw\n", bin)

	var ours, cps []time.Duration
	var copied, cpBytes, total int64
	for i := range runs {
		west := filepath.Join(dir, "west"+strconv.Itoa(i))
		srv, err := diskbench.StartServer(bin, filepath.Join(dir, "srv"+strconv.Itoa(i)), "--region-store", "west=file://"+west)
		if err != nil {
			return err
		}
		r, d, cpD, err := oneRun(srv, bin, in, filepath.Join(dir, "copy.raw"), regions, seed+uint64(i)+1)
		srv.Stop()
		os.RemoveAll(srv.DataDir)
		os.RemoveAll(west)
		if err != nil {
			return err
		}
		if cpBytes, err = diskbench.Allocated(in); err != nil {
			return err
		}
		copied, total = r.CopiedBytes, r.TotalBytes
		ours, cps = append(ours, d), append(cps, cpD)
		fmt.Printf("  run %d: replicate 2.0.0: %d of its %d bytes copied in %s; cp: %d bytes in %s (loadavg %s)\n",
			i+1, copied, total, diskbench.Sec(d), cpBytes, diskbench.Sec(cpD), diskbench.LoadAvg())
	}
	o, c := diskbench.Median(ours), diskbench.Median(cps)
	fmt.Printf("results (median of %d runs):\n", runs)
	fmt.Printf("  replicate: %s [%s]; cp + sync: %s [%s]\n", diskbench.Sec(o), diskbench.Durations(ours), diskbench.Sec(c), diskbench.Durations(cps))
	fmt.Printf("  bytes copied: %d vs %d: ratio %.4f\n", copied, cpBytes, float64(copied)/float64(cpBytes))
	fmt.Printf("  time: ratio %.3f\n", o.Seconds()/c.Seconds())
	return nil
}

// oneRun makes versions 1.0.0 (replicated) and 2.0.0 on srv and times the replication
// of 2.0.0 and the cp of its file. It leaves the input as it found it.
func oneRun(srv *diskbench.Server, bin, in, copyPath string, regions []diskbench.Extent, seed uint64) (replica, time.Duration, time.Duration, error) {
	env := srv.Env()
	hangar := func(args ...string) ([]byte, error) { return diskbench.Run(env, bin, args...) }
	if _, _, err := srv.Upload(bin, in, "v1"); err != nil {
		return replica{}, 0, 0, err
	}
	image := func(version, disk string) error {
		_, err := hangar("image", "create", "--name", "img", "--type", "os", "--os-type", "linux", "--os-state", "generalized",
			"--os-disk", disk, "--version", version)
		return err
	}
	if err := image("1.0.0", "v1"); err != nil {
		return replica{}, 0, 0, err
	}
	if _, err := hangar("image", "replicate", "img", "1.0.0", "--region", "west", "-o", "json"); err != nil {
		return replica{}, 0, 0, err
	}
	saved, err := diskbench.Rewrite(in, regions, seed)
	if err != nil {
		return replica{}, 0, 0, err
	}
	defer diskbench.Restore(in, regions, saved) //nolint:errcheck // the next run would fail on a changed input anyway
	if _, _, err := srv.Upload(bin, in, "v2"); err != nil {
		return replica{}, 0, 0, err
	}
	if err := image("2.0.0", "v2"); err != nil {
		return replica{}, 0, 0, err
	}
	var out []byte
	ours, err := diskbench.Time(func() error {
		out, err = hangar("image", "replicate", "img", "2.0.0", "--region", "west", "-o", "json")
		return err
	})
	if err != nil {
		return replica{}, 0, 0, err
	}
	var st []replica
	if err := json.Unmarshal(out, &st); err != nil || len(st) != 2 || st[1].State != "Completed" {
		return replica{}, 0, 0, fmt.Errorf("replication report %s: %v", out, err)
	}
	os.Remove(copyPath)
	cp, err := diskbench.Time(func() error {
		if _, err := diskbench.Run(nil, "cp", "--sparse=always", in, copyPath); err != nil {
			return err
		}
		_, err := diskbench.Run(nil, "sync", copyPath)
		return err
	})
	os.Remove(copyPath)
	return st[1], ours, cp, err
}
