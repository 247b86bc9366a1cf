// Command syndicate measures the syndication of a new marketplace version from one
// installation to another that already pulled the previous version, against rsync of
// the two image files between the same two directories.
//
// The input is the bench/convert disk (a sparse raw file of 4 GiB holding 1 GiB of
// pseudo-random data). Each run starts two `hangar serve` on loopback, each with its
// own data directory: the upstream publishes the disk as Bench:Img:std:1.0.0 and the
// subscriber pulls it (`hangar marketplace syndicate`); then ten separate regions
// totalling 1% of the data are rewritten (as bench/reupload does), the upstream
// publishes the new file as 2.0.0, and the subscriber's pull of 2.0.0 is timed until
// Completed. The anchor, in the same run: the 1.0.0 file is in a destination
// directory, and `rsync --no-whole-file --ignore-times` (its delta transfer, which
// local copies skip by default; and no quick check, which a rewrite within the same
// second as the copy would fool) brings the 2.0.0 file there under the same name, then `sync` of it
// (Hangar's directory store syncs each chunk it writes). It prints the bytes
// each sent (Hangar: the chunks copied; rsync: its "Literal data") and the times,
// with their ratios (targets: bytes at most the changed chunks', time at most 0.5x).
//
//	go run ./bench/syndicate [-size 4096] [-extents 256] [-runs 3] [-hangar BIN]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	dir := flag.String("dir", os.TempDir(), "directory for the input, the servers' data and the copies")
	seed := flag.Uint64("seed", 1, "seed of the layout, the data and the regions")
	prebuilt := diskbench.HangarFlag()
	flag.Parse()
	if err := diskbench.NeedTool("rsync"); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	if err := run(*dir, *prebuilt, *sizeMiB*diskbench.MiB, *count, *extMiB*diskbench.MiB, *align, *regions, *percent, *runs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type job struct {
	URN          string `json:"urn"`
	State        string `json:"state"`
	TotalBytes   int64  `json:"totalBytes"`
	CopiedBytes  int64  `json:"copiedBytes"`
	CopiedChunks int64  `json:"copiedChunks"`
}

type result struct {
	job           job
	ours, rsync   time.Duration
	rsyncLiteral  int64
	changedChunks int64
	changedBytes  int64
}

func run(parent, prebuilt string, size, count, extLen, align int64, nRegions int, percent float64, runs int, seed uint64) error {
	ws, err := diskbench.NewWorkspace(parent, "syndicate", prebuilt, size, count, extLen, align, seed)
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws.Dir)
	data := count * extLen
	regions, err := diskbench.PickRegions(ws.Extents, nRegions, int64(float64(data)*percent/100), seed)
	if err != nil {
		return err
	}
	fmt.Printf("input: raw, %d MiB virtual, %d MiB of data in %d extents; version 2.0.0 rewrites %d regions (%.2f%% of the data)\n",
		size>>20, data>>20, count, len(regions), percent)
	fmt.Printf("commands: %s marketplace syndicate up Bench:Img:std:2.0.0 -o json  vs  rsync --no-whole-file --ignore-times --sparse --stats v2.raw dest/img.raw (dest/img.raw: v1)\n", ws.Bin)
	var ours, rsyncs []time.Duration
	var last result
	for i := range runs {
		r, err := oneRun(ws, filepath.Join(ws.Dir, "run"+strconv.Itoa(i)), regions, seed+uint64(i)+1)
		if err != nil {
			return err
		}
		last = r
		ours, rsyncs = append(ours, r.ours), append(rsyncs, r.rsync)
		fmt.Printf("  run %d: syndicate 2.0.0: %d chunks, %d bytes copied (changed: %d chunks, %d bytes) in %s; rsync: %d literal bytes in %s (loadavg %s)\n",
			i+1, r.job.CopiedChunks, r.job.CopiedBytes, r.changedChunks, r.changedBytes, diskbench.Sec(r.ours), r.rsyncLiteral, diskbench.Sec(r.rsync), diskbench.LoadAvg())
	}
	o, c := diskbench.Median(ours), diskbench.Median(rsyncs)
	fmt.Printf("results (median of %d runs):\n", runs)
	fmt.Printf("  syndicate: %s [%s]; rsync: %s [%s]\n", diskbench.Sec(o), diskbench.Durations(ours), diskbench.Sec(c), diskbench.Durations(rsyncs))
	fmt.Printf("  bytes: %d copied vs %d in the changed chunks: %s; rsync sent %d literal bytes\n",
		last.job.CopiedBytes, last.changedBytes, diskbench.RatioOf(float64(last.job.CopiedBytes)/float64(last.changedBytes), 1, true), last.rsyncLiteral)
	fmt.Printf("  time: %s\n", diskbench.Ratio(o, c, 0.5, true))
	return nil
}

func oneRun(ws *diskbench.Workspace, dir string, regions []diskbench.Extent, seed uint64) (result, error) {
	var r result
	defer os.RemoveAll(dir)
	up, err := diskbench.StartServer(ws.Bin, filepath.Join(dir, "up"))
	if err != nil {
		return r, err
	}
	defer up.Stop()
	down, err := diskbench.StartServer(ws.Bin, filepath.Join(dir, "down"))
	if err != nil {
		return r, err
	}
	defer down.Stop()
	onUp := func(args ...string) ([]byte, error) { return diskbench.Run(up.Env(), ws.Bin, args...) }
	onDown := func(args ...string) ([]byte, error) { return diskbench.Run(down.Env(), ws.Bin, args...) }
	publish := func(version, disk string) error {
		if _, _, err := up.Upload(ws.Bin, ws.Input, disk); err != nil {
			return err
		}
		if _, err := onUp("image", "create", "--name", "img", "--type", "os", "--os-type", "linux", "--os-state", "generalized",
			"--os-disk", disk, "--version", version); err != nil {
			return err
		}
		_, err := onUp("marketplace", "publish", "--urn", "Bench:Img:std:"+version, "--image", "img@"+version)
		return err
	}
	if err := publish("1.0.0", "v1"); err != nil {
		return r, err
	}
	out, err := onUp("admin", "signing-key", "-o", "json")
	if err != nil {
		return r, err
	}
	var key struct {
		PublicKey string `json:"publicKey"`
	}
	if err := json.Unmarshal(out, &key); err != nil {
		return r, err
	}
	if _, err := onDown("marketplace", "upstream", "add", "up", "--url", up.URL, "--key", diskbench.AdminKey, "--public-key", key.PublicKey); err != nil {
		return r, err
	}
	if _, err := onDown("marketplace", "syndicate", "up", "Bench:Img:std:1.0.0", "-o", "json"); err != nil {
		return r, err
	}
	// The anchor's destination holds version 1.0.0's file.
	dest := filepath.Join(dir, "dest")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return r, err
	}
	if _, err := diskbench.Run(nil, "cp", "--sparse=always", ws.Input, filepath.Join(dest, "img.raw")); err != nil {
		return r, err
	}
	saved, err := diskbench.Rewrite(ws.Input, regions, seed)
	if err != nil {
		return r, err
	}
	defer diskbench.Restore(ws.Input, regions, saved) //nolint:errcheck // the next run would fail on a changed input anyway
	for _, reg := range regions {
		first, last := reg.Offset/(4<<20), (reg.Offset+reg.Length-1)/(4<<20)
		r.changedChunks += last - first + 1
	}
	r.changedBytes = r.changedChunks * (4 << 20)
	if err := publish("2.0.0", "v2"); err != nil {
		return r, err
	}
	r.ours, err = diskbench.Time(func() error {
		out, err = onDown("marketplace", "syndicate", "up", "Bench:Img:std:2.0.0", "-o", "json")
		return err
	})
	if err != nil {
		return r, err
	}
	var res struct {
		Jobs []job `json:"jobs"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Jobs) != 1 || res.Jobs[0].State != "Completed" {
		return r, fmt.Errorf("syndication report %s: %v", out, err)
	}
	r.job = res.Jobs[0]
	// rsync from the input's own directory to dest, under dest's name.
	src := filepath.Join(dir, "img.raw")
	if err := os.Link(ws.Input, src); err != nil {
		return r, err
	}
	r.rsync, err = diskbench.Time(func() error {
		if out, err = diskbench.Run(nil, "rsync", "--no-whole-file", "--ignore-times", "--sparse", "--stats", src, dest+"/"); err != nil {
			return err
		}
		// Hangar's directory store syncs each chunk it writes.
		_, err := diskbench.Run(nil, "sync", filepath.Join(dest, "img.raw"))
		return err
	})
	if err != nil {
		return r, err
	}
	if m := regexp.MustCompile(`Literal data: ([0-9,.]+) bytes`).FindSubmatch(out); m != nil {
		r.rsyncLiteral, _ = strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64)
	}
	return r, nil
}
