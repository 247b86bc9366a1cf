// Command serverrss measures the peak resident memory of a real `hangar serve`
// (fresh data directory) while it receives a dense 8 GiB upload: a raw file of
// pseudo-random data (AES-CTR with a fixed seed), sent by `hangar disk upload`
// over loopback. It reads VmHWM from /proc/PID/status of the server once the
// upload is committed, and samples VmRSS during the upload. Target: peak < 256 MiB.
//
//	go run ./bench/serverrss [-size 8192] [-connections 8] [-runs 1] [-hangar BIN]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
	"github.com/hangarvm/hangar/internal/client"
)

// prebuilt is the -hangar flag.
var prebuilt *string

func main() {
	sizeMiB := flag.Int64("size", 8192, "size of the dense input, MiB")
	conns := flag.Int("connections", client.DefaultConnections, "hangar disk upload --connections")
	runs := flag.Int("runs", 1, "uploads, each to a fresh server (the largest peak is reported)")
	dir := flag.String("dir", os.TempDir(), "directory for the input and the server's data")
	seed := flag.Uint64("seed", 1, "seed of the data")
	prebuilt = diskbench.HangarFlag()
	flag.Parse()
	if err := run(*dir, *sizeMiB*diskbench.MiB, *conns, *runs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(parent string, size int64, conns, runs int, seed uint64) error {
	dir, err := os.MkdirTemp(parent, "hangar-bench-serverrss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("machine:", diskbench.Machine(dir))
	bin, err := diskbench.Hangar(dir, *prebuilt)
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "dense.raw")
	start := time.Now()
	if err := writeDense(in, size, seed); err != nil {
		return err
	}
	fmt.Printf("input: raw, %d MiB of pseudo-random data (no holes, no zero chunks), written in %s\n",
		size>>20, time.Since(start).Round(time.Millisecond))
	fmt.Printf("command: %s disk upload dense.raw --name dense --connections %d -o json, to a fresh hangar serve on 127.0.0.1\n", bin, conns)
	var worst int64
	for i := range runs {
		srv, err := diskbench.StartServer(bin, filepath.Join(dir, "srv"+strconv.Itoa(i)))
		if err != nil {
			return err
		}
		idle, _ := srv.RSS()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var samples []int64
		wg.Add(1)
		go func() { // sample the resident size while the upload runs
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if rss, err := srv.RSS(); err == nil {
						samples = append(samples, rss)
					}
				}
			}
		}()
		res, d, err := srv.Upload(bin, in, "dense", "--connections", strconv.Itoa(conns))
		close(stop)
		wg.Wait()
		peak, perr := srv.PeakRSS()
		srv.Stop()
		os.RemoveAll(srv.DataDir)
		if err != nil {
			return err
		}
		if perr != nil {
			return perr
		}
		var maxSample int64
		for _, s := range samples {
			maxSample = max(maxSample, s)
		}
		worst = max(worst, peak)
		fmt.Printf("  run %d: sent %d bytes in %s (%.0f MiB/s); server RSS idle %d MiB, largest sample %d MiB, peak (VmHWM) %d MiB\n",
			i+1, res.Upload.SentBytes, diskbench.Sec(d), float64(res.Upload.SentBytes)/d.Seconds()/float64(diskbench.MiB),
			idle>>20, maxSample>>20, peak>>20)
	}
	verdict := "met"
	if worst >= 256*diskbench.MiB {
		verdict = "MISSED"
	}
	fmt.Printf("result: server peak RSS %d MiB (target < 256 MiB: %s)\n", worst>>20, verdict)
	return nil
}

// writeDense writes size bytes of Stream(seed) to path and fsyncs it.
func writeDense(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(f, diskbench.Stream(seed), size); err != nil {
		return err
	}
	return f.Sync()
}
