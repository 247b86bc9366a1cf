//go:build linux

package stockguest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// envDir names the directory holding the built images; the tests skip
// without it.
const envDir = "HANGAR_STOCKGUEST"

var flavors = []string{"azure", "waagent", "nocloud"}

const (
	diskSize      = 2 << 30
	rootLabel     = "stockguest-root"
	typeESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeLinuxRoot = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
)

func imageDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skipf("%s is not set; build the images and point at them:\n"+
			"  make stockguest\n"+
			"  %s=$PWD/images/stockguest/out go test ./images/stockguest/", envDir, envDir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flavors {
		if _, err := os.Stat(filepath.Join(abs, f+".raw")); err != nil {
			t.Fatalf("%s: %v", envDir, err)
		}
	}
	return abs
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (scripts/deps.sh test installs it)", tool)
		}
	}
}

// partition is the part of `sfdisk --json` output checked here.
type partition struct {
	Start int64  `json:"start"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	Name  string `json:"name"`
	Attrs string `json:"attrs"`
}

func partitions(t *testing.T, img string) []partition {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", img, err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string      `json:"label"`
			Partitions []partition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	if pt.PartitionTable.Label != "gpt" {
		t.Fatalf("partition table %q, want gpt", pt.PartitionTable.Label)
	}
	return pt.PartitionTable.Partitions
}

// rootFS returns "IMG?offset=N", the root filesystem as debugfs and
// e2fsck... read it without copying it out (e2fsprogs' unix io manager).
func rootFS(t *testing.T, img string) string {
	t.Helper()
	parts := partitions(t, img)
	if len(parts) != 2 {
		t.Fatalf("%d partitions, want 2 (ESP, root)", len(parts))
	}
	esp, root := parts[0], parts[1]
	if !strings.EqualFold(esp.Type, typeESP) || !strings.Contains(esp.Attrs, "LegacyBIOSBootable") {
		t.Errorf("partition 1: type %s attrs %q, want the ESP type, LegacyBIOSBootable", esp.Type, esp.Attrs)
	}
	if !strings.EqualFold(root.Type, typeLinuxRoot) {
		t.Errorf("partition 2: type %s, want Linux root (x86-64)", root.Type)
	}
	return fmt.Sprintf("%s?offset=%d", img, root.Start*512)
}

// guestFile reads a file of the stopped disk's root; ok is false when it
// does not exist.
func guestFile(t *testing.T, fs, path string) (data string, ok bool) {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+path, fs).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v\n%s", path, err, out)
	}
	s := string(out)
	// debugfs prints its banner, then the file or an error, and exits 0.
	s = strings.TrimPrefix(s, s[:strings.Index(s, "\n")+1])
	if strings.Contains(s, "File not found by ext2_lookup") {
		return "", false
	}
	return s, true
}

func guestLs(t *testing.T, fs, dir string) []string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "ls -p "+dir, fs).Output()
	if err != nil {
		t.Fatalf("debugfs ls %s: %v", dir, err)
	}
	var names []string
	// ls -p: /inode/mode/uid/gid/name/size/
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "/")
		if len(f) >= 6 && f[5] != "." && f[5] != ".." {
			names = append(names, f[5])
		}
	}
	return names
}

// TestImages checks each disk offline: what qemu-img says of it, its
// partitions, its root filesystem, and the files that make its flavor.
func TestImages(t *testing.T) {
	dir := imageDir(t)
	need(t, "qemu-img", "sfdisk", "debugfs", "e2fsck")
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			img := filepath.Join(dir, flavor+".raw")
			out, err := exec.Command("qemu-img", "info", "--output=json", "-f", "raw", img).Output()
			if err != nil {
				t.Fatalf("qemu-img info: %v", err)
			}
			var info struct {
				Format      string `json:"format"`
				VirtualSize int64  `json:"virtual-size"`
				ActualSize  int64  `json:"actual-size"`
			}
			if err := json.Unmarshal(out, &info); err != nil {
				t.Fatalf("qemu-img info: %v\n%s", err, out)
			}
			if info.Format != "raw" || info.VirtualSize != diskSize {
				t.Errorf("qemu-img info: %s of %d bytes, want raw of %d", info.Format, info.VirtualSize, diskSize)
			}
			// Small, as promised: sparse, well under the disk's size.
			if info.ActualSize > 700<<20 {
				t.Errorf("%d MiB allocated, want under 700 MiB (no docs, no locales)", info.ActualSize>>20)
			}
			t.Logf("%s: %d MiB allocated of %d MiB", flavor, info.ActualSize>>20, info.VirtualSize>>20)

			fs := rootFS(t, img)
			if out, err := exec.Command("e2fsck", "-fn", fs).CombinedOutput(); err != nil {
				t.Errorf("e2fsck -fn: %v\n%s", err, out)
			}
			if out, err := exec.Command("debugfs", "-R", "stats", fs).Output(); err != nil || !bytes.Contains(out, []byte("Filesystem volume name:   "+rootLabel)) {
				t.Errorf("root filesystem label is not %s (%v)", rootLabel, err)
			}

			// Stock software only, generalized: no agent of ours, no host
			// keys, the first-boot machine-id, no documentation.
			for _, p := range []string{"/usr/sbin/hangar-agent", "/usr/bin/hangar-agent", "/usr/share/doc/cloud-init/README", "/usr/share/man/man1"} {
				if _, ok := guestFile(t, fs, p); ok {
					t.Errorf("%s is in the image", p)
				}
			}
			for _, name := range guestLs(t, fs, "/etc/ssh") {
				if strings.HasPrefix(name, "ssh_host_") {
					t.Errorf("host key /etc/ssh/%s is in the image", name)
				}
			}
			if id, _ := guestFile(t, fs, "/etc/machine-id"); strings.TrimSpace(id) != "uninitialized" {
				t.Errorf("/etc/machine-id %q, want uninitialized", id)
			}
			for _, p := range []string{"/usr/bin/cloud-init", "/usr/sbin/waagent", "/usr/sbin/qemu-ga"} {
				if _, ok := guestFile(t, fs, p); !ok {
					t.Errorf("%s is missing", p)
				}
			}

			waagent, _ := guestFile(t, fs, "/etc/waagent.conf")
			dslist, _ := guestFile(t, fs, "/etc/cloud/cloud.cfg.d/90_dpkg.cfg")
			_, disabled := guestFile(t, fs, "/etc/cloud/cloud-init.disabled")
			want := map[string]struct {
				agent    string
				dslist   string
				disabled bool
			}{
				"azure":   {agent: "Provisioning.Agent=auto", dslist: "datasource_list: [ Azure ]"},
				"waagent": {agent: "Provisioning.Agent=waagent", disabled: true},
				"nocloud": {agent: "Provisioning.Agent=cloud-init", dslist: "datasource_list: [ NoCloud ]"}, // Debian's default
			}[flavor]
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.agent) + `$`).MatchString(waagent) {
				t.Errorf("/etc/waagent.conf lacks %q", want.agent)
			}
			if want.dslist != "" && !strings.Contains(dslist, want.dslist) {
				t.Errorf("90_dpkg.cfg %q, want %q", dslist, want.dslist)
			}
			if disabled != want.disabled {
				t.Errorf("/etc/cloud/cloud-init.disabled present: %v, want %v", disabled, want.disabled)
			}
		})
	}
}
