// Package api is Hangar's REST API over HTTP: routing, authentication with Bearer API
// keys, JSON decoding with strict limits, the mapping of error codes to statuses, the
// OpenAPI document (generated from the same route table that serves requests, so the
// two cannot drift), Prometheus metrics and request logs.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/events"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/nodeauth"
)

// maxJSONBody bounds every JSON request body. A commit of a 4 TiB disk's manifest is
// the largest legitimate body (about 100 bytes per chunk).
const maxJSONBody = 128 << 20

// Server serves the API.
type Server struct {
	cat     *catalog.Service
	vms     *compute.Manager
	log     *slog.Logger
	mux     *http.ServeMux
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	// cluster signs the calls this node forwards; verifier checks those forwarded
	// to it.
	cluster  Cluster
	verifier *nodeauth.Verifier
	limits   *tenantLimits
	// events serves the events and webhooks routes (events.go); streams counts
	// the event streams open on this node.
	events  *events.Service
	streams streams
}

// checkRate takes one request from the tenant's allowance on this node. A call
// another node forwarded was counted there.
func (s *Server) checkRate(w http.ResponseWriter, c *call) error {
	if c.forwardedBy != "" {
		return nil
	}
	ok, wait := s.limits.allow(c.actor.ID, time.Now())
	if ok {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	return hangar.Errorf(hangar.CodeTooManyRequests,
		"tenant %s sends more than %g requests a second (bursts of %d) to this node: retry after the Retry-After seconds",
		c.actor.Name, s.limits.limit.PerSecond, s.limits.limit.Burst)
}

// LimitRate bounds each tenant's requests on this node (see RateLimit); call it
// before serving.
func (s *Server) LimitRate(l RateLimit) { s.limits = newTenantLimits(l) }

// call is what a handler gets: the request, its context, the authenticated tenant
// and, on endpoints that take one, the request's If-Match.
type call struct {
	ctx   context.Context
	r     *http.Request
	actor *hangar.Tenant
	pre   hangar.Precondition
	// forwardedBy is the node that forwarded this call here, once its signature
	// is verified; "" for a call from a client.
	forwardedBy string
}

func (c *call) path(name string) string { return c.r.PathValue(name) }
func (c *call) query(name string) string {
	return c.r.URL.Query().Get(name)
}

// filterTags keeps the listed items whose tags match the request's tag filter
// (?tag=KEY or ?tag=KEY=VALUE, repeatable).
func filterTags[T any](c *call, items []T, err error, tags func(T) hangar.Tags) ([]T, error) {
	if err != nil {
		return items, err
	}
	f, err := hangar.ParseTagFilter(c.r.URL.Query()["tag"])
	if err != nil {
		return nil, err
	}
	return hangar.FilterByTags(items, f, tags), nil
}

// filterGroup keeps the items in the resource group of the resourceGroup query
// (all when there is none).
func filterGroup[T any](c *call, items []T, err error, group func(T) string) ([]T, error) {
	want := c.query("resourceGroup")
	if err != nil || want == "" {
		return items, err
	}
	out := []T{}
	for _, it := range items {
		if hangar.InResourceGroup(group(it), want) {
			out = append(out, it)
		}
	}
	return out, nil
}

// boolQuery reads a true/false query parameter; absent is false, anything but
// true or false is refused (not taken as false).
func (c *call) boolQuery(name string) (bool, error) {
	switch v := c.query(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, hangar.Errorf(hangar.CodeInvalid, "?%s=%s: say true or false", name, v)
	}
}

// endpoint is one route of the table.
type endpoint struct {
	method, pattern, summary string
	public                   bool // no API key needed
	// route, when set, says which node serves the call: "" for this one, else the
	// URL of the compute host it is forwarded to.
	route             func(c *call) (string, error)
	query             []string // documented query parameters
	status            int      // success status
	reqType, respType reflect.Type
	rawBody           bool // the body is streamed to the handler, not decoded
	ifMatch           bool // honors If-Match (see withIfMatch)
	// bodyWithin, if set, is how long the whole body may take to arrive.
	bodyWithin time.Duration
	serve      func(c *call, body io.Reader) (any, error)
}

// op builds an endpoint whose request body (unless Req is noBody) is strict JSON.
func op[Req, Resp any](method, pattern, summary string, fn func(c *call, req Req) (Resp, error)) endpoint {
	e := newEndpoint[Resp](method, pattern, summary)
	if reflect.TypeFor[Req]() != reflect.TypeFor[noBody]() {
		e.reqType = reflect.TypeFor[Req]()
	}
	e.serve = func(c *call, body io.Reader) (any, error) {
		var req Req
		if e.reqType != nil {
			if err := jsonContentType(c.r.Header.Get("Content-Type")); err != nil {
				return nil, err
			}
			if err := decodeJSON(body, &req); err != nil {
				return nil, err
			}
		}
		return fn(c, req)
	}
	return e
}

// newEndpoint sets what the response type decides: its schema, and 204 for noBody.
func newEndpoint[Resp any](method, pattern, summary string) endpoint {
	e := endpoint{method: method, pattern: pattern, summary: summary, status: http.StatusOK, respType: reflect.TypeFor[Resp]()}
	if e.respType == reflect.TypeFor[noBody]() {
		e.respType, e.status = nil, http.StatusNoContent
	}
	return e
}

type noBody struct{}

func (e endpoint) withStatus(s int) endpoint      { e.status = s; return e }
func (e endpoint) withQuery(q ...string) endpoint { e.query = q; return e }
func (e endpoint) routedBy(route func(c *call) (string, error)) endpoint {
	e.route = route
	return e
}

// withIfMatch marks an endpoint that changes an image, disk or VM and honors
// If-Match: the handler passes c.pre down to where the change is made.
func (e endpoint) withIfMatch() endpoint { e.ifMatch = true; return e }

// withBodyWithin bounds the time the request's body may take to arrive: a
// client that sends it more slowly gets its connection closed instead of holding
// what the handler holds for it (a chunk PUT holds a 4 MiB buffer).
func (e endpoint) withBodyWithin(d time.Duration) endpoint { e.bodyWithin = d; return e }

// precondition reads the request's If-Match. Endpoints that do not honor it refuse
// it rather than ignore it: a client asking for a conditional change must not get an
// unconditional one.
func precondition(e endpoint, r *http.Request) (hangar.Precondition, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return hangar.Precondition{}, nil
	}
	if !e.ifMatch {
		return hangar.Precondition{}, hangar.Errorf(hangar.CodeInvalid, "%s %s does not take If-Match; it is honored where an image, disk or VM is changed", e.method, e.pattern)
	}
	return hangar.ParseIfMatch(strings.Join(values, ", "))
}

// etagOf returns the entity tag of a response that is one image, disk or VM.
func etagOf(resp any) string {
	switch v := resp.(type) {
	case hangar.Image:
		return v.ETag
	case hangar.Disk:
		return v.ETag
	case hangar.VM:
		return v.ETag
	}
	return ""
}

// jsonContentType refuses a JSON body that does not say it is JSON. A browser sends
// text/plain, form and multipart bodies to another site without asking it first
// (no CORS preflight): taking them as JSON would let any web page a user visits make
// calls with the user's credentials.
func jsonContentType(ctype string) error {
	mt, _, err := mime.ParseMediaType(ctype)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	if ctype == "" {
		ctype = "none"
	}
	return hangar.Errorf(hangar.CodeUnsupportedMedia, "the body must be JSON, sent with Content-Type: application/json (it says %s)", ctype)
}

// decodeJSON decodes exactly one JSON object, refusing unknown fields and trailing data.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return hangar.Errorf(hangar.CodeInvalid, "the request needs a JSON body")
		}
		return hangar.Errorf(hangar.CodeInvalid, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return hangar.Errorf(hangar.CodeInvalid, "malformed JSON body: data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return hangar.Errorf(hangar.CodeInvalid, "malformed JSON body: data after the JSON object")
	}
	return nil
}

// New returns the API server for a catalog and a VM manager, in a cluster of nodes.
func New(cat *catalog.Service, vms *compute.Manager, log *slog.Logger, cluster Cluster, opts ...Option) *Server {
	s := &Server{cat: cat, vms: vms, log: log, mux: http.NewServeMux(), reg: prometheus.NewRegistry(), cluster: cluster}
	for _, o := range opts {
		o(s)
	}
	if cluster.Key != nil {
		s.verifier = &nodeauth.Verifier{Key: cluster.Key}
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hangar_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"method", "route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hangar_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"method", "route"})
	s.reg.MustRegister(s.reqs, s.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newServiceMetrics(cat, log))

	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	for _, e := range s.endpoints() {
		s.mux.Handle(e.method+" "+e.pattern, s.wrap(e))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.methodsFor(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, r, s.log, hangar.Errorf(hangar.CodeMethodNotAllowed, "%s takes %s, not %s; see /v1/openapi.json", r.URL.Path, strings.Join(allow, ", "), r.Method))
			return
		}
		writeError(w, r, s.log, hangar.Errorf(hangar.CodeNotFound, "no such API route: %s %s; see /v1/openapi.json", r.Method, r.URL.Path))
	})
	return s
}

// methodsFor lists the methods that r's path takes, when r came with another one.
// (The mux's catch-all route matches every method, so the mux never answers 405
// itself.)
func (s *Server) methodsFor(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// Unwrap lets http.ResponseController reach the connection's writer: streamed
// answers (event streams, import progress) flush through it.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) wrap(e endpoint) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		c := &call{ctx: r.Context(), r: r}
		tenant := ""
		defer func() {
			d := time.Since(start)
			s.reqs.WithLabelValues(e.method, e.pattern, fmt.Sprint(w.status)).Inc()
			s.latency.WithLabelValues(e.method, e.pattern).Observe(d.Seconds())
			s.log.Info("request", "method", r.Method, "route", e.pattern, "status", w.status, "tenant", tenant, "duration", d, "requestId", RequestID(r.Context()))
		}()
		if nodeauth.Carries(r.Header) {
			node, err := s.verifyForwarded(e, r)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			c.forwardedBy = node
		}
		if !e.public {
			key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			actor, err := s.cat.Authenticate(r.Context(), key)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			c.actor, tenant = &actor, actor.Name
			if err := s.checkRate(w, c); err != nil {
				writeError(w, r, s.log, err)
				return
			}
		}
		pre, err := precondition(e, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		c.pre = pre
		if e.route != nil {
			target, err := e.route(c)
			if err == nil && target != "" && c.forwardedBy != "" {
				err = hangar.Errorf(hangar.CodeUnavailable, "this node was asked to act for another compute host (placement changed meanwhile): retry the request")
			}
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			if target != "" {
				s.forward(w, r, target)
				return
			}
		}
		if e.bodyWithin > 0 {
			// Fails only for a writer that cannot (a test's recorder): then unbounded.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(e.bodyWithin))
		}
		resp, err := e.serve(c, r.Body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if tag := etagOf(resp); tag != "" && e.method == http.MethodGet {
			w.Header().Set("ETag", tag)
		}
		if e.status == http.StatusNoContent {
			w.WriteHeader(e.status)
			return
		}
		if rs, ok := resp.(responder); ok {
			rs.respond(w, r)
			return
		}
		if raw, ok := resp.([]byte); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.status)
			w.Write(raw)
			return
		}
		writeJSON(w, e.status, resp)
	})
}

// responder is a response that writes itself (disk downloads).
type responder interface {
	respond(w http.ResponseWriter, r *http.Request)
}

// stream builds an endpoint that reads its body itself (disk files, chunks).
func stream[Resp any](method, pattern, summary string, fn func(c *call, body io.Reader) (Resp, error)) endpoint {
	e := newEndpoint[Resp](method, pattern, summary)
	e.rawBody = true
	e.serve = func(c *call, body io.Reader) (any, error) { return fn(c, body) }
	return e
}
