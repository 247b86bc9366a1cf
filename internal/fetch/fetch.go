package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrRefused means the policy refused an address, a scheme or a redirect.
var ErrRefused = errors.New("fetch: refused")

// MaxRedirects bounds the redirects an http(s) source may take.
const MaxRedirects = 5

// Policy says which addresses the fetcher may connect to.
type Policy struct {
	// Allow holds prefixes an admin allowed even though they are internal
	// (hangar serve --import-allow-cidr).
	Allow []netip.Prefix
	// ownAddrs lists the host's own addresses; nil means ask the system (tests
	// set it).
	ownAddrs func() []netip.Addr
}

// Check refuses an address the policy does not allow, saying why.
func (p Policy) Check(a netip.Addr) error {
	a = a.Unmap()
	for _, pre := range p.Allow {
		if pre.Contains(a) {
			return nil
		}
	}
	why := ""
	switch {
	case !a.IsValid():
		why = "not an IP address"
	case a.IsUnspecified():
		why = "the unspecified address"
	case a.IsLoopback():
		why = "a loopback address"
	case a.IsLinkLocalUnicast():
		why = "a link-local address (cloud metadata services live there)"
	case a.IsPrivate():
		why = "a private address"
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "a multicast or broadcast address"
	case p.isOwn(a):
		why = "one of this server's own addresses"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s is %s; an admin can allow it with hangar serve --import-allow-cidr", ErrRefused, a, why)
}

func (p Policy) isOwn(a netip.Addr) bool {
	own := p.ownAddrs
	if own == nil {
		own = hostAddrs
	}
	for _, o := range own() {
		if o.Unmap() == a {
			return true
		}
	}
	return false
}

var (
	hostMu     sync.Mutex
	hostCached []netip.Addr
	hostAt     time.Time
)

// hostAddrs lists the host's interface addresses, looked up at most every few
// seconds.
func hostAddrs() []netip.Addr {
	hostMu.Lock()
	defer hostMu.Unlock()
	if time.Since(hostAt) < 5*time.Second {
		return hostCached
	}
	hostCached = hostCached[:0]
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				hostCached = append(hostCached, ip.Unmap())
			}
		}
	}
	hostAt = time.Now()
	return hostCached
}

// control is the dialer's check of each socket before it connects.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", ErrRefused, address)
	}
	return p.Check(ap.Addr())
}

// Fetcher opens sources under a policy.
type Fetcher struct {
	policy    Policy
	transport *http.Transport
	client    *http.Client
}

// New returns a fetcher whose every connection the policy checks.
func New(p Policy) *Fetcher {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return idleConn{c}, nil
	}
	t := &http.Transport{
		Proxy:                 nil, // never: the proxy, not the target, would be checked
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConns:          4,
	}
	f := &Fetcher{policy: p, transport: t}
	f.client = &http.Client{Transport: t, CheckRedirect: checkRedirect}
	return f
}

// IdleTimeout is how long a source may send nothing before its fetch fails: a
// server that trickles or stalls does not hold an import (and a staging file) forever.
var IdleTimeout = 2 * time.Minute

// idleConn fails a read that waits longer than IdleTimeout.
type idleConn struct{ net.Conn }

func (c idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(IdleTimeout))
	return c.Conn.Read(p)
}

// Transport is the fetcher's guarded transport, for clients of other protocols
// over HTTP (S3).
func (f *Fetcher) Transport() http.RoundTripper { return f.transport }

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRefused, MaxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: redirect to a %s URL; only http and https are followed", ErrRefused, req.URL.Scheme)
	}
	// Credentials given for the first host are not handed to another.
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// Source is what to fetch.
type Source struct {
	URL string
	// S3 signs requests for s3:// URLs; nil or empty keys mean anonymous.
	S3 *S3Access
}

// S3Access is where an s3:// URL's bucket is and the credentials to read it.
type S3Access struct {
	Endpoint        string // http(s)://HOST[:PORT]; empty means AWS
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Remote is an opened source: its body, and its size when the server said it.
type Remote struct {
	Body io.ReadCloser
	Size int64 // -1 when not known
	// Where names the source for messages, without credentials or query.
	Where string
}

// FetchError is a failure of the remote side (not found, denied, a server error):
// the source, not Hangar, is at fault.
type FetchError struct {
	Where  string
	Status int // HTTP status, 0 when there was none
	Msg    string
}

func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s answered %d %s: %s", e.Where, e.Status, http.StatusText(e.Status), e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Where, e.Msg)
}

// ParseURL checks a source URL: http or https with a host, or s3://BUCKET/KEY. It
// returns the parsed URL.
func ParseURL(raw string) (*url.URL, error) {
	if len(raw) > 4096 {
		return nil, errors.New("the URL is longer than 4096 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the URL does not parse: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%s has no host", redact(u))
		}
	case "s3":
		if u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return nil, fmt.Errorf("%s: want s3://BUCKET/KEY", redact(u))
		}
	default:
		return nil, fmt.Errorf("scheme %q is not fetched: use http, https or s3 (s3://BUCKET/KEY)", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("the URL carries a user name or password; for s3 send credentials apart, for http use a URL that needs none (a presigned one)")
	}
	return u, nil
}

// redact names a URL for messages and logs: no user info, no query (presigned URLs
// carry their signature there), no fragment.
func redact(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment, v.ForceQuery = nil, "", "", false
	return v.String()
}

// Open opens the source for reading. The caller closes the body.
func (f *Fetcher) Open(ctx context.Context, src Source) (*Remote, error) {
	u, err := ParseURL(src.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "s3" {
		return f.openS3(ctx, u, src.S3)
	}
	return f.openHTTP(ctx, u)
}

func (f *Fetcher) openHTTP(ctx context.Context, u *url.URL) (*Remote, error) {
	where := redact(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "hangar-import")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, unwrapRefusal(err)
		}
		return nil, &FetchError{Where: where, Msg: "cannot fetch: " + strings.TrimPrefix(err.Error(), "Get ")}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &FetchError{Where: where, Status: resp.StatusCode, Msg: "want 200 OK with the disk file"}
	}
	return &Remote{Body: resp.Body, Size: resp.ContentLength, Where: where}, nil
}

// unwrapRefusal keeps the refusal's own words, dropping the layers of URL and
// dial errors around it (which would repeat a presigned URL's query).
func unwrapRefusal(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), ErrRefused.Error()+":") {
			return e
		}
	}
	return err
}
