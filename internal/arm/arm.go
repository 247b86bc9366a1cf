// Package arm serves the image-related part of the Azure Resource Manager REST API
// (Microsoft.Compute images, galleries, virtual machines and disks, the
// marketplace's virtual machine images, and Microsoft.MarketplaceOrdering
// agreements), so that programs built on the Azure SDKs work against Hangar by
// changing only their endpoint and credential. docs/arm.md lists what is served.
//
// It is a translation: every call becomes calls of Hangar's own API (package
// client, in this process, with the caller's key), so that each rule (keys,
// visibility, entitlements, quotas, forwarding to a VM's compute host) is enforced
// once. What ARM has and Hangar does not (resource groups, galleries, image
// definitions) is recorded in the store. The wire types are the Azure SDK's own
// models (armcompute), whose JSON is ARM's by construction; the routing is written
// here because ARM paths are case-insensitive, which net/http's patterns are not.
package arm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// PageSize is how many items one page of a list holds; the rest is behind nextLink.
const PageSize = 1000

// DefaultGroup is the resource group of images and VMs made with Hangar's own API
// or CLI without one.
const DefaultGroup = hangar.DefaultResourceGroup

// maxBody bounds a request body: ARM resources are small JSON documents.
const maxBody = 1 << 20

// Registry records ARM's resources (package store implements it).
type Registry interface {
	CreateARMResource(ctx context.Context, tenantID string, r store.ARMResource) error
	UpdateARMResource(ctx context.Context, tenantID string, r store.ARMResource) error
	ARMResourceByName(ctx context.Context, tenantID, kind, parent, name string) (store.ARMResource, error)
	ARMResourceFor(ctx context.Context, tenantID, hangarKind, hangarName string) (store.ARMResource, error)
	ARMResources(ctx context.Context, tenantID, kind, parent, afterParent, afterName string, limit int) ([]store.ARMResource, error)
	DeleteARMResource(ctx context.Context, tenantID, kind, parent, name string) error
}

// Handler serves /subscriptions/... .
type Handler struct {
	api http.Handler
	reg Registry
	// primary is the primary region: the location of disks, which are there.
	primary string
	log     *slog.Logger
	routes  []route
}

// New returns the ARM API over Hangar's own API handler.
func New(api http.Handler, reg Registry, primaryRegion string, log *slog.Logger) *Handler {
	h := &Handler{api: api, reg: reg, primary: primaryRegion, log: log}
	h.routes = h.table()
	return h
}

// call is one ARM request after authentication.
type call struct {
	ctx    context.Context
	w      http.ResponseWriter
	r      *http.Request
	hangar *client.Client // Hangar's API with the caller's key
	tenant hangar.Tenant
	sub    string // the subscription as the path names it
	// primary is the primary region, the location of what has none of its own.
	primary string
	p       map[string]string
}

// route is one ARM operation. Literal segments of pattern are lower case and match
// in any case; "{name}" segments capture.
type route struct {
	method  string
	pattern []string
	serve   func(c *call) (int, any, error)
}

func (h *Handler) handle(method, pattern string, serve func(c *call) (int, any, error)) route {
	return route{method: method, pattern: strings.Split(strings.ToLower(pattern), "/"), serve: serve}
}

// ownSubscription says whether sub is the caller's tenant: its name, its ID, or
// its ID as a UUID (the subscriptionId its VMs' IMDS shows).
func (c *call) ownSubscription(sub string) bool {
	return strings.EqualFold(sub, c.tenant.Name) || sub == c.tenant.ID || strings.EqualFold(sub, hangar.AsUUID(c.tenant.ID))
}

// parseID reads an ARM resource ID of the caller's subscription with the shape of
// pattern (as in the route table, without the leading subscription).
func (c *call) parseID(id, pattern string) (map[string]string, bool) {
	var p map[string]string
	if !matchPath(id, "subscriptions/{subscription}/"+pattern, &p) || !c.ownSubscription(p["subscription"]) {
		return nil, false
	}
	return p, true
}

func (rt route) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(rt.pattern) {
		return nil, false
	}
	p := map[string]string{}
	for i, want := range rt.pattern {
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return nil, false
			}
			p[strings.Trim(want, "{}")] = segs[i]
		} else if !strings.EqualFold(segs[i], want) {
			return nil, false
		}
	}
	return p, true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Split before unescaping: an escaped '/' is part of a name, not a separator.
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeError(w, r, invalid("the path is not valid: %v", err))
			return
		}
		segs[i] = u
	}
	var matched *route
	var params map[string]string
	methodMatched := false
	for i := range h.routes {
		if p, ok := h.routes[i].match(segs); ok {
			methodMatched = true
			if h.routes[i].method == r.Method {
				matched, params = &h.routes[i], p
				break
			}
		}
	}
	if matched == nil {
		if methodMatched {
			writeError(w, r, hangar.Errorf(hangar.CodeMethodNotAllowed, "%s is not supported on %s (docs/arm.md lists what is)", r.Method, r.URL.Path))
			return
		}
		writeError(w, r, &hangar.Error{Code: "InvalidResourceType", Message: fmt.Sprintf("Hangar does not serve %s %s through ARM (docs/arm.md lists what it does)", r.Method, r.URL.Path)})
		return
	}
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c := &call{ctx: r.Context(), w: w, r: r, p: params, sub: params["subscription"], primary: h.primary,
		hangar: client.New("http://hangar.internal", key, client.WithHandler(h.api))}
	if key == "" {
		writeError(w, r, &hangar.Error{Code: "AuthenticationFailed", Message: "send a Hangar API key as the bearer token (Authorization: Bearer KEY)"})
		return
	}
	who, err := c.hangar.Whoami(c.ctx)
	if err != nil {
		if hangar.ErrorCode(err).HTTPStatus() == http.StatusUnauthorized {
			err = &hangar.Error{Code: "AuthenticationFailed", Message: hangar.ErrorMessage(err)}
		}
		writeError(w, r, err)
		return
	}
	c.tenant = who.Tenant
	if !c.ownSubscription(c.sub) {
		// Another tenant's subscription looks exactly like one that does not exist.
		writeError(w, r, &hangar.Error{Code: "SubscriptionNotFound", Message: fmt.Sprintf("The subscription '%s' could not be found.", c.sub)})
		return
	}
	status, body, err := matched.serve(c)
	if err != nil {
		if hangar.ErrorCode(err) == hangar.CodeInternal {
			h.log.Error("ARM request failed", "method", r.Method, "path", r.URL.Path, "tenant", c.tenant.Name, "requestId", api.RequestID(r.Context()), "err", err)
		}
		writeError(w, r, err)
		return
	}
	h.log.Info("ARM request", "method", r.Method, "path", r.URL.Path, "tenant", c.tenant.Name, "status", status, "requestId", api.RequestID(r.Context()))
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// statusOf gives ARM's status for an error: Hangar's own codes keep theirs; the
// codes only ARM uses are named here.
func statusOf(code hangar.Code) int {
	switch code {
	case "AuthenticationFailed":
		return http.StatusUnauthorized
	case "SubscriptionNotFound", "ResourceNotFound", "ResourceGroupNotFound", "InvalidResourceType", "OperationNotFound":
		return http.StatusNotFound
	case "InvalidParameter", "OperationNotAllowed":
		return http.StatusBadRequest
	}
	return code.HTTPStatus()
}

// writeError answers with ARM's error envelope, which is Hangar's own shape.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := hangar.ErrorCode(err)
	status := statusOf(code)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "2")
	}
	writeJSON(w, status, map[string]hangar.Error{"error": api.PublicError(r.Context(), err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// notFound is ARM's answer for a resource that does not exist or is not the
// caller's.
func notFound(kind, name string) error {
	return &hangar.Error{Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource '%s/%s' was not found.", kind, name)}
}

func invalid(format string, args ...any) error {
	return &hangar.Error{Code: "InvalidParameter", Message: fmt.Sprintf(format, args...)}
}

// decode reads the JSON body into v (an armcompute model).
func (c *call) decode(v any) error {
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(data) > maxBody {
		return invalid("the request body is larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("the request body is not the JSON of this resource: %v", err)
	}
	return nil
}

// decodeNew reads the body of a PUT that may make a resource, named by the path's
// param, and checks the name and the resource group.
func (c *call) decodeNew(param, kind string, body any) (string, error) {
	if err := c.decode(body); err != nil {
		return "", err
	}
	name := c.p[param]
	if err := hangar.ValidateName(kind, name); err != nil {
		return "", err
	}
	return name, validGroup(c.p["group"])
}

// base is the URL this server was reached at, for links. Behind a proxy that
// terminates TLS, X-Forwarded-Proto says the client's scheme (it only changes the
// links this client gets).
func (c *call) base() string {
	scheme := "http"
	if c.r.TLS != nil || strings.EqualFold(c.r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host
}

// apiVersion echoes the caller's api-version in links, as ARM does.
func (c *call) apiVersion() string { return c.r.URL.Query().Get("api-version") }

// id builds an ARM resource ID under the caller's subscription.
func (c *call) id(parts ...string) string {
	return "/subscriptions/" + c.sub + "/" + strings.Join(parts, "/")
}

// groupID is the ID of a resource of Microsoft.Compute in a resource group.
func (c *call) groupID(group string, typeAndNames ...string) string {
	return c.id(append([]string{"resourceGroups", group, "providers", "Microsoft.Compute"}, typeAndNames...)...)
}

// page is one page of a list: value, and nextLink when there is more.
type page struct {
	Value    []any  `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// skipToken reads the position a nextLink carries: "" on the first page.
func (c *call) skipToken() (string, error) {
	t := c.r.URL.Query().Get("$skipToken")
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return "", invalid("$skipToken is not one this server gave")
	}
	return string(b), nil
}

// nextLink is the link to the page after the item at position after.
func (c *call) nextLink(after string) string {
	q := url.Values{}
	if v := c.apiVersion(); v != "" {
		q.Set("api-version", v)
	}
	q.Set("$skipToken", base64.RawURLEncoding.EncodeToString([]byte(after)))
	return c.base() + c.r.URL.Path + "?" + q.Encode()
}

// sortedPage pages items by key (sorting them): those after the skip token, up to
// PageSize.
func sortedPage[T any](c *call, items []T, key func(T) string, render func(T) any) (page, error) {
	after, err := c.skipToken()
	if err != nil {
		return page{}, err
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	out := page{Value: []any{}}
	last := ""
	for _, it := range items {
		k := key(it)
		if after != "" && k <= after {
			continue
		}
		if len(out.Value) == PageSize {
			out.NextLink = c.nextLink(last)
			break
		}
		out.Value = append(out.Value, render(it))
		last = k
	}
	return out, nil
}

// isNotFound reports whether err is Hangar's not-found of any kind.
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || hangar.ErrorCode(err).HTTPStatus() == http.StatusNotFound
}

// validGroup checks a resource group name as ARM does: 1 to 90 letters, digits,
// '-', '_', '.', '(' and ')', not ending with a period.
func validGroup(group string) error {
	if err := hangar.ValidateResourceGroup(group); err != nil {
		return invalid("%s", hangar.ErrorMessage(err))
	}
	return nil
}

// str reads an optional string of a model.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Mount serves ARM's paths (/subscriptions/..., in any case) with arm and
// everything else with api.
func Mount(api http.Handler, arm *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) > len("/subscriptions/") && strings.EqualFold(r.URL.Path[:len("/subscriptions/")], "/subscriptions/") {
			arm.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// armTags and hangarTags convert between ARM's tags and Hangar's.
func armTags(t hangar.Tags) map[string]*string {
	if len(t) == 0 {
		return nil
	}
	out := map[string]*string{}
	for k, v := range t {
		out[k] = &v
	}
	return out
}

func hangarTags(t map[string]*string) hangar.Tags {
	out := hangar.Tags{}
	for k, v := range t {
		out[k] = str(v)
	}
	return out
}
