package api

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/events"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Option configures a Server beyond its required parts.
type Option func(*Server)

// WithEvents serves the events and webhooks routes from ev; without it they
// answer 503.
func WithEvents(ev *events.Service) Option { return func(s *Server) { s.events = ev } }

// eventStream is the media type of server-sent events.
const eventStream = "text/event-stream"

// Streams: how long a stream waits before a keep-alive comment (proxies close
// idle connections), and how many streams one tenant may hold open on a node.
const (
	keepAliveEvery      = 15 * time.Second
	maxStreamsPerTenant = 10
)

// streams counts each tenant's open event streams on this node, and ends them
// all when the server shuts down (a stream never ends by itself, so a graceful
// shutdown would wait for it in vain).
type streams struct {
	mu      sync.Mutex
	open    map[string]int
	closing chan struct{}
	once    sync.Once
}

func (st *streams) closingCh() chan struct{} {
	st.once.Do(func() { st.closing = make(chan struct{}) })
	return st.closing
}

// CloseStreams ends every open event stream; clients reconnect (to another node,
// or to this one once it is back) from the last event they got. For
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	ch := s.streams.closingCh()
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (st *streams) acquire(tenant string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open == nil {
		st.open = map[string]int{}
	}
	if st.open[tenant] >= maxStreamsPerTenant {
		return false
	}
	st.open[tenant]++
	return true
}

func (st *streams) release(tenant string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open[tenant]--; st.open[tenant] <= 0 {
		delete(st.open, tenant)
	}
}

func accepts(r *http.Request, mediaType string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == mediaType {
			return true
		}
	}
	return false
}

// eventsAnswer is the answer of GET /v1/events: a JSON list, or with Accept:
// text/event-stream a stream that stays open.
type eventsAnswer struct {
	s     *Server
	actor *hangar.Tenant
	q     events.Query
	list  []hangar.Event
}

func (s *Server) listEvents(c *call) (eventsAnswer, error) {
	if s.events == nil {
		return eventsAnswer{}, errNoEvents
	}
	after, err := events.ParseID(c.query("after"))
	if err != nil {
		return eventsAnswer{}, err
	}
	stream := accepts(c.r, eventStream)
	if id := c.r.Header.Get("Last-Event-ID"); id != "" && stream {
		if after, err = events.ParseID(id); err != nil {
			return eventsAnswer{}, err
		}
	} else if stream && !c.r.URL.Query().Has("after") {
		// A new stream starts with what happens next.
		if after, err = s.events.Latest(c.ctx); err != nil {
			return eventsAnswer{}, err
		}
	}
	q := events.Query{After: after, Types: c.r.URL.Query()["type"]}
	if c.r.URL.Query().Has("newest") {
		if stream {
			return eventsAnswer{}, hangar.Errorf(hangar.CodeInvalid, "newest= lists the newest events; a stream follows the next ones (list them first, then follow with after=ID)")
		}
		n, err := strconv.Atoi(c.query("newest"))
		if err != nil || n <= 0 {
			return eventsAnswer{}, hangar.Errorf(hangar.CodeInvalid, "newest %.40q: give how many of the newest events to list (1 to %d)", c.query("newest"), events.MaxList)
		}
		q.Newest = n
	}
	if stream {
		// Checked now, so that a bad query is a plain error answer.
		if _, err := s.events.List(c.ctx, c.actor, events.Query{After: after, Types: q.Types, Limit: 1}); err != nil {
			return eventsAnswer{}, err
		}
		return eventsAnswer{s: s, actor: c.actor, q: q}, nil
	}
	list, err := s.events.List(c.ctx, c.actor, q)
	if list == nil {
		list = []hangar.Event{}
	}
	return eventsAnswer{list: list}, err
}

var errNoEvents = hangar.Errorf(hangar.CodeUnavailable, "this node does not serve events")

func (a eventsAnswer) respond(w http.ResponseWriter, r *http.Request) {
	if a.s == nil {
		writeJSON(w, http.StatusOK, a.list)
		return
	}
	if !a.s.streams.acquire(a.actor.ID) {
		writeError(w, r, a.s.log, hangar.Errorf(hangar.CodeTooManyRequests, "tenant %s already has %d event streams open on this node; close one first", a.actor.Name, maxStreamsPerTenant))
		return
	}
	defer a.s.streams.release(a.actor.ID)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	w.Header().Set("Content-Type", eventStream)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	rc.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-a.s.streams.closingCh():
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		evs, err := a.s.events.Wait(ctx, a.actor, a.q, keepAliveEvery)
		if err != nil {
			if ctx.Err() == nil {
				a.s.log.Warn("event stream", "tenant", a.actor.Name, "err", err)
			}
			return // the client reconnects with Last-Event-ID
		}
		if len(evs) == 0 {
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		for _, ev := range evs {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data)
			a.q.After, _ = events.ParseID(ev.ID)
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// eventEndpoints are the routes of events and webhooks.
func (s *Server) eventEndpoints() []endpoint {
	ev := func(c *call) (*events.Service, error) {
		if s.events == nil {
			return nil, errNoEvents
		}
		return s.events, nil
	}
	return []endpoint{
		op("GET", "/v1/events", "Your events (an admin's: every tenant's), oldest first, as CloudEvents, at most 1,000: after=ID continues after an event, type=TYPE (repeatable) keeps those types, newest=N (1 to 1,000) gives the newest N instead of the oldest (still oldest first: the last is the newest). With Accept: text/event-stream the answer is a stream of server-sent events that stays open (starting after Last-Event-ID or after=ID, else with the next event)", func(c *call, _ noBody) (eventsAnswer, error) {
			return s.listEvents(c)
		}).withQuery("after", "type", "newest"),
		op("GET", "/v1/events/types", "The event types Hangar sends", func(c *call, _ noBody) (Names, error) {
			return Names{Names: hangar.EventTypes}, nil
		}),
		op("POST", "/v1/webhooks", "Register a webhook: each of your events (an admin's: every tenant's) is POSTed to its URL, signed as Standard Webhooks sign; the signing secret is shown once", func(c *call, req hangar.WebhookCreate) (hangar.WebhookCreated, error) {
			e, err := ev(c)
			if err != nil {
				return hangar.WebhookCreated{}, err
			}
			return e.CreateWebhook(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/webhooks", "List your webhooks with their pending and failed deliveries", func(c *call, _ noBody) ([]hangar.Webhook, error) {
			e, err := ev(c)
			if err != nil {
				return nil, err
			}
			return e.Webhooks(c.ctx, c.actor)
		}),
		op("DELETE", "/v1/webhooks/{id}", "Delete a webhook; its pending deliveries are dropped", func(c *call, _ noBody) (noBody, error) {
			e, err := ev(c)
			if err != nil {
				return noBody{}, err
			}
			return noBody{}, e.DeleteWebhook(c.ctx, c.actor, c.path("id"))
		}),
		op("GET", "/v1/events/deliveries", "Deliveries to your webhooks, newest first: webhook=ID keeps one webhook's, state=pending|delivered|failed one state's", func(c *call, _ noBody) ([]hangar.EventDelivery, error) {
			e, err := ev(c)
			if err != nil {
				return nil, err
			}
			return e.Deliveries(c.ctx, c.actor, c.query("webhook"), c.query("state"))
		}).withQuery("webhook", "state"),
	}
}
