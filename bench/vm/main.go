// Command vm benchmarks VM creation and boot with the test guest (make testimage):
//
//  1. `vm create` until the VM runs, for the same image at 1 GiB and at 64 GiB of
//     virtual size: bases are sparse and VM disks are overlays, so the two must be
//     the same within noise.
//
//  2. Boot to ready: `vm create` until the guest agent reported ready, against a
//     bare qemu-system-x86_64 run of the same disk with the same machine and the
//     same provisioning medium, timed to the agent's ready line on the serial
//     console. Target: ratio at most 1.2.
//
//     make testimage && go run ./bench/vm [-image images/testimage/out/testimage.raw] [-runs 3]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/hangarvm/hangar/bench/internal/diskbench"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/provision"
	"github.com/hangarvm/hangar/internal/qmp"
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

// env runs the CLI against the benchmark's server.
type env struct {
	bin string
	srv *diskbench.Server
}

func (e *env) hangar(args ...string) ([]byte, error) {
	return diskbench.Run(e.srv.Env(), e.bin, args...)
}

func run(image string, runs int) error {
	dir, err := os.MkdirTemp("", "hangar-bench-vm")
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
	e := &env{bin: bin, srv: srv}

	for _, c := range []struct{ name, mib string }{{"g1", "1024"}, {"g64", "65536"}} {
		file := filepath.Join(dir, c.name+".raw")
		if _, err := e.hangar("disk", "convert", image, file, "--format", "raw", "--resize-to-mib", c.mib); err != nil {
			return err
		}
		if _, err := e.hangar("disk", "upload", file, "--name", c.name); err != nil {
			return err
		}
		if _, err := e.hangar("image", "create", "--name", c.name, "--type", "os", "--os-type", "linux", "--os-state", "generalized", "--os-disk", c.name); err != nil {
			return err
		}
		os.Remove(file)
	}
	key1, _ := os.ReadFile(os.ExpandEnv("$HOME/.ssh/id_ed25519.pub"))
	sshKey := strings.TrimSpace(string(key1))
	if sshKey == "" {
		sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkVbW3ds5wTtrfwXwYQkI9f0yYk7zq4wXb3x+oJ6g1N bench"
	}
	fmt.Printf("%-44s %10s %10s %10s\n", "measurement (median of runs)", "1 GiB", "64 GiB", "ratio")
	var toRunning [2][]time.Duration
	var toReady []time.Duration
	for r := range runs {
		for i, img := range []string{"g1", "g64"} {
			name := fmt.Sprintf("%s-%d", img, r)
			start := time.Now()
			if _, err := e.hangar("vm", "create", "--name", name, "--image", img, "--admin-username", "ops", "--ssh-key-value", sshKey, "--no-wait"); err != nil {
				return err
			}
			running, ready, err := e.waitVM(name, start)
			if err != nil {
				return err
			}
			toRunning[i] = append(toRunning[i], running)
			if img == "g1" {
				toReady = append(toReady, ready)
			}
			e.hangar("vm", "delete", name, "--yes")
		}
	}
	m1, m64 := diskbench.Median(toRunning[0]), diskbench.Median(toRunning[1])
	fmt.Printf("%-44s %10s %10s %10.2f\n", "vm create until running", round(m1), round(m64), float64(m64)/float64(m1))

	var bare []time.Duration
	for range runs {
		d, err := bareBoot(image, dir, sshKey)
		if err != nil {
			return err
		}
		bare = append(bare, d)
	}
	h, b := diskbench.Median(toReady), diskbench.Median(bare)
	fmt.Printf("%-44s %10s\n", "hangar: vm create until the agent is ready", round(h))
	fmt.Printf("%-44s %10s\n", "bare qemu-system: start until ready line", round(b))
	fmt.Printf("%-44s %10.2f  (target <= 1.2)\n", "ratio hangar / bare", float64(h)/float64(b))
	return nil
}

func round(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

// waitVM polls until the VM runs and until it is provisioned.
func (e *env) waitVM(name string, start time.Time) (running, ready time.Duration, err error) {
	for time.Since(start) < 5*time.Minute {
		out, err := e.hangar("vm", "show", name, "-o", "json")
		if err != nil {
			return 0, 0, err
		}
		var vm struct{ PowerState, ProvisioningState, ProvisioningMessage string }
		json.Unmarshal(out, &vm)
		if running == 0 && vm.PowerState == "running" {
			running = time.Since(start)
		}
		switch vm.ProvisioningState {
		case "Succeeded":
			return running, time.Since(start), nil
		case "Failed", "OSProvisioningTimedOut":
			return 0, 0, fmt.Errorf("vm %s: %s: %s", name, vm.ProvisioningState, vm.ProvisioningMessage)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("vm %s never became ready", name)
}

// bareBoot runs qemu-system-x86_64 by hand on an overlay of the image with the same
// machine (compute.Args) and a provisioning medium, and times it to the agent's
// ready line.
func bareBoot(image, dir, sshKey string) (time.Duration, error) {
	vmDir, err := os.MkdirTemp(dir, "bare")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(vmDir)
	abs, _ := filepath.Abs(image)
	overlay := filepath.Join(vmDir, "os.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", abs, overlay).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v %s", err, out)
	}
	files, err := provision.Files(&provision.Config{InstanceID: fmt.Sprint("bare-", time.Now().UnixNano()), ComputerName: "bare",
		OSType: "linux", AdminUsername: "ops", SSHPublicKeys: []string{sshKey}})
	if err != nil {
		return 0, err
	}
	var iso bytes.Buffer
	if err := provision.WriteISO(&iso, files); err != nil {
		return 0, err
	}
	medium := filepath.Join(vmDir, "cidata.iso")
	os.WriteFile(medium, iso.Bytes(), 0o600)
	// Nothing connects to the NIC's socket: the guest's frames go nowhere.
	args := compute.Args(compute.MachineConfig{Name: "bare", Dir: vmDir,
		QMPSocket: filepath.Join(vmDir, "qmp.sock"), AgentSocket: filepath.Join(vmDir, "agent.sock"), VCPUs: 1, MemoryMiB: 512, Accel: "tcg",
		Disks: []compute.MachineDisk{{ID: "os", Path: overlay}}, Medium: medium, NetSocket: filepath.Join(vmDir, "net.sock"), Sandbox: true})
	start := time.Now()
	cmd := exec.Command("qemu-system-x86_64", args...)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mon, err := qmp.Dial(ctx, filepath.Join(vmDir, "qmp.sock"))
	if err != nil {
		return 0, err
	}
	defer mon.Close()
	if err := mon.Cont(ctx); err != nil {
		return 0, err
	}
	// Hold the agent channel open, as the host does, and wait for the ready line.
	agent, err := net.Dial("unix", filepath.Join(vmDir, "agent.sock"))
	if err != nil {
		return 0, err
	}
	defer agent.Close()
	sc := bufio.NewScanner(agent)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"type":"ready"`) {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("bare boot: agent channel closed before ready")
}
