// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// depsTools are the commands scripts/deps.sh looks for (its tools list), plus
// what it runs itself.
var depsTools = []string{"qemu-img", "qemu-system-x86_64", "sfdisk", "debugfs", "mkfs.vfat", "mcopy", "syslinux",
	"objcopy", "cpio", "isoinfo", "mkfs.xfs", "mkfs.btrfs", "ip", "mmdebstrap", "eatmydata", "openssl", "sqlite3", "chromium", "promtool"}

// TestDepsScript runs scripts/deps.sh against a fake apt-get and fake tools on
// PATH: the first-run paths, tested on a machine that has everything.
func TestDepsScript(t *testing.T) {
	for _, f := range []string{"/usr/share/ovmf/OVMF.fd", "/usr/lib/syslinux/mbr/gptmbr.bin", "/usr/sbin/qemu-ga"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing: run scripts/deps.sh (make test does) first", f)
		}
	}
	tests := []struct {
		name, mode string
		missing    bool // qemu-img is not on PATH
		root       bool
		aptFails   bool
		exit       int
		stderr     string
		installs   bool
	}{
		{"run: nothing missing", "run", false, true, false, 0, "", false},
		{"run: missing, installed", "run", true, true, false, 0, "installing qemu-utils (needed by VMs)", true},
		{"test: missing, installed", "test", true, true, false, 0, "installing qemu-utils (needed by the tests)", true},
		{"run: the install fails", "run", true, true, true, 100, "installing qemu-utils", true},
		{"run: not root", "run", true, false, false, 0, "VMs need: qemu-utils; install with: sudo apt-get install qemu-utils", false},
		{"test: not root", "test", true, false, false, 1, "the tests need: qemu-utils; install with: sudo apt-get install qemu-utils", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := t.TempDir()
			log := filepath.Join(t.TempDir(), "apt.log")
			link := func(name string) {
				if real, err := exec.LookPath(name); err == nil {
					os.Symlink(real, filepath.Join(bin, name))
				}
			}
			for _, tool := range append(depsTools, "bash", "dirname", "cat", "sh", "go") {
				if tool != "qemu-img" || !tt.missing {
					link(tool)
				}
			}
			if _, err := os.Lstat(filepath.Join(bin, "qemu-img")); tt.missing == (err == nil) {
				t.Skip("qemu-img is not installed here")
			}
			uid, aptExit := "1000", "0"
			if tt.root {
				uid = "0"
			}
			if tt.aptFails {
				aptExit = "100"
			}
			script := func(name, body string) {
				os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755)
			}
			script("id", `[ "$1" = -u ] && { echo `+uid+`; exit 0; }; exit 0`) // every user "exists": no useradd
			script("versitygw", "exit 0")
			script("apt-get", `echo "$@" >>`+log+`
[ "$1" = install ] || exit 0
[ `+aptExit+` = 0 ] && printf '#!/bin/sh\n' >`+bin+`/qemu-img && chmod +x `+bin+`/qemu-img
exit `+aptExit)
			cmd := exec.Command(filepath.Join(bin, "bash"), "deps.sh", tt.mode)
			// Not t.TempDir: the go command deps.sh runs may leave a telemetry
			// child writing in HOME after it exits, and a cleanup that then finds
			// the directory not empty fails the test (it did, once).
			home, err := os.MkdirTemp("", "deps-home")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(home) })
			cmd.Env = []string{"PATH=" + bin, "HOME=" + home}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.exit || !strings.Contains(string(out), tt.stderr) {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.exit, out)
			}
			calls, _ := os.ReadFile(log)
			if installed := strings.Contains(string(calls), "install -y -qq qemu-utils"); installed != tt.installs {
				t.Errorf("apt-get calls: %q", calls)
			}
		})
	}
}
