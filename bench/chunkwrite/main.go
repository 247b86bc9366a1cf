// Command chunkwrite measures ways for the directory chunk store to write an
// upload's chunks durably, on the file system of -dir, alternating in the same run:
//
//   - fsync-each: the recipe before group commit: temp file, write, fsync, rename,
//     fsync of the directory, for every chunk;
//   - group: temp file, write, sync_file_range(WRITE) to start write-back, rename;
//     at the end every file fsynced, then each directory (what dirstore does now);
//   - group-odirect: the same, but written with O_DIRECT from the 4 KiB-aligned
//     buffer (no copy into the page cache), then fsynced at the end;
//   - group-nosfr: group without sync_file_range (write-back left to the kernel
//     until the fsyncs at the end).
//
// Each run writes -chunks chunks of 4 MiB of pseudo-random data (one buffer per
// writer, -writers at once, as the server's handlers do) into a fresh directory,
// and reports the wall time and this process's CPU time (user + system).
//
//	go run ./bench/chunkwrite [-chunks 256] [-writers 4] [-runs 5] [-dir DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

const chunkSize = 4 << 20

func main() {
	chunks := flag.Int("chunks", 256, "chunks of 4 MiB per run")
	writers := flag.Int("writers", 4, "chunks written at once")
	runs := flag.Int("runs", 5, "runs per method")
	dir := flag.String("dir", os.TempDir(), "directory on the file system to measure")
	flag.Parse()
	if err := run(*dir, *chunks, *writers, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// method writes one chunk (sync: fsync it at once) and finishes a run.
type method struct {
	name   string
	direct bool // open with O_DIRECT
	sfr    bool // start write-back with sync_file_range after writing
	each   bool // fsync file and directory per chunk
}

func run(parent string, n, writers, runs int) error {
	dir, err := os.MkdirTemp(parent, "hangar-bench-chunkwrite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("machine:", diskbench.Machine(dir))
	fmt.Printf("each run: %d chunks of 4 MiB (%d MiB), %d writers\n", n, n*chunkSize>>20, writers)
	bufs := make([][]byte, writers)
	src := diskbench.Stream(1)
	for i := range bufs {
		bufs[i] = alignedBuffer(chunkSize)
		if _, err := src.Read(bufs[i]); err != nil {
			return err
		}
	}
	ms := []method{
		{name: "fsync-each", each: true},
		{name: "group", sfr: true},
		{name: "group-nosfr"},
		{name: "group-odirect", direct: true},
	}
	times := map[string][]time.Duration{}
	cpus := map[string][]time.Duration{}
	for r := range runs {
		for k := range ms {
			m := ms[(r+k)%len(ms)]
			out := filepath.Join(dir, "run")
			os.RemoveAll(out)
			syscall.Sync() // start each run without the previous one's dirty pages
			load := diskbench.LoadAvg()
			cpu0 := cpuTime()
			d, err := diskbench.Time(func() error { return writeAll(out, m, n, bufs) })
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			cpu := cpuTime() - cpu0
			times[m.name] = append(times[m.name], d)
			cpus[m.name] = append(cpus[m.name], cpu)
			fmt.Printf("  run %d %-14s %s  CPU %s  %4.0f MiB/s (loadavg %s)\n", r+1, m.name, diskbench.Sec(d), diskbench.Sec(cpu),
				float64(n*chunkSize)/d.Seconds()/float64(diskbench.MiB), load)
		}
	}
	fmt.Printf("results (median of %d runs):\n", runs)
	base := diskbench.Median(times["fsync-each"])
	for _, m := range ms {
		t := diskbench.Median(times[m.name])
		fmt.Printf("  %-14s %s [%s]  CPU %s  %4.0f MiB/s  %.2fx fsync-each\n", m.name, diskbench.Sec(t), diskbench.Durations(times[m.name]),
			diskbench.Sec(diskbench.Median(cpus[m.name])), float64(n*chunkSize)/t.Seconds()/float64(diskbench.MiB), t.Seconds()/base.Seconds())
	}
	return nil
}

// writeAll writes n chunks into fresh fan-out directories under out with m.
func writeAll(out string, m method, n int, bufs [][]byte) error {
	tmp := filepath.Join(out, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	names := make([]string, n)
	errs := make([]error, len(bufs))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for w := range bufs {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				name := fmt.Sprintf("%02x%062d", k%256, k)
				names[k] = filepath.Join(out, name[:2], name)
				if err := writeOne(tmp, names[k], m, bufs[w]); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if m.each {
		return nil
	}
	dirs := map[string]bool{}
	for _, p := range names {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return syncDir(out)
}

func writeOne(tmp, final string, m method, buf []byte) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if m.direct {
		flags |= syscall.O_DIRECT
	}
	t := filepath.Join(tmp, filepath.Base(final)+"-"+strconv.Itoa(os.Getpid()))
	f, err := os.OpenFile(t, flags, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(buf); err != nil {
		return err
	}
	if m.sfr {
		unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE) //nolint:errcheck // a hint
	}
	if m.each {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := os.Rename(t, final); err != nil {
		return err
	}
	if m.each {
		return syncDir(filepath.Dir(final))
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// alignedBuffer returns n bytes starting at a 4 KiB boundary, as O_DIRECT needs.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+4096)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 4095)
	return b[off : off+n : off+n]
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
