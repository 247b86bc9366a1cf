// Package s3test gives tests a real S3-compatible server: versitygw (the Versity S3
// Gateway, built from its Go module by scripts/deps.sh) serving a temporary directory
// on loopback, as a separate process. Never an in-process fake: the tests see real
// HTTP, real signatures and real failures when the server is stopped.
package s3test

import (
	"context"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hangarvm/hangar/internal/chunks/s3store"
)

// Credentials of the servers' root user: test servers listen on loopback only.
const (
	AccessKey = "hangar-test"
	SecretKey = "hangar-test-secret"
	Region    = "us-east-1"
)

// Server is one versitygw process.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Root     string // bucket B's object K is the file Root/B/K
	addr     string
	cmd      *exec.Cmd
	log      *os.File
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	buckets    atomic.Int64
	stopMu     sync.Mutex
	running    []*Server
)

// Shared returns the server all tests of this binary share (started on first use;
// Stop ends it).
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatalf("S3 server for tests: %v", sharedErr)
	}
	return shared
}

// New starts a server of the test's own, for tests that stop and restart it.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("S3 server for tests: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Config returns the configuration of a new, empty bucket on the shared server.
func Config(t testing.TB) s3store.Config {
	t.Helper()
	return Shared(t).NewBucket(t)
}

// Stop ends every server this binary started; call it from TestMain.
func Stop() {
	stopMu.Lock()
	all := running
	running = nil
	stopMu.Unlock()
	for _, s := range all {
		s.Stop()
		os.RemoveAll(s.Root)
	}
}

// Binary finds versitygw: $HANGAR_VERSITYGW, then $PATH, then GOPATH/bin, where
// scripts/deps.sh installs it.
func Binary() (string, error) {
	if p := os.Getenv("HANGAR_VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("versitygw not found: install it with scripts/deps.sh test, or set HANGAR_VERSITYGW")
	}
	return p, nil
}

func start() (*Server, error) {
	root, err := os.MkdirTemp("", "hangar-s3")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Endpoint: "http://" + addr, Root: filepath.Join(root, "data"), addr: addr}
	if err := os.Mkdir(s.Root, 0o700); err != nil {
		return nil, err
	}
	if s.log, err = os.Create(filepath.Join(root, "versitygw.log")); err != nil {
		return nil, err
	}
	stopMu.Lock()
	running = append(running, s)
	stopMu.Unlock()
	return s, s.Start()
}

// Start runs the server (again, after Stop) on its address and directory.
func (s *Server) Start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	s.cmd = exec.Command(bin, "--port", s.addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--quiet", "posix", s.Root)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return nil
		}
	}
	s.Stop()
	log, _ := os.ReadFile(s.log.Name())
	return fmt.Errorf("versitygw did not listen on %s: %s", s.addr, log)
}

// Stop kills the server the hard way, as an outage would; its data stays.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// NewBucket creates an empty bucket and returns the configuration that reaches it,
// under a key prefix as a deployment would use.
func (s *Server) NewBucket(t testing.TB) s3store.Config {
	t.Helper()
	name := fmt.Sprintf("hangar-%d-%d", os.Getpid(), buckets.Add(1))
	client, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: Region})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return s3store.Config{
		Bucket: name, Prefix: "chunks", Endpoint: s.Endpoint, Region: Region,
		AccessKeyID: AccessKey, SecretAccessKey: SecretKey,
	}
}

// URL is the chunk store URL of the bucket, naming this server, so that a process
// reaches it whatever its environment says.
func (s *Server) URL(c s3store.Config) string {
	return "s3://" + c.Bucket + "/" + c.Prefix + "?endpoint=" + s.Endpoint + "&region=" + Region
}

// ObjectPath is the file that holds an object of the bucket, for tests that damage it.
func (s *Server) ObjectPath(c s3store.Config, name string) string {
	return filepath.Join(s.Root, c.Bucket, filepath.FromSlash(strings.Trim(c.Prefix+"/"+name, "/")))
}

// Env is the standard AWS environment that points a process at the server.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}
