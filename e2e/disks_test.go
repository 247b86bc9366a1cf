package e2e

import (
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type diskJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	VirtualSize  int64  `json:"virtualSize"`
	StoredBytes  int64  `json:"storedBytes"`
	SourceFormat string `json:"sourceFormat"`
	Upload       struct {
		Format    string `json:"format"`
		DataBytes int64  `json:"dataBytes"`
		SentBytes int64  `json:"sentBytes"`
	} `json:"upload"`
}

func needQemuImg(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUploadFormatsAndDedup uploads one disk as raw, fixed VHD and dynamic VHD (both
// written by qemu-img). Each has the same virtual size, and after the first, nothing is
// sent: the chunks hash identically, so the content read from every format is the same.
// Another tenant uploading the same disk must send everything: dedup is no oracle.
func TestUploadFormatsAndDedup(t *testing.T) {
	needQemuImg(t)
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	const size = 48 << 20
	writeDisk(t, raw, size, 9, map[int64]int64{0: 1 << 20, 9<<20 + 4096: 3 << 20, 30 << 20: 512, size - 8192: 8192})
	fixed, dynamic := filepath.Join(dir, "disk.vhd"), filepath.Join(dir, "disk-dyn.vhd")
	qemuImg(t, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size", raw, fixed)
	qemuImg(t, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size", raw, dynamic)

	var first diskJSON
	s.json(alice, &first, "disk", "upload", raw, "--name", "raw")
	// 4 MiB chunks holding data: 0, 8 MiB, 12 MiB, 28 MiB, 44 MiB.
	if first.VirtualSize != size || first.SourceFormat != "raw" || first.StoredBytes != 5*4<<20 || first.Upload.SentBytes != first.StoredBytes {
		t.Fatalf("raw upload: %+v", first)
	}
	for _, c := range []struct{ file, name, format string }{{fixed, "fixed", "vhd-fixed"}, {dynamic, "dynamic", "vhd-dynamic"}} {
		var d diskJSON
		s.json(alice, &d, "disk", "upload", c.file, "--name", c.name)
		if d.SourceFormat != c.format || d.VirtualSize != size || d.StoredBytes != first.StoredBytes {
			t.Fatalf("%s upload: %+v, want format %s and the raw disk's sizes", c.name, d, c.format)
		}
		if d.Upload.SentBytes != 0 {
			t.Fatalf("%s upload sent %d bytes; the same content must dedup to nothing", c.name, d.Upload.SentBytes)
		}
	}
	var other diskJSON
	s.json(bob, &other, "disk", "upload", raw, "--name", "raw")
	if other.Upload.SentBytes != first.StoredBytes {
		t.Fatalf("bob sent %d bytes, want all %d: chunks only alice holds must not count as present", other.Upload.SentBytes, first.StoredBytes)
	}

	// The single-stream upload (curl -T) reads the same content.
	body, _ := os.Open(fixed)
	defer body.Close()
	r := s.api(alice, "PUT", "/v1/disks/streamed", body)
	if r.status != 201 || !strings.Contains(r.body, `"vhd-fixed"`) || !strings.Contains(r.body, `"storedBytes": 20971520`) {
		t.Fatalf("stream upload: %d %s", r.status, r.body)
	}
	var list []diskJSON
	s.json(alice, &list, "disk", "list")
	if len(list) != 4 {
		t.Fatalf("disk list: %+v", list)
	}
	if msg := s.fails(alice, "disk", "upload", raw, "--name", "raw"); !strings.Contains(msg, "already exists") {
		t.Fatalf("upload over an existing name: %s", msg)
	}
}

// vhdFooter builds a fixed VHD footer by the spec, for crafting bad files.
func vhdFooter(size uint64, diskType uint32) []byte {
	f := make([]byte, 512)
	copy(f, "conectix")
	binary.BigEndian.PutUint32(f[8:], 2)
	binary.BigEndian.PutUint32(f[12:], 0x00010000)
	binary.BigEndian.PutUint64(f[16:], ^uint64(0))
	binary.BigEndian.PutUint64(f[40:], size)
	binary.BigEndian.PutUint64(f[48:], size)
	binary.BigEndian.PutUint32(f[60:], diskType)
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	binary.BigEndian.PutUint32(f[64:], ^sum)
	return f
}

func TestBadInput(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "os", 1)
	lying := append(make([]byte, 1<<20), vhdFooter(10<<30, 2)...) // says 10 GiB, holds 1 MiB
	badSum := append(make([]byte, 1<<20), vhdFooter(1<<20, 2)...)
	badSum[len(badSum)-512+64] ^= 0xff
	truncatedDyn := append(vhdFooter(1<<20, 3), make([]byte, 1000)...) // footer copy, then nothing valid
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
		headers                  map[string]string
	}{
		{"malformed JSON", "POST", "/v1/images", `{"name": "x",`, 400, "malformed JSON", nil},
		{"not an object", "POST", "/v1/images", `[1,2]`, 400, "malformed JSON", nil},
		{"trailing data", "POST", "/v1/images", `{"name":"x"} {}`, 400, "data after the JSON object", nil},
		{"empty body", "POST", "/v1/images:resolve", ``, 400, "needs a JSON body", nil},
		{"unknown field", "POST", "/v1/images", `{"name":"x","typo":1}`, 400, `unknown field \"typo\"`, nil},
		{"slash in image name", "POST", "/v1/images", `{"name":"a/b","type":"os","osType":"linux","osState":"generalized","osDisk":"os"}`, 400, "is not valid", nil},
		{"hidden disk name", "PUT", "/v1/disks/.hidden", "", 400, "is not valid", nil},
		{"escaped slash in disk name", "PUT", "/v1/disks/a%2Fb", "x", 400, "is not valid", nil},
		{"control char in tenant name", "POST", "/v1/tenants", `{"name":"a\u0001b"}`, 403, "only an admin", nil},
		{"version out of range", "POST", "/v1/images", `{"name":"x","type":"os","osType":"linux","osState":"generalized","osDisk":"os","version":"1.2.4294967296"}`, 400, "out of range", nil},
		{"version with 4 parts", "POST", "/v1/images", `{"name":"x","type":"os","osType":"linux","osState":"generalized","osDisk":"os","version":"1.2.3.4"}`, 400, "Major.Minor.Patch", nil},
		{"URN with 3 parts", "GET", "/v1/marketplace/images/a:b:c", "", 400, "has 3 parts", nil},
		{"URN with 5 parts", "POST", "/v1/images:resolve", `{"reference":"a:b:c:d:1.0.0"}`, 400, "has 5 parts", nil},
		{"lying VHD footer", "PUT", "/v1/disks/lying", string(lying), 400, "says the disk holds 10 GiB but the file holds 1 MiB", nil},
		{"VHD footer checksum", "PUT", "/v1/disks/badsum", string(badSum), 400, "checksum", nil},
		{"truncated dynamic VHD", "PUT", "/v1/disks/trunc", string(truncatedDyn), 400, "it is truncated", nil},
		{"bad digest", "PUT", "/v1/uploads/x/chunks/zz", "x", 400, "not 64 hex digits", nil},
		{"virtual size not sector multiple", "POST", "/v1/uploads", `{"name":"u","virtualSize":1000,"sourceFormat":"raw"}`, 400, "multiple of 512", nil},
		{"a query flag that is neither true nor false", "GET", "/v1/images?all=maybe", "", 400, "say true or false", nil},
		{"unknown source format", "POST", "/v1/uploads", `{"name":"u","virtualSize":4194304,"sourceFormat":"zzz"}`, 400, "not a disk format Hangar reads", nil},
		{"virtual size above limit", "POST", "/v1/uploads", `{"name":"u","virtualSize":9007199254740992,"sourceFormat":"raw"}`, 413, "above this server's limit", nil},
		{"too many digests in one question", "POST", "/v1/uploads/x/missing", `{"digests":[` + strings.Repeat(`"`+strings.Repeat("0", 64)+`",`, 4096) + `"` + strings.Repeat("0", 64) + `"]}`, 400, "at most 4096", nil},
		// A browser sends these to any site without asking first (no CORS preflight).
		{"JSON sent as text/plain", "POST", "/v1/images", `{"name":"x"}`, 415, "Content-Type: application/json", map[string]string{"Content-Type": "text/plain"}},
		{"JSON sent as a form", "POST", "/v1/images:resolve", `{"reference":"x"}`, 415, "application/x-www-form-urlencoded", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"unknown method on a known path", "PATCH", "/v1/disks/os", "", 405, "takes GET, PUT, DELETE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.request(alice, tt.method, tt.path, strings.NewReader(tt.body), tt.headers)
			if r.status != tt.status || r.code == "" || !strings.Contains(r.body, tt.want) {
				t.Fatalf("%s %s: %d %s; want %d with %q in a JSON error", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
			}
		})
	}
	// The admin gets a clear refusal of a bad tenant name.
	if r := s.api(s.adminKey(), "POST", "/v1/tenants", strings.NewReader(`{"name":"a\u0001b"}`)); r.status != 400 {
		t.Fatalf("control character in a tenant name: %d %s", r.status, r.body)
	}
	// Nothing was left behind.
	var disks []diskJSON
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 1 {
		t.Fatalf("bad input left disks behind: %+v", disks)
	}
	if r := s.api(alice, "GET", "/v1/images", nil); strings.TrimSpace(r.body) != "[]" {
		t.Fatalf("bad input left images behind: %s", r.body)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.dataDir, "staging")); len(entries) != 0 {
		t.Fatalf("staging files left behind: %v", entries)
	}
}

// TestRestartAfterKill9 creates one of everything, kills the server with SIGKILL,
// restarts it on the same data dir and finds everything as it was. A stream upload cut
// off by the kill leaves no disk and no staging file.
func TestRestartAfterKill9(t *testing.T) {
	s := startServer(t)
	adminKey := s.adminKey()
	contoso := s.tenant("contoso", "--role", "publisher")
	alice := s.tenant("alice", "--entitlement", "msdn")
	s.uploadDisk(contoso, "os", 2)
	s.uploadDisk(contoso, "data", 3)
	osImage(s, contoso, "linux", "os")
	s.ok(contoso, "image", "create", "--name", "app", "--type", "vm", "--os-type", "linux", "--os-state", "specialized",
		"--os-disk", "os", "--data-disk", "0=data")
	s.ok(contoso, "image", "share", "app", "--tenant", "alice")
	s.ok(contoso, "image", "publish-community", "linux", "--public-name", "contoso", "--publisher-uri", "https://contoso.example",
		"--publisher-email", "a@contoso.example", "--eula", "EULA text")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "linux", "--plan", "p", "--entitlement", "msdn")
	s.ok(alice, "vm", "image", "terms", "accept", "--urn", "Contoso:Linux:base:1.0.0")

	// A stream upload in flight when the server dies.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 8<<20))
		time.Sleep(time.Hour) // never finish; the kill cuts it off
	}()
	go func() {
		req, _ := http.NewRequest("PUT", s.url()+"/v1/disks/inflight", pr)
		req.Header.Set("Authorization", "Bearer "+alice)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool {
		entries, _ := os.ReadDir(filepath.Join(s.dataDir, "staging"))
		return len(entries) > 0
	})
	s.kill9()
	s.start()

	if s.adminKey() != adminKey {
		t.Fatal("admin key changed on restart")
	}
	before := []string{"community/contoso/linux", "shared/contoso/app", "Contoso:Linux:base:latest"}
	refs := references(s, alice)
	for _, ref := range before {
		if !contains(refs, ref) {
			t.Fatalf("after restart, %s missing from alice's images: %v", ref, refs)
		}
	}
	var m marketJSON
	s.json(alice, &m, "vm", "image", "show", "--urn", "Contoso:Linux:base:latest")
	if m.Plan == nil || !m.Plan.TermsAccepted {
		t.Fatalf("accepted terms lost: %+v", m)
	}
	var disks []diskJSON
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 0 {
		t.Fatalf("the cut-off upload left a disk: %+v", disks)
	}
	s.json(contoso, &disks, "disk", "list")
	if len(disks) != 2 || disks[0].StoredBytes == 0 {
		t.Fatalf("contoso's disks after restart: %+v", disks)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.dataDir, "staging")); len(entries) != 0 {
		t.Fatalf("staging files survived the restart: %v", entries)
	}
	var im imageJSON
	s.json(contoso, &im, "image", "show", "app")
	if len(im.Versions) != 1 || len(im.Versions[0].DataDisks) != 1 || len(im.SharedWith) != 1 {
		t.Fatalf("VM image after restart: %+v", im)
	}
	// And the service keeps working.
	s.uploadDisk(alice, "after", 4)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
