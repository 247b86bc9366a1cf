package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
)

// TestExportVHDXVMDKOVA downloads a disk as VHDX, streamOptimized VMDK and OVA.
// qemu-img judges the disks (check, virtual size, compare with the source); the OVA
// is listed by tar (descriptor first) and its OVF descriptor must point at the VMDK
// member with its size and the disk's capacity.
func TestExportVHDXVMDKOVA(t *testing.T) {
	needQemuImg(t)
	s := startServer(t)
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 40<<20 + 512 // not a whole number of blocks or grains
	writeDisk(t, src, size, 3, map[int64]int64{0: 12345, 7<<20 + 3: 1 << 20, 33 << 20: 70000, size - 4096: 4096})
	s.ok(alice, "disk", "upload", src, "--name", "web-os")
	for _, f := range []string{"vhdx", "vmdk"} {
		t.Run(f, func(t *testing.T) {
			out := filepath.Join(dir, "web-os."+f)
			s.ok(alice, "disk", "download", "web-os", "--format", f, "--file", out)
			qemuImg(t, "check", "-q", "-f", f, out)
			if got := qemuInfo(t, f, out); got != size {
				t.Fatalf("qemu-img sees virtual size %d, want %d", got, size)
			}
			qemuImg(t, "compare", "-f", "raw", "-F", f, src, out)
		})
	}
	t.Run("ova", func(t *testing.T) {
		out := filepath.Join(dir, "web-os.ova")
		s.ok(alice, "disk", "download", "web-os", "--format", "ova", "--file", out)
		list, err := exec.Command("tar", "-tvf", out).CombinedOutput()
		if err != nil {
			t.Fatalf("tar -tvf: %v\n%s", err, list)
		}
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
			f := strings.Fields(line)
			names = append(names, f[len(f)-1])
		}
		if strings.Join(names, " ") != "web-os.ovf web-os.mf web-os-disk1.vmdk" {
			t.Fatalf("tar lists %v; want the .ovf first, then the manifest and the vmdk", names)
		}
		members := untar(t, out)
		vmdk := filepath.Join(dir, "ova-disk1.vmdk")
		if err := os.WriteFile(vmdk, members["web-os-disk1.vmdk"], 0o644); err != nil {
			t.Fatal(err)
		}
		checkOVFDescriptor(t, members["web-os.ovf"], "web-os-disk1.vmdk", int64(len(members["web-os-disk1.vmdk"])), size)
		if mf := string(members["web-os.mf"]); !strings.Contains(mf, "SHA256(web-os-disk1.vmdk)= "+sha256Hex(members["web-os-disk1.vmdk"])) {
			t.Errorf("manifest %q does not hold the vmdk's digest", mf)
		}
		qemuImg(t, "check", "-q", "-f", "vmdk", vmdk)
		qemuImg(t, "compare", "-f", "raw", "-F", "vmdk", src, vmdk)
	})
}

// untar reads every member of a tar file.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if out[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOVFDescriptor checks that desc is well-formed XML in the OVF envelope
// namespace whose References name the VMDK with its size, and whose DiskSection's
// disk refers to that file with the disk's capacity in bytes.
func checkOVFDescriptor(t *testing.T, desc []byte, vmdk string, vmdkSize, capacity int64) {
	t.Helper()
	const ovf = "http://schemas.dmtf.org/ovf/envelope/1"
	dec := xml.NewDecoder(bytes.NewReader(desc))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the OVF descriptor is not well-formed XML: %v", err)
		}
	}
	var env struct {
		XMLName xml.Name
		Files   []struct {
			ID   string `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
			Href string `xml:"http://schemas.dmtf.org/ovf/envelope/1 href,attr"`
			Size int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 size,attr"`
		} `xml:"http://schemas.dmtf.org/ovf/envelope/1 References>File"`
		Disks []struct {
			FileRef  string `xml:"http://schemas.dmtf.org/ovf/envelope/1 fileRef,attr"`
			Capacity int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacity,attr"`
			Units    string `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacityAllocationUnits,attr"`
		} `xml:"http://schemas.dmtf.org/ovf/envelope/1 DiskSection>Disk"`
	}
	if err := xml.Unmarshal(desc, &env); err != nil {
		t.Fatal(err)
	}
	if env.XMLName.Space != ovf || env.XMLName.Local != "Envelope" {
		t.Fatalf("root element %v, want the OVF Envelope", env.XMLName)
	}
	if len(env.Files) != 1 || env.Files[0].Href != vmdk || env.Files[0].Size != vmdkSize {
		t.Fatalf("References %+v, want %s of %d bytes", env.Files, vmdk, vmdkSize)
	}
	if len(env.Disks) != 1 || env.Disks[0].FileRef != env.Files[0].ID || env.Disks[0].Capacity != capacity || env.Disks[0].Units != "byte" {
		t.Fatalf("DiskSection %+v, want one disk of file %s with capacity %d bytes", env.Disks, env.Files[0].ID, capacity)
	}
}

// fileServer serves files on a loopback address until the test ends.
func fileServer(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// hasDisk reports whether the tenant has a disk of that name.
func (s *server) hasDisk(key, name string) bool {
	var disks []struct {
		Name string `json:"name"`
	}
	s.json(key, &disks, "disk", "list")
	for _, d := range disks {
		if d.Name == name {
			return true
		}
	}
	return false
}

// TestImportFromHTTP imports disks from a local HTTP server (allowed by
// --import-allow-cidr): a qcow2 with its checksum, and a raw disk with progress
// streamed. A wrong checksum, a file that is no disk and a missing file are refused,
// and no disk appears.
func TestImportFromHTTP(t *testing.T) {
	needQemuImg(t)
	s := startServer(t, "--import-allow-cidr", "127.0.0.1/32")
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeDisk(t, src, 24<<20, 9, map[int64]int64{4096: 3 << 20, 20 << 20: 5000})
	qcow := filepath.Join(dir, "src.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, qcow)
	os.WriteFile(filepath.Join(dir, "page.html"), []byte("<html>not a disk</html>"), 0o644)
	web := fileServer(t, "127.0.0.1:0", http.FileServer(http.Dir(dir)))
	qcowData, _ := os.ReadFile(qcow)

	var d struct {
		Name         string `json:"name"`
		VirtualSize  int64  `json:"virtualSize"`
		SourceFormat string `json:"sourceFormat"`
	}
	s.json(alice, &d, "disk", "import", "from-qcow2", "--url", web+"/src.qcow2", "--sha256", sha256Hex(qcowData))
	if d.Name != "from-qcow2" || d.VirtualSize != 24<<20 || d.SourceFormat != "qcow2" {
		t.Fatalf("imported %+v", d)
	}
	back := filepath.Join(dir, "back.raw")
	s.ok(alice, "disk", "download", "from-qcow2", "--format", "raw", "--file", back)
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", src, back)

	// The progress stream, as the CLI reads it.
	r := s.request(alice, "POST", "/v1/disks/from-raw/import", strings.NewReader(`{"url":"`+web+`/src.raw"}`),
		map[string]string{"Accept": "application/x-ndjson"})
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if r.status != 200 || len(lines) < 3 || !strings.Contains(lines[0], `"progress"`) || !strings.Contains(r.body, `"phase":"storing"`) {
		t.Fatalf("import stream: %d\n%s", r.status, r.body)
	}
	var last struct {
		Disk *struct{ Name string } `json:"disk"`
	}
	if json.Unmarshal([]byte(lines[len(lines)-1]), &last); last.Disk == nil || last.Disk.Name != "from-raw" {
		t.Fatalf("last line %s, want the disk", lines[len(lines)-1])
	}

	for _, c := range []struct{ name, url, sha, want string }{
		{"bad-sum", web + "/src.qcow2", strings.Repeat("ab", 32), "SHA-256"},
		{"not-a-disk", web + "/page.html", "", "not a whole number of 512-byte sectors"},
		{"missing", web + "/nothing.vhd", "", "404"},
		{"bad-scheme", "file:///etc/passwd", "", "not fetched"},
	} {
		args := []string{"disk", "import", c.name, "--url", c.url}
		if c.sha != "" {
			args = append(args, "--sha256", c.sha)
		}
		if msg := s.fails(alice, args...); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q, want it to say %q", c.name, msg, c.want)
		}
		if s.hasDisk(alice, c.name) {
			t.Errorf("%s: a disk appeared", c.name)
		}
	}
}

// TestImportRefusesInternalAddresses: without the allow flag, loopback is refused;
// with only the redirector's address allowed, a redirect to 127.0.0.1, a DNS name
// resolving to loopback and the link-local metadata address are refused. No disk
// appears.
func TestImportRefusesInternalAddresses(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "d.raw")
	writeDisk(t, disk, 1<<20, 1, map[int64]int64{0: 512})
	target := fileServer(t, "127.0.0.1:0", http.FileServer(http.Dir(dir)))
	redirector := fileServer(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			http.ServeFile(w, r, disk)
			return
		}
		http.Redirect(w, r, target+"/d.raw", http.StatusFound)
	}))
	port := target[strings.LastIndex(target, ":"):]

	plain := startServer(t)
	alice := plain.tenant("alice")
	if msg := plain.fails(alice, "disk", "import", "d", "--url", target+"/d.raw"); !strings.Contains(msg, "127.0.0.1 is a loopback address") {
		t.Errorf("loopback without the allow flag: %q", msg)
	}
	r := plain.api(alice, "POST", "/v1/disks/d/import", strings.NewReader(`{"url":"`+target+`/d.raw"}`))
	if r.status != 403 || r.code != "ImportURLRefused" {
		t.Errorf("API answer %d %s, want 403 ImportURLRefused", r.status, r.code)
	}

	s := startServer(t, "--import-allow-cidr", "127.0.0.2/32")
	bob := s.tenant("bob")
	s.ok(bob, "disk", "import", "via-allowed", "--url", redirector+"/plain") // the allowed address works
	for _, c := range []struct{ name, url, want string }{
		{"redirect", redirector + "/go", "127.0.0.1 is a loopback address"},
		{"dns-loopback", "http://localhost" + port + "/d.raw", "is a loopback address"},
		{"link-local", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"private", "http://10.255.255.1/d.raw", "10.255.255.1 is a private address"},
		{"unspecified", "http://0.0.0.0" + port + "/d.raw", "is the unspecified address"},
	} {
		if msg := s.fails(bob, "disk", "import", c.name, "--url", c.url); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q, want it to say %q", c.name, msg, c.want)
		}
		if s.hasDisk(bob, c.name) {
			t.Errorf("%s: a disk appeared", c.name)
		}
	}
}

// TestImportFromS3 imports a VHD from a bucket of a real S3 server (versitygw),
// signed with the credentials in the CLI's environment.
func TestImportFromS3(t *testing.T) {
	needQemuImg(t)
	s3srv := s3test.Shared(t)
	bucket := s3srv.NewBucket(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeDisk(t, src, 16<<20, 4, map[int64]int64{0: 1 << 20, 9 << 20: 77777})
	vhd := filepath.Join(dir, "src.vhd")
	qemuImg(t, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", src, vhd)
	mc, err := minio.New(strings.TrimPrefix(s3srv.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""), Region: s3test.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.FPutObject(context.Background(), bucket.Bucket, "images/src.vhd", vhd, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	vhdData, _ := os.ReadFile(vhd)

	s := startServer(t, "--import-allow-cidr", "127.0.0.1/32")
	alice := s.tenant("alice")
	url := "s3://" + bucket.Bucket + "/images/src.vhd"
	env := []string{"AWS_ACCESS_KEY_ID=" + s3test.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3test.SecretKey, "AWS_REGION=" + s3test.Region}
	out, errOut, err := s.hangarEnv(alice, env, "disk", "import", "from-s3", "--url", url, "--s3-endpoint", s3srv.Endpoint, "--sha256", sha256Hex(vhdData), "-o", "json")
	if err != nil {
		t.Fatalf("import from S3: %v\n%s%s", err, out, errOut)
	}
	back := filepath.Join(dir, "back.raw")
	s.ok(alice, "disk", "download", "from-s3", "--format", "raw", "--file", back)
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", src, back)

	// The endpoint from the environment, as the AWS tools take it; wrong secret.
	env = append(env, "AWS_ENDPOINT_URL="+s3srv.Endpoint, "AWS_SECRET_ACCESS_KEY=wrong")
	if _, errOut, err := s.hangarEnv(alice, env, "disk", "import", "denied", "--url", url); err == nil || !strings.Contains(errOut, "403") {
		t.Errorf("wrong secret: %v %q, want a 403 from the source", err, errOut)
	}
	if s.hasDisk(alice, "denied") {
		t.Error("a disk appeared")
	}
}

// hangarEnv runs the CLI with more environment variables.
func (s *server) hangarEnv(key string, env []string, args ...string) (string, string, error) {
	cmd := s.cli(key, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}
