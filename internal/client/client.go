// Package client is the Go client of Hangar's REST API. It speaks the wire types of
// package hangar, so the CLI (and any Go program) works in domain terms; the CLI talks
// to the server only through it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Client talks to one Hangar server with one API key.
type Client struct {
	base string
	key  string
	http *http.Client
	// retrying sends the calls that may be repeated (see retries), through
	// retryable, which is nil when the client has no transport of its own
	// (WithHandler).
	retrying  *http.Client
	retryable *retryablehttp.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:7070 or
// https://hangar.example:7070).
func New(base, key string, opts ...Option) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	c := &Client{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Transport: tr}}
	for _, o := range opts {
		o(c, tr)
	}
	c.retrying = c.http
	if t, ok := c.http.Transport.(*http.Transport); ok {
		c.retryable = retryingClient(t)
		c.retrying = c.retryable.StandardClient()
	}
	return c
}

// Retries: a call that may safely be repeated (GET, HEAD, PUT and DELETE, with no
// body or one held in memory) is sent again when the server cannot be reached or
// answers 429, 502, 503 or 504, after the Retry-After it sends, else after a
// growing pause: a server restarting or a database failing over then costs the
// user a wait, not an error. Other calls (POST, streamed bodies) are sent once.
const (
	retryMax     = 4
	retryWaitMin = 250 * time.Millisecond
	retryWaitMax = 8 * time.Second
	// retryAfterMax bounds the wait a server (or a proxy) may ask for.
	retryAfterMax = 30 * time.Second
)

func retryingClient(tr http.RoundTripper) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr},
		RetryWaitMin: retryWaitMin, RetryWaitMax: retryWaitMax, RetryMax: retryMax,
		CheckRetry: retryPolicy, Backoff: backoff,
		// The last answer is returned as it is, for its error message.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if err != nil || resp == nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ctx.Err() == nil, ctx.Err()
	}
	return false, nil
}

// backoff waits what the answer's Retry-After (in seconds) says, up to
// retryAfterMax, else doubles from retryWaitMin.
func backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
			return min(time.Duration(n)*time.Second, retryAfterMax)
		}
	}
	return retryablehttp.DefaultBackoff(minWait, maxWait, attempt, nil)
}

// rewindableBody is a request body held in memory that a retry can rewind (an
// io.ReadSeeker, which go-retryablehttp seeks instead of copying) and that writes
// itself to the connection from its own bytes (WriterTo).
type rewindableBody struct{ *bytes.Reader }

func (rewindableBody) Close() error { return nil }

// sendFileRange sends a request whose body is fr through the retrying client so
// that the transport gets fr itself as the body, which it can sendfile. Given
// to the retrying client as an http.Request, fr would reach the transport inside
// an io.NopCloser, which net/http does not look through once it has wrapped the
// body for its own bookkeeping: every byte would be copied through a 32 KiB buffer.
func (c *Client) sendFileRange(req *http.Request, fr *fileRange) (*http.Response, error) {
	rreq, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, err
	}
	rewind := func() (io.Reader, error) {
		_, err := fr.Seek(0, io.SeekStart)
		return fr, err
	}
	if err := rreq.SetBody(retryablehttp.ReaderFunc(rewind)); err != nil {
		return nil, err
	}
	return c.retryable.Do(rreq)
}

// repeatable says whether a request may be sent again (see retries).
func repeatable(method string, body io.Reader) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	switch body.(type) {
	case nil, *bytes.Reader, *fileRange:
		return true // rewound for a retry
	}
	return false
}

// Option adjusts a client.
type Option func(c *Client, tr *http.Transport)

// WithCAFile makes the client trust the certificates of a PEM file besides the
// system's: the CA of a server with a certificate of its own (hangar serve
// --tls-cert). "" changes nothing. A file that cannot be used fails every request,
// saying why.
func WithCAFile(path string) Option {
	return func(c *Client, tr *http.Transport) {
		if path == "" {
			return
		}
		pool, err := CertPool(path)
		if err != nil {
			c.http.Transport = failing{err}
			return
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
}

// WithHandler sends every request to h in this process instead of over the network.
// The ARM API (package arm) calls Hangar's own API this way, with its caller's key,
// so that every rule (keys, visibility, quotas, forwarding to a VM's host) is
// applied in one place.
func WithHandler(h http.Handler) Option {
	return func(c *Client, _ *http.Transport) { c.http.Transport = inProcess{h} }
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// CertPool returns the system's trusted certificates plus those of the PEM files.
func CertPool(files ...string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading the CA certificate: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("the CA certificate file %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// failing is a transport that fails every request with one error.
type failing struct{ err error }

func (f failing) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, f.err
}

// RequestOption adjusts one request.
type RequestOption func(*http.Request)

// IfMatch makes a change conditional: the server applies it only if the resource
// still has entity tag etag (its ETag field as last read), and otherwise answers a
// *hangar.Error with code PreconditionFailed, changing nothing. "*" requires only
// that the resource exists; "" adds no condition.
func IfMatch(etag string) RequestOption {
	pre := hangar.IfMatch(etag)
	return func(r *http.Request) {
		if !pre.IsZero() {
			r.Header.Set("If-Match", pre.String())
		}
	}
}

// do sends a request with an optional JSON body (or a raw io.Reader) and decodes a
// JSON answer into out (unless nil). A non-2xx answer becomes a *hangar.Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/octet-stream"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	fr, fromFile := rd.(*fileRange)
	if fromFile {
		req.ContentLength = fr.n // else it would go chunked
		defer fr.release()
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for _, o := range opts {
		o(req)
	}
	hc := c.http
	if repeatable(method, rd) {
		hc = c.retrying
		if b, ok := rd.(*bytes.Reader); ok {
			// Seekable, so that the retrying transport rewinds it to send it again
			// instead of reading it all into a copy first (4 MiB per chunk PUT).
			req.Body = rewindableBody{b}
		}
	}
	var resp *http.Response
	if fromFile && c.retryable != nil {
		resp, err = c.sendFileRange(req, fr)
	} else {
		resp, err = hc.Do(req)
	}
	if err != nil {
		return fmt.Errorf("cannot reach the Hangar server at %s: %w (is `hangar serve` running? check --server or HANGAR_SERVER)", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw, err = io.ReadAll(resp.Body)
		return err
	}
	if b, ok := out.(*bounded); ok {
		b.data, err = io.ReadAll(io.LimitReader(resp.Body, b.max+1))
		if err == nil && int64(len(b.data)) > b.max {
			err = fmt.Errorf("the server at %s answered more than %d bytes for %s", c.base, b.max, path)
		}
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func esc(s string) string { return url.PathEscape(s) }

// Whoami returns the tenant of the key.
func (c *Client) Whoami(ctx context.Context) (hangar.Whoami, error) {
	var out hangar.Whoami
	return out, c.do(ctx, "GET", "/v1/whoami", nil, &out)
}

// CreateTenant creates a tenant (admin).
func (c *Client) CreateTenant(ctx context.Context, req hangar.TenantCreate) (hangar.TenantCreated, error) {
	var out hangar.TenantCreated
	return out, c.do(ctx, "POST", "/v1/tenants", req, &out)
}

// ListTenants lists tenants (admin).
func (c *Client) ListTenants(ctx context.Context) ([]hangar.Tenant, error) {
	var out []hangar.Tenant
	return out, c.do(ctx, "GET", "/v1/tenants", nil, &out)
}

// Tenant shows a tenant with its limits and use (admin, or the tenant itself).
func (c *Client) Tenant(ctx context.Context, name string) (hangar.TenantDetails, error) {
	var out hangar.TenantDetails
	return out, c.do(ctx, "GET", "/v1/tenants/"+esc(name), nil, &out)
}

// UpdateTenant changes a tenant's limits (admin).
func (c *Client) UpdateTenant(ctx context.Context, name string, req hangar.TenantUpdate) (hangar.TenantDetails, error) {
	var out hangar.TenantDetails
	return out, c.do(ctx, "PATCH", "/v1/tenants/"+esc(name), req, &out)
}

// ListDisks lists the tenant's disks; with tag filters (KEY or KEY=VALUE), those
// that have all these tags.
func (c *Client) ListDisks(ctx context.Context, tags ...string) ([]hangar.Disk, error) {
	var out []hangar.Disk
	return out, c.do(ctx, "GET", "/v1/disks"+tagQuery("?", tags), nil, &out)
}

// tagQuery is the tag filter of a list, after sep.
func tagQuery(sep string, tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return sep + url.Values{"tag": tags}.Encode()
}

// SetTags replaces the tags of a disk ("disks"), image ("images") or VM ("vms");
// for an image version, version is not "". out receives the resource.
func (c *Client) SetTags(ctx context.Context, kind, name, version string, tags hangar.Tags, out any, opts ...RequestOption) error {
	path := "/v1/" + kind + "/" + esc(name)
	if version != "" {
		path += "/versions/" + esc(version)
	}
	if tags == nil {
		tags = hangar.Tags{}
	}
	return c.do(ctx, "PUT", path+"/tags", hangar.TagsUpdate{Tags: tags}, out, opts...)
}

// Disk shows a disk.
func (c *Client) Disk(ctx context.Context, name string) (hangar.Disk, error) {
	var out hangar.Disk
	return out, c.do(ctx, "GET", "/v1/disks/"+esc(name), nil, &out)
}

// DeleteDisk deletes a disk.
func (c *Client) DeleteDisk(ctx context.Context, name string, opts ...RequestOption) error {
	return c.do(ctx, "DELETE", "/v1/disks/"+esc(name), nil, nil, opts...)
}

// ImportDisk sends a whole disk file in one stream; the server detects its format.
func (c *Client) ImportDisk(ctx context.Context, name string, body io.Reader) (hangar.Disk, error) {
	var out hangar.Disk
	return out, c.do(ctx, "PUT", "/v1/disks/"+esc(name), body, &out)
}

// CreateImage creates an image or a new version of one.
func (c *Client) CreateImage(ctx context.Context, req hangar.ImageCreate) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "POST", "/v1/images", req, &out)
}

// ListImages lists own images, or with all every image the caller may use; with
// tag filters, the own images that have these tags.
func (c *Client) ListImages(ctx context.Context, all bool, tags ...string) ([]hangar.ImageSummary, error) {
	var out []hangar.ImageSummary
	return out, c.do(ctx, "GET", "/v1/images?all="+fmt.Sprint(all)+tagQuery("&", tags), nil, &out)
}

// Image shows an image by reference (NAME, shared/TENANT/NAME, community/...).
func (c *Client) Image(ctx context.Context, ref string) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "GET", "/v1/images:lookup?ref="+url.QueryEscape(ref), nil, &out)
}

// Resolve resolves any image reference to an exact version.
func (c *Client) Resolve(ctx context.Context, ref string) (hangar.ResolvedImage, error) {
	var out hangar.ResolvedImage
	return out, c.do(ctx, "POST", "/v1/images:resolve", hangar.ResolveRequest{Reference: ref}, &out)
}

// DeleteImage deletes an image with all its versions.
func (c *Client) DeleteImage(ctx context.Context, name string, opts ...RequestOption) error {
	return c.do(ctx, "DELETE", "/v1/images/"+esc(name), nil, nil, opts...)
}

// UpdateVersion changes a version's flags.
func (c *Client) UpdateVersion(ctx context.Context, name, version string, u hangar.ImageVersionUpdate, opts ...RequestOption) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "PATCH", "/v1/images/"+esc(name)+"/versions/"+esc(version), u, &out, opts...)
}

// Share shares an image with a tenant, or stops sharing it.
func (c *Client) Share(ctx context.Context, name, tenant string, share bool, opts ...RequestOption) (hangar.Image, error) {
	var out hangar.Image
	if share {
		return out, c.do(ctx, "POST", "/v1/images/"+esc(name)+"/shares", hangar.ShareRequest{Tenant: tenant}, &out, opts...)
	}
	return out, c.do(ctx, "DELETE", "/v1/images/"+esc(name)+"/shares/"+esc(tenant), nil, &out, opts...)
}

// PublishCommunity publishes an image to the community repository.
func (c *Client) PublishCommunity(ctx context.Context, name string, req hangar.Community, opts ...RequestOption) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "PUT", "/v1/images/"+esc(name)+"/community", req, &out, opts...)
}

// UnpublishCommunity withdraws an image from the community repository.
func (c *Client) UnpublishCommunity(ctx context.Context, name string, opts ...RequestOption) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "DELETE", "/v1/images/"+esc(name)+"/community", nil, &out, opts...)
}

// Marketplace lists marketplace images.
func (c *Client) Marketplace(ctx context.Context, f hangar.MarketplaceFilter) ([]hangar.MarketplaceImage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"publisher": f.Publisher, "offer": f.Offer, "sku": f.SKU} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.All {
		q.Set("all", "true")
	}
	var out []hangar.MarketplaceImage
	return out, c.do(ctx, "GET", "/v1/marketplace/images?"+q.Encode(), nil, &out)
}

// PublishMarketplace publishes an image version to the marketplace.
func (c *Client) PublishMarketplace(ctx context.Context, req hangar.MarketplacePublish) (hangar.MarketplaceImage, error) {
	var out hangar.MarketplaceImage
	return out, c.do(ctx, "POST", "/v1/marketplace/images", req, &out)
}

// WithdrawMarketplace removes a marketplace version.
func (c *Client) WithdrawMarketplace(ctx context.Context, urn string) error {
	return c.do(ctx, "DELETE", "/v1/marketplace/images/"+esc(urn), nil, nil)
}

// MarketplaceImage shows a marketplace image by URN.
func (c *Client) MarketplaceImage(ctx context.Context, urn string) (hangar.MarketplaceImage, error) {
	var out hangar.MarketplaceImage
	return out, c.do(ctx, "GET", "/v1/marketplace/images/"+esc(urn), nil, &out)
}

// MarketplaceNames lists publishers, a publisher's offers (publisher set) or an offer's
// SKUs (publisher and offer set).
func (c *Client) MarketplaceNames(ctx context.Context, publisher, offer string) ([]string, error) {
	path := "/v1/marketplace/publishers"
	if publisher != "" {
		path += "/" + esc(publisher) + "/offers"
		if offer != "" {
			path += "/" + esc(offer) + "/skus"
		}
	}
	var out struct {
		Names []string `json:"names"`
	}
	return out.Names, c.do(ctx, "GET", path, nil, &out)
}

// Terms shows (or with accept, accepts) the terms of a marketplace image's plan.
func (c *Client) Terms(ctx context.Context, urn string, accept bool) (hangar.Terms, error) {
	var out hangar.Terms
	if accept {
		return out, c.do(ctx, "POST", "/v1/marketplace/terms/"+esc(urn)+"/accept", nil, &out)
	}
	return out, c.do(ctx, "GET", "/v1/marketplace/terms/"+esc(urn), nil, &out)
}

// OpenAPI fetches the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, "GET", "/v1/openapi.json", nil, &out)
}

// GC collects unreferenced chunks (admin).
func (c *Client) GC(ctx context.Context, req hangar.GCRequest) (hangar.GCReport, error) {
	var out hangar.GCReport
	return out, c.do(ctx, "POST", "/v1/admin/gc", req, &out)
}

// Scrub re-verifies every chunk (admin).
func (c *Client) Scrub(ctx context.Context) (hangar.ScrubReport, error) {
	var out hangar.ScrubReport
	return out, c.do(ctx, "POST", "/v1/admin/scrub", struct{}{}, &out)
}

// RunsPage selects a page of a GC or scrub history: at most Limit runs (the
// server's default when 0), those before the run with ID Before when set.
type RunsPage struct {
	Before string
	Limit  int
}

func (p RunsPage) query() string {
	q := url.Values{}
	if p.Before != "" {
		q.Set("before", p.Before)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// GCRuns lists the history of garbage collections, newest first (admin).
func (c *Client) GCRuns(ctx context.Context, p RunsPage) ([]hangar.GCRun, error) {
	var out []hangar.GCRun
	return out, c.do(ctx, "GET", "/v1/admin/gc/runs"+p.query(), nil, &out)
}

// ScrubRuns lists the history of scrubs, newest first (admin).
func (c *Client) ScrubRuns(ctx context.Context, p RunsPage) ([]hangar.ScrubRun, error) {
	var out []hangar.ScrubRun
	return out, c.do(ctx, "GET", "/v1/admin/scrub/runs"+p.query(), nil, &out)
}

// GCRun returns one garbage collection of the history (admin).
func (c *Client) GCRun(ctx context.Context, id string) (hangar.GCRun, error) {
	var out hangar.GCRun
	return out, c.do(ctx, "GET", "/v1/admin/gc/runs/"+url.PathEscape(id), nil, &out)
}

// ScrubRun returns one scrub of the history (admin).
func (c *Client) ScrubRun(ctx context.Context, id string) (hangar.ScrubRun, error) {
	var out hangar.ScrubRun
	return out, c.do(ctx, "GET", "/v1/admin/scrub/runs/"+url.PathEscape(id), nil, &out)
}

// CreateVM creates a VM; it boots in the background.
func (c *Client) CreateVM(ctx context.Context, req hangar.VMCreate) (hangar.VM, error) {
	var out hangar.VM
	return out, c.do(ctx, "POST", "/v1/vms", req, &out)
}

// VM shows a VM.
func (c *Client) VM(ctx context.Context, name string) (hangar.VM, error) {
	var out hangar.VM
	return out, c.do(ctx, "GET", "/v1/vms/"+esc(name), nil, &out)
}

// ListVMs lists the caller's VMs; with tag filters, those that have these tags.
func (c *Client) ListVMs(ctx context.Context, tags ...string) ([]hangar.VM, error) {
	var out []hangar.VM
	return out, c.do(ctx, "GET", "/v1/vms"+tagQuery("?", tags), nil, &out)
}

// DeleteVM deletes a VM.
func (c *Client) DeleteVM(ctx context.Context, name string, opts ...RequestOption) error {
	return c.do(ctx, "DELETE", "/v1/vms/"+esc(name), nil, nil, opts...)
}

// VMAction runs start, stop, deallocate or restart.
func (c *Client) VMAction(ctx context.Context, name, action string, opts ...RequestOption) (hangar.VM, error) {
	var out hangar.VM
	return out, c.do(ctx, "POST", "/v1/vms/"+esc(name)+"/"+action, nil, &out, opts...)
}

// SerialLog returns the tail of a VM's serial console.
func (c *Client) SerialLog(ctx context.Context, name string, maxBytes int64) (hangar.SerialLog, error) {
	var out hangar.SerialLog
	return out, c.do(ctx, "GET", "/v1/vms/"+esc(name)+"/serial-log?bytes="+fmt.Sprint(maxBytes), nil, &out)
}

// RunCommand runs a script in a VM's guest.
func (c *Client) RunCommand(ctx context.Context, name string, req hangar.RunCommand) (hangar.RunCommandResult, error) {
	var out hangar.RunCommandResult
	return out, c.do(ctx, "POST", "/v1/vms/"+esc(name)+"/run-command", req, &out)
}

// Backup snapshots a stopped VM's disks.
func (c *Client) Backup(ctx context.Context, name string, req hangar.VMBackup) (hangar.VMBackupResult, error) {
	var out hangar.VMBackupResult
	return out, c.do(ctx, "POST", "/v1/vms/"+esc(name)+"/backup", req, &out)
}

// Generalize marks a stopped, deprovisioned VM generalized.
func (c *Client) Generalize(ctx context.Context, name string, req hangar.VMGeneralize, opts ...RequestOption) (hangar.VM, error) {
	var out hangar.VM
	return out, c.do(ctx, "POST", "/v1/vms/"+esc(name)+"/generalize", req, &out, opts...)
}

// Capture makes an image of a VM.
func (c *Client) Capture(ctx context.Context, name string, req hangar.VMCapture) (hangar.Image, error) {
	var out hangar.Image
	return out, c.do(ctx, "POST", "/v1/vms/"+esc(name)+"/capture", req, &out)
}

// GeneralizeDisk generalizes a stored disk offline into a new disk.
func (c *Client) GeneralizeDisk(ctx context.Context, name string, req hangar.DiskGeneralize) (hangar.DiskGeneralized, error) {
	var out hangar.DiskGeneralized
	return out, c.do(ctx, "POST", "/v1/disks/"+esc(name)+"/generalize", req, &out)
}
