// Package diskbench holds what the disk data-path benchmarks (bench/convert,
// bench/upload, bench/reupload, bench/hashing, bench/serverrss) share: building
// the real hangar binary, generating sparse and dense inputs from a seeded
// stream, running the anchor (qemu-img) and our command side by side, dropping the
// page cache, starting a real `hangar serve` and reading its peak RSS, medians and
// a description of the machine.
package diskbench

import (
	"bytes"
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// MiB and GiB are byte counts.
const (
	MiB = int64(1) << 20
	GiB = int64(1) << 30
)

// Root returns the module root (the directory holding go.mod).
func Root() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark from inside the hangar module")
	}
	return filepath.Dir(mod), nil
}

// BuildHangar builds ./cmd/hangar into dir and returns the binary's path.
func BuildHangar(dir string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hangar")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hangar")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hangar: %w", err)
	}
	return bin, nil
}

// HangarFlag is the -hangar flag every benchmark takes: a prebuilt binary to
// measure instead of building ./cmd/hangar (to compare with an older version).
func HangarFlag() *string {
	return flag.String("hangar", "", "measure this hangar binary instead of building ./cmd/hangar")
}

// Hangar returns prebuilt when set, else builds ./cmd/hangar into dir.
func Hangar(dir, prebuilt string) (string, error) {
	if prebuilt != "" {
		return filepath.Abs(prebuilt)
	}
	return BuildHangar(dir)
}

// NeedTool fails when name is not on PATH.
func NeedTool(name string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%s is needed (apt-get install qemu-utils): %w", name, err)
	}
	return nil
}

// Stream returns a fast deterministic stream of pseudo-random bytes: AES-128-CTR
// keyed by seed (several GB/s with AES-NI, so generating inputs stays cheap).
func Stream(seed uint64) io.Reader {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "hangarbn")
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err)
	}
	var iv [16]byte
	return &cipher.StreamReader{S: cipher.NewCTR(block, iv[:]), R: zeroReader{}}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Extent is a byte range of a file.
type Extent struct{ Offset, Length int64 }

// Layout picks count non-overlapping extents of length bytes in a file of size
// bytes, at random offsets that are multiples of align, with a fixed seed. They
// are returned sorted.
func Layout(size, count, length, align int64, seed uint64) ([]Extent, error) {
	if align <= 0 || length <= 0 || count*length > size {
		return nil, fmt.Errorf("cannot place %d extents of %d bytes in %d bytes", count, length, size)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	slots := (size - length) / align // possible start positions
	var exts []Extent
	for tries := 0; int64(len(exts)) < count; tries++ {
		if tries > 1000*int(count) {
			return nil, fmt.Errorf("could not place %d extents of %d bytes in %d bytes", count, length, size)
		}
		off := rng.Int64N(slots+1) * align
		overlaps := false
		for _, e := range exts {
			if off < e.Offset+e.Length && e.Offset < off+length {
				overlaps = true
				break
			}
		}
		if !overlaps {
			exts = append(exts, Extent{off, length})
		}
	}
	slices.SortFunc(exts, func(a, b Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	return exts, nil
}

// WriteSparse creates path as a sparse file of size bytes whose extents hold
// pseudo-random data from Stream(seed); the rest are holes. It fsyncs the file.
func WriteSparse(path string, size int64, exts []Extent, seed uint64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	src := Stream(seed)
	buf := make([]byte, 4*MiB)
	for _, e := range exts {
		for done := int64(0); done < e.Length; {
			p := buf[:min(int64(len(buf)), e.Length-done)]
			io.ReadFull(src, p) //nolint:errcheck // never fails
			if _, err := f.WriteAt(p, e.Offset+done); err != nil {
				return err
			}
			done += int64(len(p))
		}
	}
	return f.Sync()
}

// Allocated returns the bytes of data the file system stores for path (st_blocks).
func Allocated(path string) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// DropCaches writes back dirty pages and drops the page cache (needs root).
func DropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// CanDropCaches reports whether DropCaches works here.
func CanDropCaches() bool { return DropCaches() == nil }

// Run runs a command, returning its standard output and, on failure, an error
// carrying its standard error.
func Run(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Time runs fn and returns how long it took.
func Time(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// Median returns the median of xs (the mean of the middle two for an even count).
func Median[T time.Duration | float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Durations formats a list of durations for a report line.
func Durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = Sec(d)
	}
	return strings.Join(parts, " ")
}

// Sec formats a duration in seconds with millisecond precision.
func Sec(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// Machine describes the machine and the file system holding dir, for the report.
func Machine(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "nproc=%d GOMAXPROCS=%d", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		fmt.Fprintf(&b, " kernel=%s", strings.TrimSpace(string(out)))
	}
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(&b, " cpu=%q", cpu)
	}
	fmt.Fprintf(&b, " fs(%s)=%s", dir, fsType(dir))
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		if len(f) >= 3 {
			fmt.Fprintf(&b, " loadavg=%s,%s,%s", f[0], f[1], f[2])
		}
	}
	fmt.Fprintf(&b, " go=%s", runtime.Version())
	return b.String()
}

// LoadAvg returns the one-minute load average (other users of the machine).
func LoadAvg() string {
	la, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(la))[0]
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "?"
	}
	names := map[int64]string{
		0xEF53: "ext4", 0x58465342: "xfs", 0x01021994: "tmpfs", 0x9123683E: "btrfs",
		0x794c7630: "overlayfs", 0x2FC12FC1: "zfs", 0x6969: "nfs", 0xF2F52010: "f2fs",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("%#x", st.Type)
}

// Ratio formats ours/anchor with the target, e.g. "0.42x (target <= 0.50x: met)".
func Ratio(ours, anchor time.Duration, target float64, atMost bool) string {
	r := ours.Seconds() / anchor.Seconds()
	return RatioOf(r, target, atMost)
}

// RatioOf formats a ratio against a target.
func RatioOf(r, target float64, atMost bool) string {
	met := r <= target
	op := "<="
	if !atMost {
		met = r >= target
		op = ">="
	}
	verdict := "MISSED"
	if met {
		verdict = "met"
	}
	return fmt.Sprintf("%.2fx (target %s %.2fx: %s)", r, op, target, verdict)
}

// Workspace is a benchmark's temporary directory with a hangar binary and its seeded
// sparse raw input.
type Workspace struct {
	Dir, Bin, Input string
	Extents         []Extent
}

// NewWorkspace makes a temporary directory under parent named for the benchmark,
// prints the machine, finds or builds hangar (prebuilt, else ./cmd/hangar), and
// writes a size-byte raw input with count extents of extLen bytes at offsets that are
// multiples of align, from seed. Remove Dir when done.
func NewWorkspace(parent, name, prebuilt string, size, count, extLen, align int64, seed uint64) (*Workspace, error) {
	dir, err := os.MkdirTemp(parent, "hangar-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	w := &Workspace{Dir: dir, Input: filepath.Join(dir, "in.raw")}
	fmt.Println("machine:", Machine(dir))
	if w.Bin, err = Hangar(dir, prebuilt); err == nil {
		if w.Extents, err = Layout(size, count, extLen, align, seed); err == nil {
			err = WriteSparse(w.Input, size, w.Extents, seed)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return w, nil
}
