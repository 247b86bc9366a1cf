package fetch

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPolicyCheck(t *testing.T) {
	own := netip.MustParseAddr("203.0.113.7")
	p := Policy{ownAddrs: func() []netip.Addr { return []netip.Addr{own} }}
	allowed := p
	allowed.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}
	cases := []struct {
		addr         string
		refused      bool
		allowedAfter bool // by allowed's prefixes
		why          string
	}{
		{"93.184.215.14", false, true, ""},
		{"2606:4700::1111", false, true, ""},
		{"127.0.0.1", true, true, "loopback"},
		{"127.9.9.9", true, true, "loopback"},
		{"::1", true, false, "loopback"},
		{"::ffff:127.0.0.1", true, true, "loopback"},
		{"169.254.169.254", true, false, "link-local"},
		{"fe80::1", true, false, "link-local"},
		{"10.0.0.1", true, false, "private"},
		{"10.1.2.3", true, true, "private"},
		{"172.16.5.4", true, false, "private"},
		{"192.168.1.1", true, false, "private"},
		{"fd00::1", true, false, "private"},
		{"0.0.0.0", true, false, "unspecified"},
		{"::", true, false, "unspecified"},
		{"224.0.0.1", true, false, "multicast"},
		{"255.255.255.255", true, false, "broadcast"},
		{"203.0.113.7", true, false, "own"},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			err := p.Check(netip.MustParseAddr(c.addr))
			if (err != nil) != c.refused {
				t.Fatalf("Check(%s) = %v, refused want %v", c.addr, err, c.refused)
			}
			if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.why)) {
				t.Errorf("error %q does not wrap ErrRefused or say %q", err, c.why)
			}
			if err := allowed.Check(netip.MustParseAddr(c.addr)); (err == nil) != c.allowedAfter {
				t.Errorf("with allowed CIDRs: %v, allowed want %v", err, c.allowedAfter)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct{ url, err string }{
		{"https://example.com/disk.vhd", ""},
		{"http://example.com:8080/d.qcow2?sig=x", ""},
		{"s3://bucket/path/to/disk.raw", ""},
		{"s3://bucket/", "want s3://BUCKET/KEY"},
		{"s3:///key", "want s3://BUCKET/KEY"},
		{"file:///etc/passwd", "not fetched"},
		{"gopher://x/", "not fetched"},
		{"http:///x", "no host"},
		{"https://user:pw@example.com/d", "user name or password"},
		{"https://example.com/" + strings.Repeat("a", 5000), "longer than"},
	}
	for _, c := range cases {
		_, err := ParseURL(c.url)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseURL(%.40q) = %v, want %q", c.url, err, c.err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://example.com/d.vhd", "s3://b/k", "http://[::1]:80/x?y#z", "s3://b/", "ftp://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		if u.User != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "s3") {
			t.Fatalf("ParseURL(%q) accepted %#v", s, u)
		}
		if r := redact(u); strings.Contains(r, "?") && u.RawQuery != "" {
			t.Fatalf("redact(%q) keeps the query: %s", s, r)
		}
	})
}

// serve starts an HTTP server on addr (a loopback address) until the test ends.
func serve(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

func TestOpenRefusesInternalAddresses(t *testing.T) {
	body := "disk bytes"
	target := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	// The redirector lives on another loopback address, which the tests allow.
	redirector := serve(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	onlyRedirector := New(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	loopback := New(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	port := target[strings.LastIndex(target, ":"):]
	cases := []struct {
		name string
		f    *Fetcher
		url  string
		want string // "" for success
	}{
		{"loopback without the allow flag", New(Policy{}), target + "/d", "loopback"},
		{"loopback allowed", loopback, target + "/d", ""},
		{"redirect to 127.0.0.1", onlyRedirector, redirector + "/?to=" + target + "/d", "127.0.0.1 is a loopback"},
		{"redirect to file:", loopback, redirector + "/?to=file:///etc/passwd", "only http and https"},
		{"redirect allowed", loopback, redirector + "/?to=" + target + "/d", ""},
		{"DNS name resolving to loopback", onlyRedirector, "http://localhost" + port + "/d", "loopback"},
		{"link-local metadata service", onlyRedirector, "http://169.254.169.254/latest/meta-data/", "link-local"},
		{"unspecified", onlyRedirector, "http://0.0.0.0" + port + "/d", "unspecified"},
		{"private", onlyRedirector, "http://10.255.255.1/d", "private"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := c.f.Open(context.Background(), Source{URL: c.url})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				got, _ := io.ReadAll(r.Body)
				if string(got) != body || r.Size != int64(len(body)) {
					t.Fatalf("read %q (size %d)", got, r.Size)
				}
				return
			}
			if err == nil {
				r.Body.Close()
				t.Fatal("fetched; want a refusal")
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want ErrRefused saying %q", err, c.want)
			}
		})
	}
}

func TestOpenReportsRemoteErrors(t *testing.T) {
	u := serve(t, "127.0.0.1:0", http.NotFoundHandler())
	f := New(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, err := f.Open(context.Background(), Source{URL: u + "/missing?X-Amz-Signature=secret"})
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Status != 404 || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v, want a 404 FetchError without the query", err)
	}
}

func TestStalledSourceTimesOut(t *testing.T) {
	old := IdleTimeout
	IdleTimeout = 200 * time.Millisecond
	defer func() { IdleTimeout = old }()
	stop := make(chan struct{})
	defer close(stop)
	u := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("a few bytes, then nothing"))
		w.(http.Flusher).Flush()
		<-stop
	}))
	f := New(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	r, err := f.Open(context.Background(), Source{URL: u + "/d"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if _, err := io.ReadAll(r.Body); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("reading a stalled source: %v, want a timeout", err)
	}
}
