package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eventually polls cond until it holds, failing the test with what after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, within)
		}
	}
}

// findAgentPort is guest shell code that sets $port to the agent channel's device.
const findAgentPort = `port=
for d in /sys/class/virtio-ports/*; do
	[ "$(cat $d/name)" = org.hangar.agent.0 ] && port=/dev/${d##*/}
done
[ -n "$port" ] || { echo "no agent port" >&2; exit 9; }
`

// TestGuestChannelBounded drives one VM whose guest is hostile to its own channel
// and console, through the real agent: binary and oversized run-command output,
// a serial console flood (also while hangar serve is down), and an over-long line,
// garbage and a flood of failure reports written straight to the agent port. The
// host stays bounded, and run-command and a clean power-off still work.
func TestGuestChannelBounded(t *testing.T) {
	const serialMax = 64 << 10
	img := testImage(t, "generalized")
	s := startServer(t, "--serial-log-max", "65536")
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "tiny")
	osImage(s, alice, "tiny", "tiny", "--version", "1.0.0")
	vm, err := s.createVM(alice, "--name", "g", "--image", "tiny@1.0.0", "--admin-username", "azureuser",
		"--ssh-key-value", newSSHKey(t), "--provisioning-timeout", "4m")
	if err != nil || vm.PowerState != "running" || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("vm create: %v %+v", err, vm)
	}

	t.Run("binary output arrives exactly", func(t *testing.T) {
		s.t = t
		stdout, stderr, err := s.hangar(alice, "vm", "run-command", "g", "--script", `printf '\000\001\377\376abc\n'; printf '\377\000' >&2`)
		if err != nil || stdout != "\x00\x01\xff\xfeabc\n" || stderr != "\xff\x00" {
			t.Fatalf("run-command: %v; stdout %q, stderr %q", err, stdout, stderr)
		}
	})

	t.Run("output past the cap keeps its end, marked", func(t *testing.T) {
		s.t = t
		stdout, stderr, err := s.hangar(alice, "vm", "run-command", "g", "--script", "head -c 3000000 /dev/urandom > /root/r; cat /root/r")
		if err != nil || len(stdout) != 1<<20 || !strings.Contains(stderr, "only its last 1.0 MiB is shown") {
			t.Fatalf("run-command: %v; %d bytes of stdout; stderr %q", err, len(stdout), stderr)
		}
		sum := s.ok(alice, "vm", "run-command", "g", "--script", "tail -c 1048576 /root/r | sha256sum")
		if got := strings.Fields(sum); len(got) == 0 || got[0] != sha256Hex([]byte(stdout)) {
			t.Fatalf("the CLI printed other bytes than the last MiB of the output: guest's sum %s", sum)
		}
		var res struct {
			Stdout          string `json:"stdout"`
			StdoutBase64    []byte `json:"stdoutBase64"`
			StdoutTruncated bool   `json:"stdoutTruncated"`
		}
		out := s.ok(alice, "vm", "run-command", "g", "--script", "cat /root/r", "-o", "json")
		if err := json.Unmarshal([]byte(out), &res); err != nil || !res.StdoutTruncated || !bytes.Equal(res.StdoutBase64, []byte(stdout)) {
			t.Fatalf("-o json: %v; truncated %v, %d bytes in stdoutBase64", err, res.StdoutTruncated, len(res.StdoutBase64))
		}
	})

	vmDir := filepath.Join(s.dataDir, "compute", "vms", vm.ID)
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(vmDir, name))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	bounded := func() bool { return size("serial.log") <= serialMax && size("serial.log.1") <= serialMax }
	floodConsole := func(tag string) string {
		return `i=0; while [ $i -lt 3000 ]; do echo "` + tag + ` $i ........................................"; i=$((i+1)); done > /dev/ttyS0`
	}

	t.Run("the serial log rotates", func(t *testing.T) {
		s.t = t
		s.ok(alice, "vm", "run-command", "g", "--script", floodConsole("console flood"))
		eventually(t, time.Minute, "serial.log and serial.log.1 within 64 KiB", bounded)
		if size("serial.log.1") == 0 {
			t.Fatal("no serial.log.1 after 180 KB of console output")
		}
		log := s.serialLog(alice, "g")
		if !strings.Contains(log, "console flood 2999 ") || strings.Contains(log, "testimage: booted") {
			t.Fatalf("the serial log after the flood holds the boot lines, or not the last line:\n%.2000s", log)
		}
	})

	t.Run("the serial log rotates after hangar serve was down", func(t *testing.T) {
		s.t = t
		s.ok(alice, "vm", "run-command", "g", "--script", "setsid sh -c 'sleep 3; "+strings.ReplaceAll(floodConsole("while down"), "'", `'\''`)+"' >/dev/null 2>&1 &")
		s.kill()
		eventually(t, 2*time.Minute, "the guest's console output growing the log past its bound while hangar serve is down", func() bool {
			return size("serial.log") > 2*serialMax
		})
		s.start()
		eventually(t, time.Minute, "the log of the adopted VM back within its bound", func() bool {
			return bounded() && strings.Contains(s.serialLog(alice, "g"), "while down 2999 ")
		})
	})

	t.Run("over-long line, garbage and a flood on the agent port", func(t *testing.T) {
		s.t = t
		// The agent holds the port (it opens once): kill it, take the port before
		// init starts it again (2s later), and write. The agent gets it back when
		// the writer lets go.
		attack := findAgentPort + `setsid sh -c '
sleep 1
kill -9 $(pidof hangar-agent)
flood() {
	head -c 5000000 /dev/zero | tr "\000" x; echo
	printf "garbage\n\000\377\376\n{\"type\":\"bogus\"}\n{\"type\":\"result\"}\n"
	i=0; while [ $i -lt 500 ]; do echo "{\"type\":\"failure\",\"reason\":\"flood $i\"}"; i=$((i+1)); done
}
n=0; until flood 2>/dev/null >'"$port"'; do n=$((n+1)); [ $n -gt 100 ] && exit 1; sleep 0.1; done
' >/dev/null 2>&1 &`
		s.ok(alice, "vm", "run-command", "g", "--script", attack)
		// The host reads it all, at its pace, and keeps the last report's words;
		// failures after ready do not undo the VM's provisioning.
		eventually(t, 3*time.Minute, "the last failure report in the VM's provisioning message", func() bool {
			var v vmJSON
			s.json(alice, &v, "vm", "show", "g")
			if v.ProvisioningState != "Succeeded" {
				t.Fatalf("reports after ready changed the provisioning state: %+v", v)
			}
			return strings.HasSuffix(v.ProvisioningMessage, "flood 499")
		})
		if log := s.log.String(); !strings.Contains(log, "dropped a message from the guest agent") || !strings.Contains(log, "dropped a message of 5000001 bytes") {
			t.Fatalf("the host did not log the dropped lines:\n%s", log)
		}
		// The agent is back on the same channel: run-command works.
		eventually(t, 3*time.Minute, "run-command answering again", func() bool {
			out, _, err := s.hangar(alice, "vm", "run-command", "g", "--script", "echo still here", "--timeout", "20s")
			return err == nil && out == "still here\n"
		})
	})

	t.Run("the VM still powers off cleanly", func(t *testing.T) {
		s.t = t
		s.ok(alice, "vm", "stop", "g")
		if procs := s.qemuProcesses(); len(procs) != 0 {
			t.Fatalf("QEMU after stop: %v", procs)
		}
		s.rootFS(vm.ID) // fails unless the root file system was unmounted cleanly
	})
}
