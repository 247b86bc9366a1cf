package fabric

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseHealth: any bytes give a report whose state is one of the two and
// whose words are clean and bounded, or ErrBadHealthReport; never a panic.
func FuzzParseHealth(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/health/*.xml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("<Health><Container><RoleInstanceList><Role><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseHealth(b)
		if err != nil {
			if !errors.Is(err, ErrBadHealthReport) {
				t.Fatalf("error %v does not wrap ErrBadHealthReport", err)
			}
			return
		}
		if r.Health.State != HealthReady && r.Health.State != HealthNotReady {
			t.Fatalf("state %q", r.Health.State)
		}
		for _, s := range []string{r.Health.SubStatus, r.Health.Description} {
			if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0 {
				t.Fatalf("unclean %q", s)
			}
		}
		if len(r.Health.SubStatus) > MaxSubStatus || len(r.Health.Description) > MaxDescription {
			t.Fatalf("unbounded: %d, %d bytes", len(r.Health.SubStatus), len(r.Health.Description))
		}
	})
}

// FuzzHandlers sends any request to the three handlers: never a panic, never a
// server error, and onHealth only for a health report the WireServer accepted.
func FuzzHandlers(f *testing.F) {
	health, _ := os.ReadFile("testdata/health/waagent-failure.xml")
	f.Add(uint8(0), "POST", "/machine?comp=health", "", health)
	f.Add(uint8(0), "GET", "/machine/?comp=goalstate", "", []byte(nil))
	f.Add(uint8(0), "GET", "/machine/c1d2e3f4-0000-4000-8000-000000000001/6f1f3f28-4b0c-4c55-9d3e-2a1c3c7f0e11._vm1?comp=config&type=sharedConfig", "", []byte(nil))
	f.Add(uint8(1), "PUT", "/status", "", []byte("{}"))
	f.Add(uint8(2), "GET", "/metadata/instance/compute/publicKeys/0/keyData?api-version=2021-08-01&format=text", "true", []byte(nil))
	f.Add(uint8(2), "GET", "/metadata/instance/network/interface/0/ipv4/ipAddress/0?api-version=2019-06-01", "True", []byte(nil))
	f.Fuzz(func(t *testing.T, which uint8, method, target, metadata string, body []byte) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t") || method == "" || strings.ContainsAny(method, " \r\n\t/:") {
			return // not a request line net/http would deliver
		}
		calls := 0
		s := New(testInstance(), nil, func(Health) { calls++ })
		h := [...]http.Handler{s.WireServer(), s.HostGAPlugin(), s.IMDS()}[int(which)%3]
		req, err := http.NewRequest(method, "http://fabric"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.RequestURI = target
		if metadata != "" {
			req.Header.Set("Metadata", metadata)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d", method, target, w.Code)
		}
		if calls > 0 && (which%3 != 0 || w.Code != http.StatusOK) {
			t.Fatalf("onHealth called for an answer %d of handler %d", w.Code, which%3)
		}
	})
}
