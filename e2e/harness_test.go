// Package e2e drives the real hangar binary: a real server on a temporary data dir,
// commands run as a user would run them, answers checked as a user would check them.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks/s3store"
	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

var hangarBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hangar-e2e-bin")
	if err != nil {
		panic(err)
	}
	hangarBin = filepath.Join(dir, "hangar")
	// The browser's diskfmt (WebAssembly) first: hangar embeds it, as make build does.
	wasm := exec.Command("../scripts/build-wasm.sh")
	wasm.Stdout, wasm.Stderr = os.Stderr, os.Stderr
	if err := wasm.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the browser's diskfmt (scripts/build-wasm.sh):", err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", hangarBin, "../cmd/hangar")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hangar:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Stop()
	s3test.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `hangar serve`.
type server struct {
	t       *testing.T
	dataDir string
	addr    string
	cmd     *exec.Cmd
	log     *lockedBuffer
	home    string
	db      string // --db, "" for the embedded SQLite
	s3      *s3test.Server
	store   s3store.Config // the bucket of --store s3://..., when s3 is set
	// Nodes of a cluster: a chunk directory shared with other nodes (when not on
	// S3), the admin key all nodes share, and more serve flags.
	chunkDir       string
	sharedAdminKey string
	extraArgs      []string
	// caFile, when set, is the CA of the certificate the server serves HTTPS with.
	caFile string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts hangar serve on a fresh data dir, with any more serve flags.
func startServer(t *testing.T, flags ...string) *server {
	s := &server{t: t, dataDir: t.TempDir(), home: t.TempDir(), extraArgs: flags}
	// HANGAR_E2E_DB=postgres runs the suite on a real PostgreSQL (package pgtest).
	if os.Getenv("HANGAR_E2E_DB") == "postgres" {
		s.db = pgtest.DSN(t)
	}
	// HANGAR_E2E_STORE=s3 keeps the chunks in a real S3-compatible server (package s3test).
	if os.Getenv("HANGAR_E2E_STORE") == "s3" {
		s.s3 = s3test.Shared(t)
		s.store = s.s3.NewBucket(t)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// stop ends the server and, as a test that failed half-way may leave VMs running,
// their QEMU processes.
func (s *server) stop() {
	s.kill()
	for _, p := range s.qemuProcesses() {
		var pid int
		fmt.Sscan(p, &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (s *server) start() {
	s.spawn()
	s.waitHealthy()
}

// spawn starts the server process without waiting for it to serve.
func (s *server) spawn() {
	s.addr = freeAddr(s.t)
	s.log = &lockedBuffer{}
	// QEMU drops to an unprivileged user (serve --qemu-user) that must reach the
	// VM directories in the data dir: Go's test temp dirs are not searchable.
	os.Chmod(filepath.Dir(s.dataDir), 0o711)
	args := []string{"serve", "--listen", s.addr, "--data-dir", s.dataDir}
	if s.db != "" {
		args = append(args, "--db", s.db)
	}
	env := append(os.Environ(), "HANGAR_ADMIN_KEY="+s.sharedAdminKey)
	switch {
	case s.s3 != nil:
		args = append(args, "--store", "s3://"+s.store.Bucket+"/"+s.store.Prefix)
		env = append(env, s.s3.Env()...)
	case s.chunkDir != "":
		args = append(args, "--store", "file://"+s.chunkDir)
	}
	s.cmd = exec.Command(hangarBin, append(args, s.extraArgs...)...)
	s.cmd.Stderr = s.log
	s.cmd.Env = env
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) waitHealthy() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := s.httpClient().Get(s.url() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			// While it starts, the server answers at once and says when to retry.
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				s.t.Fatalf("server %s answered /healthz %s (Retry-After %q) while starting; want 200, or 503 with Retry-After",
					s.addr, resp.Status, resp.Header.Get("Retry-After"))
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server %s did not become healthy; log:\n%s", s.addr, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill9 kills the server the hard way, as a crash would.
func (s *server) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.kill9()
		}
	}
}

// chunkFiles lists the files that hold the server's chunks, wherever the store is.
func (s *server) chunkFiles() []string {
	s.t.Helper()
	pattern := filepath.Join(s.dataDir, "chunks", "??", "*")
	if s.chunkDir != "" {
		pattern = filepath.Join(s.chunkDir, "??", "*")
	}
	if s.s3 != nil {
		pattern = s.s3.ObjectPath(s.store, "*")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		s.t.Fatal(err)
	}
	return files
}

func (s *server) url() string {
	if s.caFile != "" {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

func (s *server) adminKey() string {
	data, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// cli is the CLI command, with key, pointed at this server.
func (s *server) cli(key string, args ...string) *exec.Cmd {
	cmd := exec.Command(hangarBin, args...)
	cmd.Env = append(os.Environ(), "HANGAR_SERVER="+s.url(), "HANGAR_KEY="+key, "HANGAR_CA_CERT="+s.caFile,
		"XDG_CONFIG_HOME="+filepath.Join(s.home, "config"), "XDG_CACHE_HOME="+filepath.Join(s.home, "cache"), "HOME="+s.home)
	return cmd
}

// hangar runs the CLI with key and returns stdout, stderr and the error.
func (s *server) hangar(key string, args ...string) (string, string, error) {
	cmd := s.cli(key, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// ok runs the CLI and fails the test if the command fails.
func (s *server) ok(key string, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.hangar(key, args...)
	if err != nil {
		s.t.Fatalf("hangar %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// json runs the CLI with -o json and decodes the answer.
func (s *server) json(key string, out any, args ...string) {
	s.t.Helper()
	text := s.ok(key, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(text), out); err != nil {
		s.t.Fatalf("hangar %s: bad JSON %v:\n%s", strings.Join(args, " "), err, text)
	}
}

// fails runs the CLI, expects failure and returns the error message.
func (s *server) fails(key string, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.hangar(key, args...)
	if err == nil {
		s.t.Fatalf("hangar %s succeeded but should have failed:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// tenant creates a tenant and returns its key.
func (s *server) tenant(name string, flags ...string) string {
	s.t.Helper()
	var created struct {
		Key string `json:"key"`
	}
	s.json(s.adminKey(), &created, append([]string{"tenant", "create", name}, flags...)...)
	if !strings.HasPrefix(created.Key, "hgr_") {
		s.t.Fatalf("tenant create gave no key: %+v", created)
	}
	return created.Key
}

var requestIDField = regexp.MustCompile(`,\s*"requestId":\s*"[0-9a-f-]*"`)

// apiResult is a raw HTTP answer.
type apiResult struct {
	status int
	body   string
	code   string
}

// api sends a raw HTTP request.
func (s *server) api(key, method, path string, body io.Reader) apiResult {
	s.t.Helper()
	return s.request(key, method, path, body, nil)
}

// request sends a raw HTTP request with extra headers.
func (s *server) request(key, method, path string, body io.Reader, headers map[string]string) apiResult {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url()+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		// What every JSON client sends; endpoints that stream a body ignore it.
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	// Every answer has its own request ID: taken out of the body, so that tests can
	// compare two answers (a forbidden resource's and a missing one's).
	r := apiResult{status: resp.StatusCode, body: requestIDField.ReplaceAllString(string(data), "")}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		r.code = e.Error.Code
	}
	return r
}

// writeDisk writes a raw disk file of size bytes with the given non-zero regions
// (offset -> length), each filled with a pattern derived from seed.
func writeDisk(t *testing.T, path string, size int64, seed byte, regions map[int64]int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, n := range regions {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(int64(i)*7+off) ^ seed | 1
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// uploadDisk makes a small raw disk and uploads it as name.
func (s *server) uploadDisk(key, name string, seed byte) {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), name+".raw")
	writeDisk(s.t, path, 8<<20, seed, map[int64]int64{0: 4096, 5 << 20: 65536})
	s.ok(key, "disk", "upload", path, "--name", name)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// sameFile fails the test unless the two files have the same content.
func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ (%v, %v)", a, b, err1, err2)
	}
}
