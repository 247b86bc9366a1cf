package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The outside world of the network tests: a network namespace behind a veth pair,
// on this machine, so that no test traffic leaves it. 198.51.100.0/24 is a
// documentation range; .1 is this host's end of the pair.
const (
	outsideAllowed = "198.51.100.2" // serves "outside .2" on :8080
	outsideDenied  = "198.51.100.3" // serves "outside .3" on :8080; the server denies it
	outsidePort    = 8080
)

// outsideWorld builds the namespace and its services; they go when the test ends.
func outsideWorld(t *testing.T) {
	t.Helper()
	ns := fmt.Sprintf("hangar-e2e-%d", os.Getpid())
	veth := fmt.Sprintf("hge%d", os.Getpid()%1000000) // interface names have at most 15 bytes
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s (the network tests need root and iproute2: scripts/deps.sh)", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", veth+"h", "type", "veth", "peer", "name", veth+"n")
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth+"h").Run() })
	ip("link", "set", veth+"n", "netns", ns)
	ip("addr", "add", "198.51.100.1/24", "dev", veth+"h")
	ip("link", "set", veth+"h", "up")
	ip("-n", ns, "addr", "add", outsideAllowed+"/24", "dev", veth+"n")
	ip("-n", ns, "addr", "add", outsideDenied+"/24", "dev", veth+"n")
	ip("-n", ns, "link", "set", veth+"n", "up")
	for _, a := range []string{outsideAllowed, outsideDenied} {
		ln := listenInNamespace(t, ns, fmt.Sprintf("%s:%d", a, outsidePort))
		banner(ln, "outside "+a[strings.LastIndex(a, "."):])
	}
}

// listenInNamespace opens a TCP listener inside a network namespace. The thread that
// enters the namespace is locked to a goroutine that then ends, which ends the
// thread: no other goroutine ever runs in the namespace.
func listenInNamespace(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, err}
			return
		}
		ln, err := net.Listen("tcp4", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listening in namespace %s: %v", ns, r.err)
	}
	t.Cleanup(func() { r.ln.Close() })
	return r.ln
}

// banner answers every connection on ln with a line and closes it.
func banner(ln net.Listener, line string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, line)
			c.Close()
		}
	}()
}

// runScript runs a script in a VM and returns its output; the exit code is ignored.
func (s *server) runScript(key, vm, script string) string {
	s.t.Helper()
	stdout, stderr, err := s.hangar(key, "vm", "run-command", vm, "--script", script, "-o", "json")
	var res struct{ Stdout, Stderr string }
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil {
		s.t.Fatalf("run-command in %s: %v %s %s", vm, err, stdout, stderr)
	}
	return res.Stdout
}

// probe connects from inside the VM to each target (IP:PORT) and returns what each
// answered: its first line, or "refused"/"failed: ..." (busybox nc; no target
// waits for the guest to speak).
func (s *server) probe(key, vm string, targets ...string) map[string]string {
	s.t.Helper()
	var script strings.Builder
	for _, tg := range targets {
		host, port, _ := strings.Cut(tg, ":")
		fmt.Fprintf(&script, "out=$(nc -w 5 %s %s </dev/null 2>&1 | head -n 1); echo \"%s=$out\"\n", host, port, tg)
	}
	got := map[string]string{}
	for _, line := range strings.Split(s.runScript(key, vm, script.String()), "\n") {
		if tg, out, ok := strings.Cut(line, "="); ok {
			if strings.Contains(out, "refused") {
				out = "refused"
			}
			got[tg] = out
		}
	}
	for _, tg := range targets {
		if _, ok := got[tg]; !ok {
			s.t.Fatalf("probe of %s from %s gave nothing: %v", tg, vm, got)
		}
	}
	return got
}

// hostAddrs lists this machine's own IPv4 addresses but loopback.
func hostAddrs(t *testing.T) []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// sshBanner connects to a VM's SSH port on the host and returns the first line.
func sshBanner(t *testing.T, port int) string {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		if err != nil {
			t.Fatalf("the SSH port %d: %v", port, err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err == nil || i == 20 {
			return strings.TrimSpace(line)
		}
		time.Sleep(500 * time.Millisecond) // the guest's listener may still be starting
	}
}

// TestGuestNetwork is issue 10's attack on the host from inside a VM, with the
// network Hangar gives each VM instead of QEMU's slirp. From a guest with egress:
// Hangar's API and a service bound to all of the host's addresses cannot be reached
// through the gateway or the host's own addresses, nor another VM's SSH forward;
// the outside world can, except the networks the server denies. From a guest
// without egress nothing outside answers, yet its own SSH forward works. After
// hangar serve is killed and restarted, the re-adopted VMs' networks work again.
func TestGuestNetwork(t *testing.T) {
	img := testImage(t, "generalized")
	outsideWorld(t)
	// A service on every address of the host, as a careless local daemon would be.
	hostSvc, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostSvc.Close()
	banner(hostSvc, "host service")
	svcPort := hostSvc.Addr().(*net.TCPAddr).Port

	s := startServer(t, "--egress-deny", outsideDenied+"/32")
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	osImage(s, alice, "base", "os")
	key := newSSHKey(t)
	if _, err := s.createVM(alice, "--name", "open", "--image", "base", "--admin-username", "ops", "--ssh-key-value", key, "--no-wait"); err != nil {
		t.Fatal(err)
	}
	closed, err := s.createVM(alice, "--name", "closed", "--image", "base", "--admin-username", "ops", "--ssh-key-value", key, "--egress", "none")
	if err != nil {
		t.Fatal(err)
	}
	var open vmJSON
	waitFor(t, func() bool { s.json(alice, &open, "vm", "show", "open"); return open.ProvisioningState != "Creating" })
	var shown struct {
		Egress  string `json:"egress"`
		SSHPort int    `json:"sshPort"`
	}
	s.json(alice, &shown, "vm", "show", "closed")
	if shown.Egress != "none" || closed.SSHPort == 0 || shown.SSHPort != closed.SSHPort {
		t.Fatalf("vm show closed: %+v", shown)
	}
	if out := s.ok(alice, "vm", "show", "open"); !strings.Contains(out, "Egress:") || !strings.Contains(out, "internet") {
		t.Fatalf("vm show does not say the egress:\n%s", out)
	}
	s.waitSerial(alice, "open", "testimage: network: eth0 10.0.0.4/24 via 10.0.0.1, dns 10.0.0.1")
	s.waitSerial(alice, "closed", "testimage: network: eth0 10.0.0.4/24 via 10.0.0.1, dns none")

	_, apiPort, _ := net.SplitHostPort(s.addr)
	gw := "10.0.0.1"
	targets := []string{
		gw + ":" + apiPort, fmt.Sprint(gw, ":", svcPort), fmt.Sprint(gw, ":", closed.SSHPort),
		"169.254.169.254:22", "168.63.129.16:22", "168.63.129.16:8080",
		fmt.Sprint(outsideAllowed, ":", outsidePort), fmt.Sprint(outsideDenied, ":", outsidePort),
	}
	for _, a := range hostAddrs(t) { // with the host's end of the veth pair
		targets = append(targets, a+":"+apiPort, fmt.Sprint(a, ":", svcPort), fmt.Sprint(a, ":", closed.SSHPort))
	}
	got := s.probe(alice, "open", targets...)
	for _, tg := range targets {
		want := "refused"
		if tg == fmt.Sprint(outsideAllowed, ":", outsidePort) {
			want = "outside .2"
		}
		if got[tg] != want {
			t.Errorf("from a VM with egress, %s answered %q, want %q", tg, got[tg], want)
		}
	}
	// Azure's platform addresses are Hangar's own endpoints (issue 11), not a way
	// to the host: IMDS refuses a request without "Metadata: true" as Azure's does,
	// and the WireServer lists its protocol versions.
	req := `printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' | nc -w 5 %s 80 | head -n 1; `
	platform := s.runScript(alice, "open",
		fmt.Sprintf(req, "/metadata/instance?api-version=2021-02-01", "169.254.169.254", "169.254.169.254")+
			fmt.Sprintf(req, "/?comp=versions", "168.63.129.16", "168.63.129.16"))
	if got, want := strings.ReplaceAll(platform, "\r", ""), "HTTP/1.1 400 Bad Request\nHTTP/1.1 200 OK\n"; got != want {
		t.Errorf("IMDS without its header, then the WireServer's versions, answered %q; want %q", got, want)
	}

	// DNS is the gateway's (which relays to the host's resolver: not exercised here,
	// so that no test query leaves this machine; internal/netstack tests it).
	if out := s.runScript(alice, "open", "cat /etc/resolv.conf"); !strings.Contains(out, "nameserver 10.0.0.1") {
		t.Errorf("resolv.conf in the VM with egress:\n%s", out)
	}

	// Without egress: nothing outside, no DNS; its own SSH forward works. The test
	// guest has no sshd: a busybox nc answers on port 22 as one would.
	got = s.probe(alice, "closed", fmt.Sprint(outsideAllowed, ":", outsidePort), gw+":53")
	for tg, out := range got {
		if out != "refused" {
			t.Errorf("from a VM without egress, %s answered %q", tg, out)
		}
	}
	if out := s.runScript(alice, "closed", "cat /etc/resolv.conf"); strings.Contains(out, "nameserver") {
		t.Errorf("a VM without egress was given a DNS server:\n%s", out)
	}
	startSSHStandIn := func(vm string) {
		s.runScript(alice, vm, "printf '#!/bin/sh\\necho SSH-2.0-hangar-test-guest\\n' >/tmp/banner; chmod +x /tmp/banner; "+
			"(nc -ll -p 22 -e /tmp/banner </dev/null >/dev/null 2>&1 &)")
	}
	startSSHStandIn("closed")
	if line := sshBanner(t, closed.SSHPort); line != "SSH-2.0-hangar-test-guest" {
		t.Fatalf("the SSH forward of the VM without egress read %q", line)
	}

	// A crash of hangar serve: QEMU runs on, the new server connects to the VMs'
	// networks again, and the same rules hold.
	s.kill9()
	s.start()
	s.json(alice, &shown, "vm", "show", "closed")
	if line := sshBanner(t, shown.SSHPort); line != "SSH-2.0-hangar-test-guest" {
		t.Fatalf("after the restart, the SSH forward read %q", line)
	}
	_, apiPort, _ = net.SplitHostPort(s.addr)
	after := []string{fmt.Sprint(outsideAllowed, ":", outsidePort), gw + ":" + apiPort}
	got = s.probe(alice, "open", after...)
	if got[after[0]] != "outside .2" || got[after[1]] != "refused" {
		t.Fatalf("after the restart, the VM with egress got %v", got)
	}
	s.ok(alice, "vm", "delete", "open", "--yes")
	s.ok(alice, "vm", "delete", "closed", "--yes")
}
