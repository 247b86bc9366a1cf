package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Each class of failure has its exit code, and with -o json its error is a JSON
// document on stderr naming the code; as text, it is today's "error: ..." line.
func TestExitCodes(t *testing.T) {
	closed := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "http://" + ln.Addr().String()
	}()
	apiError := func(code, msg string) string {
		return `{"error":{"code":"` + code + `","message":"` + msg + `"}}`
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string   // the server's answer; status 0: no server
		args   []string // default: vm show web1
		code   int
		errors string // the code in the JSON error
	}{
		{"not found", 404, apiError("NotFound", "VM web1 not found"), nil, 3, "NotFound"},
		{"image not found", 404, apiError("ImageNotFound", "image web not found"), []string{"image", "show", "web"}, 3, "ImageNotFound"},
		{"a proxy's 404", 404, "<html>no</html>", nil, 3, "NotFound"},
		{"bad key", 401, apiError("Unauthenticated", "the API key is not valid"), nil, 4, "Unauthenticated"},
		{"not allowed", 403, apiError("Forbidden", "only an admin may"), []string{"tenant", "list"}, 4, "Forbidden"},
		{"in use", 409, apiError("ResourceInUse", "disk d is used"), []string{"disk", "delete", "d", "--yes"}, 5, "ResourceInUse"},
		{"over quota", 409, apiError("QuotaExceeded", "quota exceeded"), []string{"vm", "start", "web1"}, 5, "QuotaExceeded"},
		{"stale etag", 412, apiError("PreconditionFailed", "changed since it was read"), []string{"vm", "delete", "web1", "-y", "--if-match", "x"}, 5, "PreconditionFailed"},
		{"store down", 503, apiError("ServiceUnavailable", "retry in a few seconds"), nil, 6, "ServiceUnavailable"},
		{"server bug", 500, apiError("InternalError", "internal error"), nil, 6, "InternalError"},
		{"a proxy's 502", 502, "", nil, 6, "ServiceUnavailable"},
		{"bad request", 400, apiError("InvalidArgument", "name too long"), nil, 1, "InvalidArgument"},
		{"no server", 0, "", []string{"vm", "show", "web1", "--server", closed}, 6, "ConnectionFailed"},
		{"script failed", 200, `{"exitCode":42,"stdout":"","stderr":""}`, []string{"vm", "run-command", "web1", "--script", "exit 42"}, 42, "ScriptFailed"},
		{"unknown flag", 0, "", []string{"vm", "show", "web1", "--bogus"}, 2, "UsageError"},
		{"unknown command", 0, "", []string{"vm-list"}, 2, "UsageError"},
		{"unknown subcommand", 0, "", []string{"vm", "image", "lst"}, 2, "UsageError"},
		{"missing argument", 0, "", []string{"vm", "show"}, 2, "UsageError"},
		{"missing required flag", 0, "", []string{"vm", "create", "-n", "web1"}, 2, "UsageError"},
		{"bad --query", 0, "", []string{"vm", "list", "--query", "[?"}, 2, "UsageError"},
		{"bad flag value in RunE", 0, "", []string{"image", "create", "-n", "w", "--os-disk", "d", "--data-disk", "zero=d"}, 2, "UsageError"},
		{"local failure", 0, "", []string{"disk", "inspect", "/nonexistent/disk.raw"}, 1, "CommandFailed"},
	} {
		args := tt.args
		if args == nil {
			args = []string{"vm", "show", "web1"}
		}
		server := ""
		if tt.status != 0 {
			server = newFakeServer(t, tt.status, tt.body).URL
		}
		text := runCLI(t, newGlobals(), nil, server, args...)
		if text.code != tt.code || !strings.HasPrefix(text.stderr, "error: ") {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and an error line", tt.name, text.code, text.stderr, tt.code)
		}
		for _, o := range []string{"json", "jsonc", "yaml"} {
			r := runCLI(t, newGlobals(), nil, server, append(args, "-o", o)...)
			var doc struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.stderr), &doc); err != nil || r.code != tt.code || doc.Error.Code != tt.errors ||
				doc.Error.Message != strings.TrimSuffix(strings.TrimPrefix(text.stderr, "error: "), "\n") {
				t.Errorf("%s -o %s: exit %d, stderr %q; want exit %d and the error as JSON with code %s", tt.name, o, r.code, r.stderr, tt.code, tt.errors)
			}
		}
	}
}

// A server that does not answer in time is transient too: exit 6.
func TestTimeoutExitCode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var out, errOut strings.Builder
	g := newGlobals()
	code := run(ctx, g, []string{"vm", "list", "--server", srv.URL, "--key", "k", "-o", "json"}, strings.NewReader(""), &out, &errOut)
	if code != exitTransient || !strings.Contains(errOut.String(), `"code":"Timeout"`) {
		t.Errorf("exit %d, stderr %q; want 6 and a Timeout error", code, errOut.String())
	}
}
