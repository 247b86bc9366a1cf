package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// request is what a command sent to the fake server.
type request struct{ method, path, body string }

// fakeServer answers every request with one status and body, and keeps the requests.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newFakeServer(t *testing.T, status int, body string) *fakeServer {
	t.Helper()
	s := &fakeServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{r.Method, r.URL.RequestURI(), string(data)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0") // a 502 or 503 is retried: at once
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) sent() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// cli is one run of the CLI, in process.
type cli struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI as main does, with g's hooks, stdin and args, against server
// (when not ""). The user's login file and environment are kept out.
func runCLI(t *testing.T, g *globals, stdin io.Reader, server string, args ...string) cli {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, v := range []string{"HANGAR_SERVER", "HANGAR_KEY", "HANGAR_CA_CERT"} {
		t.Setenv(v, "")
	}
	if server != "" {
		args = append(args, "--server", server, "--key", "k")
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut strings.Builder
	code := run(context.Background(), g, args, stdin, &out, &errOut)
	return cli{out.String(), errOut.String(), code}
}

// fakeTerminal is a globals whose stdin and stdout count as terminals when they
// are files: a pipe stands in for the terminal.
func fakeTerminal() *globals {
	g := newGlobals()
	g.terminal = func(*os.File) bool { return true }
	return g
}
