// Command capture benchmarks `hangar vm capture`: its cost must grow with what the VM
// wrote, not with the disk. On a 4 GiB image (the test guest, grown, with 2 GiB of
// data after its partitions, as a real OS image would carry), one VM writes
// 10 MiB (ten scattered 1 MiB writes) and another 1 GiB into their overlays; each is
// captured; and the 10 MiB VM's overlay chain is converted to a fixed VHD with
// qemu-img, the anchor. Target: the 10 MiB capture takes at most a tenth of the
// conversion.
//
//	make testimage && go run ./bench/capture [-image images/testimage/out/testimage.raw] [-runs 3]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

func main() {
	image := flag.String("image", "images/testimage/out/testimage.raw", "test guest image (make testimage)")
	runs := flag.Int("runs", 3, "runs of each measurement")
	flag.Parse()
	if err := run(*image, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(image string, runs int) error {
	for _, tool := range []string{"qemu-img", "qemu-io", "qemu-system-x86_64"} {
		if err := diskbench.NeedTool(tool); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "hangar-bench-capture")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := diskbench.BuildHangar(dir)
	if err != nil {
		return err
	}
	srv, err := diskbench.StartServer(bin, filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	h := func(args ...string) ([]byte, error) { return diskbench.Run(srv.Env(), bin, args...) }
	grown := filepath.Join(dir, "4g.raw")
	if _, err := h("disk", "convert", image, grown, "--format", "raw", "--resize-to-mib", "4096"); err != nil {
		return err
	}
	if err := fill(grown, 1<<30, 2<<30); err != nil {
		return err
	}
	steps := [][]string{
		{"disk", "upload", grown, "--name", "os"},
		{"image", "create", "--name", "base", "--type", "os", "--os-type", "linux", "--os-state", "generalized", "--os-disk", "os"},
	}
	for _, s := range steps {
		if _, err := h(s...); err != nil {
			return err
		}
	}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkVbW3ds5wTtrfwXwYQkI9f0yYk7zq4wXb3x+oJ6g1N bench"
	var small, large, convert []time.Duration
	for r := range runs {
		for _, c := range []struct {
			name   string
			writes []string
			out    *[]time.Duration
		}{
			{fmt.Sprintf("small%d", r), scattered(10, 1<<20), &small},
			{fmt.Sprintf("large%d", r), []string{"write -P 0x5a 1G 1G"}, &large},
		} {
			overlay, err := vmOverlay(h, srv.DataDir, c.name, key)
			if err != nil {
				return err
			}
			for _, w := range c.writes {
				if _, err := diskbench.Run(nil, "qemu-io", "-f", "qcow2", "-c", w, overlay); err != nil {
					return err
				}
			}
			if strings.HasPrefix(c.name, "small") {
				vhd := filepath.Join(dir, "anchor.vhd")
				d, err := diskbench.Time(func() error {
					_, err := diskbench.Run(nil, "qemu-img", "convert", "-f", "qcow2", "-O", "vpc", "-o", "subformat=fixed,force_size", overlay, vhd)
					return err
				})
				if err != nil {
					return err
				}
				os.Remove(vhd)
				convert = append(convert, d)
			}
			d, err := diskbench.Time(func() error {
				_, err := h("vm", "capture", c.name, "--image-name", "cap-"+c.name, "--os-state", "specialized")
				return err
			})
			if err != nil {
				return err
			}
			*c.out = append(*c.out, d)
			h("vm", "delete", c.name, "--yes")
		}
	}
	ms, ml, mc := diskbench.Median(small), diskbench.Median(large), diskbench.Median(convert)
	fmt.Printf("capture after the VM wrote 10 MiB:            %s  (runs %s)\n", diskbench.Sec(ms), diskbench.Durations(small))
	fmt.Printf("capture after the VM wrote 1 GiB:             %s  (runs %s)\n", diskbench.Sec(ml), diskbench.Durations(large))
	fmt.Printf("qemu-img convert of the chain to a fixed VHD: %s  (runs %s)\n", diskbench.Sec(mc), diskbench.Durations(convert))
	fmt.Printf("10 MiB capture / conversion: %s\n", diskbench.Ratio(ms, mc, 0.1, true))
	fmt.Printf("10 MiB capture / 1 GiB capture: %.3f\n", float64(ms)/float64(ml))
	return nil
}

// scattered returns n qemu-io writes of size bytes spread over the disk.
func scattered(n int, size int64) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("write -P 0x%02x %d %d", 0x10+i, int64(i)*(380<<20)+(3<<20), size))
	}
	return out
}

// vmOverlay creates a VM, waits until it is provisioned, stops it and returns its OS
// disk's overlay.
func vmOverlay(h func(...string) ([]byte, error), dataDir, name, key string) (string, error) {
	out, err := h("vm", "create", "--name", name, "--image", "base", "--admin-username", "ops", "--ssh-key-value", key, "-o", "json")
	if err != nil {
		return "", err
	}
	var vm struct{ ID string }
	json.Unmarshal(out, &vm)
	if _, err := h("vm", "stop", name); err != nil {
		return "", err
	}
	return filepath.Join(dataDir, "compute", "vms", vm.ID, "os.qcow2"), nil
}

// fill writes n pseudo-random bytes at off, beyond the guest's partitions.
func fill(path string, off, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.CopyN(f, diskbench.Stream(7), n); err != nil {
		return err
	}
	return f.Close()
}
