package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test guest images, built once per test run from Debian packages by
// images/testimage/build.sh with the hangar-agent of this tree.
var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
)

// testImage returns the path of a test guest image: "generalized" (with the agent,
// never provisioned), "noagent", or "specialized" (pre-provisioned identity).
func testImage(t *testing.T, variant string) string {
	t.Helper()
	needVMTools(t)
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "hangar-testimages")
		if imagesErr != nil {
			return
		}
		agent := filepath.Join(imagesDir, "hangar-agent")
		build := exec.Command("go", "build", "-o", agent, "../cmd/hangar-agent")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			imagesErr = fmt.Errorf("building hangar-agent: %v\n%s", err, out)
			return
		}
		for _, v := range []struct {
			name string
			args []string
		}{
			{"generalized", []string{"--agent", agent}},
			{"noagent", []string{"--no-agent"}},
			{"specialized", []string{"--agent", agent, "--specialized"}},
		} {
			args := append(v.args, "--out", filepath.Join(imagesDir, v.name+".raw"))
			if out, err := exec.Command("../images/testimage/build.sh", args...).CombinedOutput(); err != nil {
				imagesErr = fmt.Errorf("building the %s test image: %v\n%s", v.name, err, out)
				return
			}
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return filepath.Join(imagesDir, variant+".raw")
}

// needVMTools fails a test that boots guests when QEMU or the image tools are
// missing, and skips it when HANGAR_E2E_SKIP_VMS is set: guests boot under TCG,
// which is slow, so make test boots them on one pass (SQLite and a directory)
// and runs the storage suites again on PostgreSQL and S3 without them.
func needVMTools(t *testing.T) {
	t.Helper()
	if os.Getenv("HANGAR_E2E_SKIP_VMS") != "" {
		t.Skip("HANGAR_E2E_SKIP_VMS: the VM suites ran on the other pass")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "debugfs", "sfdisk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/deps.sh (make test does)", tool)
		}
	}
}

type vmJSON struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	Image               string `json:"image"`
	PowerState          string `json:"powerState"`
	ProvisioningState   string `json:"provisioningState"`
	ProvisioningMessage string `json:"provisioningMessage"`
	SSHPort             int    `json:"sshPort"`
	Disks               []struct {
		LUN int `json:"lun"`
	} `json:"disks"`
}

// createVM runs `hangar vm create` (which waits for provisioning) and returns the VM,
// whether the command succeeded or not.
func (s *server) createVM(key string, args ...string) (vmJSON, error) {
	s.t.Helper()
	out, errOut, err := s.hangar(key, append([]string{"vm", "create", "-o", "json"}, args...)...)
	var vm vmJSON
	if err != nil {
		// With -o json the CLI's error is a JSON document on stderr.
		var doc struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal([]byte(errOut), &doc) == nil && doc.Error.Message != "" {
			errOut = doc.Error.Code + ": " + doc.Error.Message
		}
		err = fmt.Errorf("%v: %s", err, errOut)
	}
	if strings.TrimSpace(out) == "" && err != nil {
		return vm, err // refused before a VM existed
	}
	if jerr := json.Unmarshal([]byte(out), &vm); jerr != nil {
		s.t.Fatalf("vm create %v: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	return vm, err
}

func (s *server) serialLog(key, vm string) string {
	var log struct{ Log string }
	s.json(key, &log, "vm", "serial-log", vm)
	return log.Log
}

// waitSerial waits until the VM's serial log contains want.
func (s *server) waitSerial(key, vm, want string) string {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		log := s.serialLog(key, vm)
		if strings.Contains(log, want) {
			return log
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serial log of %s never showed %q:\n%s", vm, want, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// qemuProcesses lists the QEMU processes running VMs of this server's data dir.
func (s *server) qemuProcesses() []string {
	out, _ := exec.Command("pgrep", "-af", "qemu-system").Output()
	var mine []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, s.dataDir) {
			mine = append(mine, line)
		}
	}
	return mine
}

// rootFS copies a stopped VM's OS disk out of its overlay, extracts its ext4 root
// partition into a file, checks that the file system is clean (the VM was stopped
// cleanly) and returns the file, for debugfs.
func (s *server) rootFS(vmID string) string {
	s.t.Helper()
	overlay := filepath.Join(s.dataDir, "compute", "vms", vmID, "os.qcow2")
	dir := s.t.TempDir()
	raw := filepath.Join(dir, "os.raw")
	qemuImg(s.t, "convert", "-f", "qcow2", "-O", "raw", overlay, raw)
	out, err := exec.Command("sfdisk", "-J", raw).Output()
	if err != nil {
		s.t.Fatalf("sfdisk -J: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Partitions []struct {
				Start, Size int64
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil || len(pt.PartitionTable.Partitions) < 2 {
		s.t.Fatalf("partition table: %v %s", err, out)
	}
	p := pt.PartitionTable.Partitions[1]
	root := filepath.Join(dir, "root.ext4")
	src, _ := os.Open(raw)
	defer src.Close()
	dst, _ := os.Create(root)
	if _, err := io.Copy(dst, io.NewSectionReader(src, p.Start*512, p.Size*512)); err != nil {
		s.t.Fatal(err)
	}
	dst.Close()
	if out, err := exec.Command("e2fsck", "-fn", root).CombinedOutput(); err != nil {
		s.t.Fatalf("the stopped VM's root file system is not clean: %v\n%s", err, out)
	}
	return root
}

// guestFile reads a file from a root filesystem image with debugfs.
func guestFile(t *testing.T, fs, path string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+path, fs).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

// guestStat returns debugfs's stat output for a path ("" if it does not exist).
func guestStat(t *testing.T, fs, path string) string {
	t.Helper()
	out, _ := exec.Command("debugfs", "-R", "stat "+path, fs).CombinedOutput()
	if strings.Contains(string(out), "File not found") {
		return ""
	}
	return string(out)
}
