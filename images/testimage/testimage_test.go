//go:build linux

package testimage

import (
	"bufio"
	"bytes"
	"context"
	"debug/pe"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envImage names the built image the tests check; they skip without it.
const envImage = "HANGAR_TESTIMAGE"

// bootTimeout bounds one boot to the last expected console line. Measured
// boots take 2-17 s under TCG on a shared 2-core machine; this is headroom.
const bootTimeout = 120 * time.Second

const (
	typeESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeLinuxRoot = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" // Linux root (x86-64)
	rootLabel     = "hangar-root"
	gptmbrPath    = "/usr/lib/syslinux/mbr/gptmbr.bin"
)

// The console lines written by the guest (guest/init, guest/rcS).
var (
	lineInitramfs = regexp.MustCompile(`^testimage: initramfs started`)
	lineBooted    = regexp.MustCompile(`^testimage: booted, `)
	lineVDB       = regexp.MustCompile(`^testimage: block devices: .*\bvdb\b`)
)

func testImage(t *testing.T) string {
	t.Helper()
	img := os.Getenv(envImage)
	if img == "" {
		t.Skipf("%s is not set; build an image and point at it:\n"+
			"  images/testimage/build.sh --no-agent --out images/testimage/out/test.img\n"+
			"  %s=$PWD/images/testimage/out/test.img go test ./images/testimage/", envImage, envImage)
	}
	abs, err := filepath.Abs(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("%s: %v", envImage, err)
	}
	return abs
}

// firmware returns the QEMU arguments of a boot firmware, or a reason why
// it is not available on this host.
type firmware func(t *testing.T) (args []string, missing string)

func seabios(*testing.T) ([]string, string) { return nil, "" } // QEMU's default

func ovmf(t *testing.T) ([]string, string) {
	// The combined image works read-only as -bios.
	for _, f := range []string{"/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"} {
		if _, err := os.Stat(f); err == nil {
			return []string{"-bios", f}, ""
		}
	}
	// Otherwise the pflash pair, with a private copy of the variable store.
	code, vars := "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
	b, err := os.ReadFile(vars)
	if err != nil {
		return nil, "no OVMF firmware (apt-get install ovmf)"
	}
	myVars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	if err := os.WriteFile(myVars, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"-machine", "q35",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + myVars,
	}, ""
}

func TestBoot(t *testing.T) {
	img := testImage(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	}
	cases := []struct {
		name      string
		firmware  firmware
		dataDisks int
		want      []*regexp.Regexp // in console order
	}{
		{name: "bios", firmware: seabios, want: []*regexp.Regexp{lineInitramfs, lineBooted}},
		{name: "uefi", firmware: ovmf, want: []*regexp.Regexp{lineInitramfs, lineBooted}},
		// A data disk after the OS disk shows up as vdb (docs/guest-protocol.md).
		{name: "bios-data-disk", firmware: seabios, dataDisks: 1, want: []*regexp.Regexp{lineInitramfs, lineVDB, lineBooted}},
	}
	// Subtests run one after another: one QEMU at a time on a small machine.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fw, missing := tc.firmware(t)
			if missing != "" {
				t.Skip(missing)
			}
			args := []string{
				"-accel", "tcg", // KVM is not usable on these hosts
				"-m", "256",
				"-nographic", "-nic", "none", "-no-reboot",
				"-snapshot", // never write to the image under test
				"-drive", "file=" + img + ",if=virtio,format=raw",
			}
			args = append(args, fw...)
			for i := 0; i < tc.dataDisks; i++ {
				disk := filepath.Join(t.TempDir(), fmt.Sprintf("data%d.img", i))
				if err := os.WriteFile(disk, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(disk, 16<<20); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-drive", "file="+disk+",if=virtio,format=raw")
			}
			res := bootUntil(t, qemu, args, tc.want, bootTimeout)
			if res.err != nil {
				t.Fatalf("%v\nqemu %s\nserial console:\n%s", res.err, strings.Join(args, " "), res.log)
			}
			t.Logf("userspace after %.2fs (first line %q), %q after %.2fs",
				res.at[0].Seconds(), res.lines[0], res.lines[len(res.lines)-1], res.at[len(res.at)-1].Seconds())
		})
	}
}

type bootResult struct {
	lines []string        // the console lines matching want, in order
	at    []time.Duration // when each was seen, from QEMU's start
	log   string          // the whole console output
	err   error
}

// bootUntil starts QEMU with args and reads its serial console (stdio)
// until every pattern of want has matched a line, in order, or timeout.
// QEMU is killed and reaped before it returns, whatever happens.
func bootUntil(t *testing.T, qemu string, args []string, want []*regexp.Regexp, timeout time.Duration) bootResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, args...)
	// Should the test binary itself die (go test -timeout), the kernel kills
	// QEMU rather than leave it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	var res bootResult
	var log strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for len(res.lines) < len(want) && sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		log.WriteString(line + "\n")
		// Firmware escape sequences may precede the text on the same line.
		if i := strings.Index(line, "testimage:"); i > 0 {
			line = line[i:]
		}
		if want[len(res.lines)].MatchString(line) {
			res.lines = append(res.lines, line)
			res.at = append(res.at, time.Since(start))
		}
	}
	// Done (or failed): kill QEMU and reap it.
	cancel()
	waitErr := cmd.Wait()
	res.log = log.String()
	if stderr.Len() > 0 {
		res.log += "--- qemu stderr ---\n" + stderr.String()
	}
	if len(res.lines) < len(want) {
		why := fmt.Sprintf("qemu exited: %v", waitErr)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && time.Since(start) >= timeout {
			why = fmt.Sprintf("timed out after %v", timeout)
		}
		res.err = fmt.Errorf("no console line matching %q (%s)", want[len(res.lines)], why)
	}
	return res
}

// sfdiskTable is the part of `sfdisk --json` output checked here.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			Name  string `json:"name"`
			Attrs string `json:"attrs"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func TestDiskLayout(t *testing.T) {
	img := testImage(t)
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Skip("sfdisk not found (apt-get install fdisk)")
	}
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt sfdiskTable
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatalf("sfdisk --json output: %v\n%s", err, out)
	}
	if pt.PartitionTable.Label != "gpt" {
		t.Fatalf("partition table is %q, want gpt", pt.PartitionTable.Label)
	}
	if v, err := exec.Command("sfdisk", "--verify", img).CombinedOutput(); err != nil {
		t.Errorf("sfdisk --verify: %v\n%s", err, v)
	}
	parts := pt.PartitionTable.Partitions
	wantParts := []struct {
		typ       string
		attrs     string // attribute that must be present ("" = none required)
		name      string
		minSizeMB int64
	}{
		{typ: typeESP, attrs: "LegacyBIOSBootable", minSizeMB: 16},
		{typ: typeLinuxRoot, name: rootLabel, minSizeMB: 8},
	}
	if len(parts) != len(wantParts) {
		t.Fatalf("%d partitions, want %d: %s", len(parts), len(wantParts), out)
	}
	sector := pt.PartitionTable.SectorSize
	if sector == 0 {
		sector = 512
	}
	for i, w := range wantParts {
		p := parts[i]
		if !strings.EqualFold(p.Type, w.typ) {
			t.Errorf("partition %d type %s, want %s", i+1, p.Type, w.typ)
		}
		if w.attrs != "" && !strings.Contains(p.Attrs, w.attrs) {
			t.Errorf("partition %d attrs %q, want %s", i+1, p.Attrs, w.attrs)
		}
		if w.name != "" && p.Name != w.name {
			t.Errorf("partition %d name %q, want %q", i+1, p.Name, w.name)
		}
		if p.Size*sector < w.minSizeMB<<20 {
			t.Errorf("partition %d is %d bytes, want at least %d MiB", i+1, p.Size*sector, w.minSizeMB)
		}
		if p.Start*sector%(1<<20) != 0 {
			t.Errorf("partition %d starts at sector %d, not 1 MiB aligned", i+1, p.Start)
		}
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	t.Run("mbr-boot-code", func(t *testing.T) {
		mbr := make([]byte, 512)
		if _, err := f.ReadAt(mbr, 0); err != nil {
			t.Fatal(err)
		}
		if mbr[510] != 0x55 || mbr[511] != 0xAA {
			t.Errorf("no MBR signature: % x", mbr[510:])
		}
		if mbr[450] != 0xEE {
			t.Errorf("protective MBR partition type 0x%02x, want 0xee", mbr[450])
		}
		gptmbr, err := os.ReadFile(gptmbrPath)
		if err != nil {
			t.Skipf("cannot compare boot code: %v", err)
		}
		if len(gptmbr) < 440 || !bytes.Equal(mbr[:440], gptmbr[:440]) {
			t.Errorf("first 440 bytes are not syslinux's %s", gptmbrPath)
		}
	})

	root := parts[1]
	t.Run("root-ext4", func(t *testing.T) {
		if _, err := exec.LookPath("e2fsck"); err != nil {
			t.Skip("e2fsck not found (apt-get install e2fsprogs)")
		}
		rootImg := extract(t, f, root.Start*sector, root.Size*sector, "root.img")
		sb := make([]byte, 1024)
		if _, err := rootImg.ReadAt(sb, 1024); err != nil {
			t.Fatal(err)
		}
		if sb[56] != 0x53 || sb[57] != 0xEF {
			t.Fatalf("partition 2 has no ext2/3/4 superblock magic")
		}
		if label := string(bytes.TrimRight(sb[120:136], "\x00")); label != rootLabel {
			t.Errorf("root filesystem label %q, want %q", label, rootLabel)
		}
		// -f: check even if clean; -n: read-only, answer no.
		if out, err := exec.Command("e2fsck", "-fn", rootImg.Name()).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn: %v\n%s", err, out)
		}
	})

	esp := parts[0]
	t.Run("esp-contents", func(t *testing.T) {
		if _, err := exec.LookPath("mcopy"); err != nil {
			t.Skip("mcopy not found (apt-get install mtools)")
		}
		espImg := extract(t, f, esp.Start*sector, esp.Size*sector, "esp.img")
		dir := t.TempDir()
		get := func(name string) []byte {
			t.Helper()
			dst := filepath.Join(dir, filepath.Base(name))
			cmd := exec.Command("mcopy", "-n", "-i", espImg.Name(), "::"+name, dst)
			cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mcopy %s: %v\n%s", name, err, out)
			}
			b, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		cfg := string(get("/syslinux/syslinux.cfg"))
		for _, w := range []string{"LINUX /vmlinuz", "INITRD /initrd.img", "console=ttyS0"} {
			if !strings.Contains(cfg, w) {
				t.Errorf("syslinux.cfg lacks %q:\n%s", w, cfg)
			}
		}
		for _, name := range []string{"/syslinux/ldlinux.sys", "/syslinux/ldlinux.c32", "/vmlinuz", "/initrd.img"} {
			if len(get(name)) == 0 {
				t.Errorf("%s is empty", name)
			}
		}
		checkUKI(t, get("/EFI/BOOT/BOOTX64.EFI"))
	})
}

// ukiSections are the sections build.sh adds to systemd-stub.
var ukiSections = []string{".osrel", ".cmdline", ".initrd", ".linux"}

// checkUKI checks the unified kernel image's sections: all present, in
// increasing order, none overlapping the one before it in memory (the point
// of computing the addresses), the added ones on the stub's SectionAlignment.
func checkUKI(t *testing.T, b []byte) {
	t.Helper()
	pf, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("BOOTX64.EFI is not a PE file: %v", err)
	}
	oh, ok := pf.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("BOOTX64.EFI is not PE32+")
	}
	align := oh.SectionAlignment
	var prevEnd uint32
	var prevName string
	for _, s := range pf.Sections {
		if s.VirtualAddress < prevEnd {
			t.Errorf("section %s at 0x%x overlaps %s (ends 0x%x)", s.Name, s.VirtualAddress, prevName, prevEnd)
		}
		// In memory a section spans VirtualSize (a loader copies no more
		// raw data than that); SizeOfRawData only when VirtualSize is 0.
		size := s.VirtualSize
		if size == 0 {
			size = s.Size
		}
		prevEnd, prevName = s.VirtualAddress+size, s.Name
	}
	for _, name := range ukiSections {
		s := pf.Section(name)
		if s == nil {
			t.Errorf("BOOTX64.EFI has no %s section", name)
			continue
		}
		// (The stub's own sections need not be: its .sdmagic is not.)
		if align != 0 && s.VirtualAddress%align != 0 {
			t.Errorf("section %s at 0x%x not aligned to 0x%x", s.Name, s.VirtualAddress, align)
		}
		if name == ".cmdline" {
			data, err := io.ReadAll(s.Open())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("console=ttyS0")) {
				t.Errorf(".cmdline %q lacks console=ttyS0", data)
			}
		}
	}
}

// extract copies [off, off+size) of f into a temporary file.
func extract(t *testing.T, f *os.File, off, size int64, name string) *os.File {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	if _, err := io.Copy(out, io.NewSectionReader(f, off, size)); err != nil {
		t.Fatal(err)
	}
	return out
}
