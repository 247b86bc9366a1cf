package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The attack: a tenant opens 96 chunk PUTs at once, well within the rate limit's
// burst, sends each body all but its last 4 KiB, and then nothing. Each such PUT
// used to hold a 4 MiB buffer for as long as the tenant liked: 96 of them are
// 384 MiB, and a few tenants more take the node's memory. Now a tenant holds at
// most 16 buffers on a node and the others wait without one; the server's memory
// stays bounded and another tenant's upload goes through meanwhile.
func TestSlowChunkBodiesAreBounded(t *testing.T) {
	s := startServer(t)
	slow := s.tenant("slowpoke")
	other := s.tenant("bystander")

	var up hangar.Upload
	r := s.api(slow, "POST", "/v1/uploads", strings.NewReader(`{"name":"slow","virtualSize":1073741824,"sourceFormat":"raw"}`))
	if r.status != 201 && r.status != 200 {
		t.Fatalf("create upload: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &up); err != nil {
		t.Fatal(err)
	}
	const puts, size = 96, 4 << 20
	body := make([]byte, size-4096)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for i := range puts {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		digest := sha256.Sum256([]byte{byte(i)}) // any digest: the body never ends
		fmt.Fprintf(conn, "PUT /v1/uploads/%s/chunks/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", up.ID, hex.EncodeToString(digest[:]), s.addr, slow, size)
		go conn.Write(body) //nolint:errcheck // blocks while the server does not read; ends when the test closes conn
	}

	holding := regexp.MustCompile(`(?m)^hangar_chunk_puts\{state="holding"\} (\d+)$`)
	waiting := regexp.MustCompile(`(?m)^hangar_chunk_puts\{state="waiting"\} (\d+)$`)
	metric := func(re *regexp.Regexp, text string) int {
		m := re.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("/metrics has no %s", re)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		text := s.api("", "GET", "/metrics", nil).body
		h, w := metric(holding, text), metric(waiting, text)
		if h > 16 {
			t.Fatalf("the slow tenant holds %d chunk buffers, want at most 16", h)
		}
		if h == 16 && w == puts-16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow PUTs never all arrived: %d holding, %d waiting", h, w)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// 16 buffers are 64 MiB; the 96 were 384 MiB.
	if rss := residentBytes(t, s.cmd.Process.Pid); rss > 256<<20 {
		t.Errorf("server resident memory %d MiB while 96 chunk bodies hang, want under 256 MiB", rss>>20)
	}
	s.uploadDisk(other, "meanwhile", 3)
	s.ok(other, "disk", "show", "meanwhile")
}

// residentBytes is a process's VmRSS.
func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}
