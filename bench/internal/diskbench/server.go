package diskbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// AdminKey is the admin key the benchmark servers are started with.
const AdminKey = "bench-admin-key-0123456789abcdef"

// Server is a real `hangar serve` process on a loopback port with its own data
// directory.
type Server struct {
	URL     string
	DataDir string
	cmd     *exec.Cmd
	log     *os.File
}

// StartServer starts bin serve with a fresh data directory dataDir (which must
// not exist yet, or be empty) and more serve flags, and waits until /healthz answers.
func StartServer(bin, dataDir string, extra ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log"))
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, extra...)...)
	cmd.Env = append(os.Environ(), "HANGAR_ADMIN_KEY="+AdminKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + addr, DataDir: dataDir, cmd: cmd, log: log}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("hangar serve did not answer on %s within 30s (log: %s)", addr, log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// PeakRSS returns the server's peak resident set size (VmHWM) in bytes.
func (s *Server) PeakRSS() (int64, error) {
	return statusKB(s.PID(), "VmHWM")
}

// RSS returns the server's current resident set size (VmRSS) in bytes.
func (s *Server) RSS() (int64, error) {
	return statusKB(s.PID(), "VmRSS")
}

func statusKB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s), waits for it, and
// kills the QEMU processes of its VMs: they outlive hangar serve by design (it
// adopts them when it starts again), and a benchmark that failed half-way has not
// deleted them.
func (s *Server) Stop() {
	defer s.killVMs()
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }() //nolint:errcheck // exit status is not interesting
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill() //nolint:errcheck
			<-done
		}
	}
	s.log.Close()
}

// killVMs kills every QEMU process whose pidfile is in the server's data directory.
func (s *Server) killVMs() {
	pidfiles, _ := filepath.Glob(filepath.Join(s.DataDir, "compute", "vms", "*", "qemu.pid"))
	for _, f := range pidfiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		// A pidfile outlives its process: kill only a QEMU of this directory.
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(cmdline), s.DataDir) {
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // it may have exited
		}
	}
}

// Env is the environment for CLI commands talking to this server as admin. The
// upload state (for resuming) goes under the server's directory, not $HOME.
func (s *Server) Env() []string {
	return []string{
		"HANGAR_SERVER=" + s.URL, "HANGAR_KEY=" + AdminKey,
		"XDG_CACHE_HOME=" + filepath.Join(filepath.Dir(s.DataDir), "cache"),
	}
}

// UploadResult is what `hangar disk upload -o json` reports that the benchmarks use.
type UploadResult struct {
	Name        string `json:"name"`
	VirtualSize int64  `json:"virtualSize"`
	StoredBytes int64  `json:"storedBytes"`
	Upload      struct {
		Format    string `json:"Format"`
		DataBytes int64  `json:"DataBytes"`
		SentBytes int64  `json:"SentBytes"`
	} `json:"upload"`
	// ClientCPU is the user + system CPU time the `hangar disk upload` process used.
	ClientCPU time.Duration `json:"-"`
}

// Upload runs `hangar disk upload FILE --name NAME -o json` against the server.
func (s *Server) Upload(bin, file, name string, extra ...string) (UploadResult, time.Duration, error) {
	var res UploadResult
	args := append([]string{"disk", "upload", file, "--name", name, "-o", "json", "--no-progress"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), s.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var out []byte
	d, err := Time(func() error {
		var err error
		out, err = cmd.Output()
		return err
	})
	if err != nil {
		return res, d, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	res.ClientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err := json.Unmarshal(out, &res); err != nil {
		return res, d, fmt.Errorf("decoding upload report %q: %w", out, err)
	}
	return res, d, nil
}
