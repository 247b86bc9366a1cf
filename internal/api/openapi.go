package api

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/events"
	"github.com/hangarvm/hangar/internal/hangar"
)

// OpenAPI returns the OpenAPI 3.0 document of the API, generated from the route table
// and the wire types. docs/openapi.json in the repository is this output; a test keeps
// the two equal.
func (s *Server) OpenAPI() ([]byte, error) {
	g := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, e := range s.endpoints() {
		opn := map[string]any{
			"summary":     e.summary,
			"operationId": operationID(e),
			"responses":   g.responses(e),
			"tags":        []string{tagOf(e.pattern)},
		}
		if e.public {
			opn["security"] = []any{}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(e.pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range e.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": queryParams[q]})
		}
		if e.ifMatch {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": false, "schema": map[string]any{"type": "string"},
				"description": `Apply the change only if the resource still has this entity tag (its etag field, e.g. "3-..." with the quotes), or * if it exists; else 412 PreconditionFailed and nothing changes.`})
		}
		if params != nil {
			opn["parameters"] = params
		}
		switch {
		case e.rawBody:
			opn["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		case e.reqType != nil:
			opn["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(e.reqType)}}}
		}
		if paths[e.pattern] == nil {
			paths[e.pattern] = map[string]any{}
		}
		paths[e.pattern][strings.ToLower(e.method)] = opn
	}
	paths["/metrics"] = map[string]any{"get": map[string]any{
		"summary": "Prometheus metrics", "operationId": "getMetrics", "security": []any{},
		"responses": map[string]any{"200": map[string]any{"description": "Prometheus text format",
			"content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}},
	}}
	g.components["Error"] = map[string]any{
		"type": "object", "required": []string{"error"},
		"properties": map[string]any{"error": map[string]any{
			"type": "object", "required": []string{"code", "message"},
			"properties": map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"},
				"requestId": map[string]any{"type": "string", "description": "the x-ms-request-id of the answer: quote it when reporting a problem"}},
		}},
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Hangar API", "version": "1",
			"description": "VM images (own, shared, community, marketplace) and the disks they are made of. Every call but /healthz, /metrics and this document needs an API key: Authorization: Bearer KEY."},
		"servers":    []any{map[string]any{"url": "http://127.0.0.1:7070", "description": "hangar serve's default address"}},
		"tags":       tags(),
		"paths":      paths,
		"security":   []any{map[string]any{"apiKey": []any{}}},
		"components": map[string]any{"schemas": g.components, "securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

var pathParam = regexp.MustCompile(`\{([a-z0-9]+)\}`)

// tagDescriptions group the operations by what they act on: the first segment
// of their path.
var tagDescriptions = map[string]string{
	"admin":        "Garbage collection, scrub, compute hosts, the signing key (admins)",
	"disks":        "Your disks: list, show, delete, download in each format, generalize offline",
	"events":       "What happened to your resources: events as CloudEvents, listed or streamed (server-sent events), and webhook deliveries",
	"healthz":      "Liveness",
	"images":       "Your images, their versions, sharing, the community repository, replication to regions",
	"marketplace":  "Publishers' images, plans and terms; upstreams, syndication and bundle imports (admins)",
	"openapi.json": "This document",
	"syndication":  "What this installation serves subscribers: signed catalog, manifests, chunks (docs/syndication.md)",
	"tenants":      "Tenants, their keys and quotas (admins)",
	"uploads":      "Resumable, chunked disk uploads: only the chunks the server lacks are sent",
	"vms":          "VMs: create from any image reference, actions, run-command, backup, generalize, capture",
	"webhooks":     "Receivers of your events: each event POSTed, signed as Standard Webhooks sign",
	"whoami":       "The tenant of the key",
}

func tagOf(pattern string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(pattern, "/v1"), "/"), "/")
	first, _, _ = strings.Cut(first, ":")
	return first
}

func tags() []any {
	var names []string
	for name := range tagDescriptions {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []any
	for _, n := range names {
		out = append(out, map[string]any{"name": n, "description": tagDescriptions[n]})
	}
	return out
}

// queryParams are the schemas of the query parameters endpoints take.
var queryParams = map[string]map[string]any{
	"all":           {"type": "boolean"},
	"bytes":         {"type": "integer", "format": "int64", "minimum": 0},
	"format":        {"type": "string", "enum": catalog.ExportFormats},
	"ref":           {"type": "string"},
	"tag":           {"type": "array", "items": map[string]any{"type": "string"}, "description": "KEY or KEY=VALUE; repeat to require several"},
	"publisher":     {"type": "string"},
	"offer":         {"type": "string"},
	"sku":           {"type": "string"},
	"resourceGroup": {"type": "string", "description": "an ARM resource group: keeps what is in it (hangar: what was made without one)"},
	"pattern":       {"type": "array", "items": map[string]any{"type": "string"}, "description": "PUBLISHER:OFFER[:SKU[:VERSION]], repeatable"},
	"after":         {"type": "integer", "format": "int64", "minimum": 0, "description": "an event's id: only events after it"},
	"newest":        {"type": "integer", "minimum": 1, "maximum": events.MaxList, "description": "list the newest N events (still oldest first) instead of the oldest"},
	"type":          {"type": "array", "items": map[string]any{"type": "string", "enum": hangar.EventTypes}, "description": "an event type; repeat for several"},
	"webhook":       {"type": "string", "description": "a webhook's id"},
	"state":         {"type": "string", "enum": []string{hangar.DeliveryPending, hangar.DeliveryDelivered, hangar.DeliveryFailed}},
	"limit":         {"type": "integer", "minimum": 1, "maximum": 1000, "description": "at most this many (default 100)"},
	"before":        {"type": "string", "description": "a run's id: only the runs before it (the next page)"},
}

// enums are the values of the wire types that take a fixed set.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[hangar.ImageType]():         {string(hangar.ImageTypeOS), string(hangar.ImageTypeVM)},
	reflect.TypeFor[hangar.OSType]():            {string(hangar.OSLinux), string(hangar.OSWindows)},
	reflect.TypeFor[hangar.OSState]():           {string(hangar.Generalized), string(hangar.Specialized)},
	reflect.TypeFor[hangar.ProvisioningAgent](): {string(hangar.AgentAuto), string(hangar.AgentAzure), string(hangar.AgentNoCloud), string(hangar.AgentHangar), string(hangar.AgentNone)},
	reflect.TypeFor[hangar.Role]():              {string(hangar.RoleAdmin), string(hangar.RolePublisher), string(hangar.RoleUser)},
	reflect.TypeFor[hangar.Egress]():            {string(hangar.EgressInternet), string(hangar.EgressNone)},
	reflect.TypeFor[hangar.PowerState](): {string(hangar.PowerCreating), string(hangar.PowerRunning), string(hangar.PowerStopping), string(hangar.PowerStopped),
		string(hangar.PowerDeallocated), string(hangar.PowerGeneralized), string(hangar.PowerFailed), string(hangar.PowerDeleting), string(hangar.PowerUnknown)},
	reflect.TypeFor[hangar.ProvisioningState](): {string(hangar.ProvisioningCreating), string(hangar.ProvisioningSucceeded), string(hangar.ProvisioningFailed), string(hangar.ProvisioningTimedOut)},
}

func operationID(e endpoint) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(e.method))
	for _, part := range strings.FieldsFunc(e.pattern, func(r rune) bool { return r == '/' || r == ':' || r == '.' || r == '{' || r == '}' || r == '-' }) {
		if part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

type schemaGen struct {
	components map[string]any
}

func (g *schemaGen) responses(e endpoint) map[string]any {
	errRef := map[string]any{"description": "error", "content": map[string]any{
		"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	ok := map[string]any{"description": http.StatusText(e.status)}
	if e.respType == reflect.TypeFor[diskContent]() || e.respType == reflect.TypeFor[chunkBody]() {
		ok["content"] = map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	} else if e.respType == reflect.TypeFor[importAnswer]() {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeFor[hangar.Disk]())}}
		ok["description"] = "Created (without Accept: application/x-ndjson)"
		return map[string]any{strconv.Itoa(e.status): ok, "200": map[string]any{
			"description": "Accept: application/x-ndjson: progress lines, then the disk or the error (one JSON object a line)",
			"content":     map[string]any{ndjson: map[string]any{"schema": g.schema(reflect.TypeFor[hangar.DiskImportEvent]())}}},
			"default": errRef}
	} else if e.respType == reflect.TypeFor[eventsAnswer]() {
		ok["content"] = map[string]any{
			"application/json": map[string]any{"schema": g.schema(reflect.TypeFor[[]hangar.Event]())},
			eventStream:        map[string]any{"schema": map[string]any{"type": "string", "description": "server-sent events: id (the event's id), event (its type) and data (the event as JSON)"}},
		}
	} else if e.respType != nil {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(e.respType)}}
	}
	if e.method == http.MethodGet && etagged[e.respType] {
		ok["headers"] = map[string]any{"ETag": map[string]any{"description": "The resource's entity tag, for If-Match on a later change", "schema": map[string]any{"type": "string"}}}
	}
	out := map[string]any{strconv.Itoa(e.status): ok, "default": errRef}
	if e.ifMatch {
		out["412"] = map[string]any{"description": "PreconditionFailed: the resource changed since it was read (If-Match does not hold)", "content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	return out
}

// etagged are the response types that carry an entity tag (see etagOf).
var etagged = map[reflect.Type]bool{reflect.TypeFor[hangar.Image](): true, reflect.TypeFor[hangar.Disk](): true, reflect.TypeFor[hangar.VM](): true}

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	timeType      = reflect.TypeFor[time.Time]()
	rawJSON       = reflect.TypeFor[json.RawMessage]()
)

// schema returns the JSON schema of t, registering named structs as components.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Implements(textMarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		if values, ok := enums[t]; ok {
			return map[string]any{"type": "string", "enum": values}
		}
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Slice:
		if t == rawJSON {
			return map[string]any{"type": "object"} // pre-encoded JSON
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"} // base64, as encoding/json writes bytes
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if _, done := g.components[name]; !done {
			g.components[name] = nil // break recursion
			g.components[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			sub := g.structSchema(f.Type)
			for k, v := range sub["properties"].(map[string]any) {
				props[k] = v
			}
			if r, ok := sub["required"].([]string); ok {
				required = append(required, r...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props}
	if required != nil {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}
