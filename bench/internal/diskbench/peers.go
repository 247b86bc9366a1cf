package diskbench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks/s3store"
	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// failer lets a benchmark use the test packages that start real servers (pgtest,
// s3test), which report failures through testing.TB: a failure panics with the
// message, and main recovers nothing (the benchmark stops with it).
type failer struct{ testing.TB }

func (failer) Helper()                         {}
func (failer) Fatal(args ...any)               { panic(fmt.Sprint(args...)) }
func (failer) Fatalf(format string, a ...any)  { panic(fmt.Sprintf(format, a...)) }
func (failer) Logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (failer) Cleanup(func())                  {}

// S3 is a real S3-compatible server (versitygw, posix backend) on loopback, for the
// contenders that store in a bucket.
type S3 struct{ srv *s3test.Server }

// StartS3 starts versitygw on a temporary directory; call StopPeers when done.
func StartS3() *S3 { return &S3{srv: s3test.Shared(failer{})} }

// NewBucket creates a fresh, empty bucket.
func (s *S3) NewBucket() s3store.Config { return s.srv.NewBucket(failer{}) }

// StoreURL is hangar serve's --store for the bucket.
func (s *S3) StoreURL(c s3store.Config) string { return s.srv.URL(c) }

// Env points the AWS CLI (and hangar serve) at the server.
func (s *S3) Env() []string { return s.srv.Env() }

// Root is the directory versitygw stores buckets in.
func (s *S3) Root() string { return s.srv.Root }

// PostgresDSN returns the URL of a fresh, empty PostgreSQL database (a cluster of
// this process's own, made with the system's initdb, unless $HANGAR_TEST_POSTGRES).
func PostgresDSN() string { return pgtest.DSN(failer{}) }

// StopPeers stops the PostgreSQL cluster and the S3 server this process started.
func StopPeers() {
	pgtest.Stop()
	s3test.Stop()
}

// CPUTime returns the user and system CPU time the server has used so far.
func (s *Server) CPUTime() (time.Duration, error) {
	return ProcessCPU(s.PID())
}

// ProcessCPU returns the user + system CPU time of a process (fields 14 and 15 of
// /proc/PID/stat, in clock ticks of 1/100 s).
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from after its ')'.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
