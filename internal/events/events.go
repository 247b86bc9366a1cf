// Package events tells tenants what happened to their resources: a stream of
// events (listed, or followed as server-sent events) and webhooks that receive
// each event as a signed HTTP POST.
//
// The store writes each event in the transaction of the change it reports (an
// outbox), with a pending delivery to each webhook that wants it; this package
// reads them back and delivers them. Deliveries are signed as Standard Webhooks
// sign (HMAC-SHA256 over ID, timestamp and body, https://www.standardwebhooks.com),
// retried with exponential backoff for up to a day, and a resource's events reach
// each receiver in order. Receivers are reached through the same guarded dialer as
// imports from a URL, so a webhook cannot aim the server at its own network.
package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// Service serves events and delivers them to webhooks.
type Service struct {
	db     *store.DB
	log    *slog.Logger
	policy fetch.Policy
	dl     *deliverer
}

// Config holds the service's settings.
type Config struct {
	// Deliver sends one delivery; nil means over HTTP through the guarded dialer
	// with Policy (serve --webhook-allow-cidr).
	Deliver Sender
	// Policy says which addresses webhooks may reach (the SSRF policy).
	Policy fetch.Policy
	// Retention is how long events are kept for those who list them; zero means
	// DefaultRetention.
	Retention time.Duration
}

// DefaultRetention is how long events stay listable.
const DefaultRetention = 7 * 24 * time.Hour

// New returns the events service over the metadata store.
func New(db *store.DB, cfg Config, log *slog.Logger) *Service {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Deliver == nil {
		cfg.Deliver = HTTPSender(fetch.New(cfg.Policy).Transport())
	}
	return &Service{db: db, log: log, policy: cfg.Policy, dl: &deliverer{db: db, log: log, send: cfg.Deliver, retention: cfg.Retention}}
}

// scope is the tenant whose events the actor sees: an admin sees every tenant's.
func scope(actor *hangar.Tenant) string {
	if actor.Role == hangar.RoleAdmin {
		return ""
	}
	return actor.ID
}

// MaxList bounds one page of events.
const MaxList = 1000

// Query selects events: after an event ID (0: from the oldest kept), of some
// types (all when empty), at most Limit (MaxList when zero or more). Newest,
// when not zero, asks for the newest Newest of them (1 to MaxList) instead of
// the oldest Limit: what "show me the latest" wants without reading the rest.
type Query struct {
	After  int64
	Types  []string
	Limit  int
	Newest int
}

func (q Query) filter(actor *hangar.Tenant) (store.EventFilter, error) {
	for _, t := range q.Types {
		if !slices.Contains(hangar.EventTypes, t) {
			return store.EventFilter{}, hangar.Errorf(hangar.CodeInvalid, "event type %.80q is not one Hangar sends; `hangar event types` lists them", t)
		}
	}
	if q.After < 0 {
		return store.EventFilter{}, hangar.Errorf(hangar.CodeInvalid, "after must be an event ID (0 or more)")
	}
	if q.Newest < 0 || q.Newest > MaxList {
		return store.EventFilter{}, hangar.Errorf(hangar.CodeInvalid, "newest must be 1 to %d (events at a time)", MaxList)
	}
	if q.Newest > 0 {
		return store.EventFilter{TenantID: scope(actor), After: q.After, Types: q.Types, Limit: q.Newest, Newest: true}, nil
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	return store.EventFilter{TenantID: scope(actor), After: q.After, Types: q.Types, Limit: limit}, nil
}

// List returns the actor's events that the query selects, oldest first (the
// newest too: the last of them is the newest).
func (s *Service) List(ctx context.Context, actor *hangar.Tenant, q Query) ([]hangar.Event, error) {
	f, err := q.filter(actor)
	if err != nil {
		return nil, err
	}
	evs, err := s.db.Events(ctx, f)
	out := make([]hangar.Event, len(evs))
	for i, e := range evs {
		out[i] = e.Public()
	}
	return out, err
}

// pollInterval is how often a waiter looks for events that other nodes wrote.
const pollInterval = time.Second

// Wait returns the actor's next events after q.After, waiting up to maxWait
// for one to happen; none means the wait ran out (a stream then sends a
// keep-alive) or ctx ended.
func (s *Service) Wait(ctx context.Context, actor *hangar.Tenant, q Query, maxWait time.Duration) ([]hangar.Event, error) {
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		// Take the channel before looking: an event committed in between closes it.
		changed := s.db.EventsChanged()
		evs, err := s.List(ctx, actor, q)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-deadline.C:
			return nil, nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// Latest is the ID of the newest event so far: a stream that starts "now"
// begins after it.
func (s *Service) Latest(ctx context.Context) (int64, error) { return s.db.LastEvent(ctx) }

// CreateWebhook registers a webhook for the actor's events (an admin's gets every
// tenant's) and returns it with its signing secret, shown this once.
func (s *Service) CreateWebhook(ctx context.Context, actor *hangar.Tenant, req hangar.WebhookCreate) (hangar.WebhookCreated, error) {
	if err := req.Validate(); err != nil {
		return hangar.WebhookCreated{}, err
	}
	// An address the deliveries could never reach is refused now, with the
	// reason; names are checked when each delivery connects (DNS can change).
	u, _ := url.Parse(req.URL)
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := s.policy.Check(ip); err != nil {
			return hangar.WebhookCreated{}, hangar.Errorf(hangar.CodeForbidden, "webhook URL: %v; this server delivers to such addresses only if its operator allows them (hangar serve --webhook-allow-cidr)", err)
		}
	}
	var key [24]byte
	rand.Read(key[:])
	w := store.Webhook{Webhook: hangar.Webhook{URL: req.URL, Types: req.Types}, TenantID: actor.ID,
		Secret: "whsec_" + base64.StdEncoding.EncodeToString(key[:])}
	if err := s.db.CreateWebhook(ctx, &w); err != nil {
		return hangar.WebhookCreated{}, err
	}
	return hangar.WebhookCreated{Webhook: w.Webhook, Secret: w.Secret}, nil
}

// Webhooks lists the actor's webhooks (never their secrets).
func (s *Service) Webhooks(ctx context.Context, actor *hangar.Tenant) ([]hangar.Webhook, error) {
	ws, err := s.db.Webhooks(ctx, actor.ID)
	out := make([]hangar.Webhook, len(ws))
	for i, w := range ws {
		out[i] = w.Webhook
	}
	return out, err
}

// DeleteWebhook deletes one of the actor's webhooks; its pending deliveries go
// with it.
func (s *Service) DeleteWebhook(ctx context.Context, actor *hangar.Tenant, id string) error {
	return s.db.DeleteWebhook(ctx, actor.ID, id)
}

// MaxDeliveries bounds one listing of deliveries.
const MaxDeliveries = 1000

// Deliveries lists deliveries to the actor's webhooks, newest first: of one
// webhook (all when ""), in one state (all when "").
func (s *Service) Deliveries(ctx context.Context, actor *hangar.Tenant, webhook, state string) ([]hangar.EventDelivery, error) {
	switch state {
	case "", hangar.DeliveryPending, hangar.DeliveryDelivered, hangar.DeliveryFailed:
	default:
		return nil, hangar.Errorf(hangar.CodeInvalid, "state %.40q: use pending, delivered or failed", state)
	}
	return s.db.Deliveries(ctx, store.DeliveryFilter{TenantID: actor.ID, Webhook: webhook, State: state, Limit: MaxDeliveries})
}

// ParseID reads an event ID as clients send it back (after=, Last-Event-ID).
func ParseID(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, hangar.Errorf(hangar.CodeInvalid, "event ID %.40q: give the id of an event (a number)", s)
	}
	return n, nil
}

// Run delivers events to webhooks until ctx ends.
func (s *Service) Run(ctx context.Context) { s.dl.run(ctx) }
