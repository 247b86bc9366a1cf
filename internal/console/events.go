package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The events page: the tenant's recent events, its webhooks and their
// deliveries.

// eventsShown is how many of the newest events the page shows.
const eventsShown = 100

// deliveriesShown is how many of the newest deliveries the page shows (the API
// lists up to 1,000, newest first).
const deliveriesShown = 100

func (h *Handler) eventRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"events", h.page(h.events))
	m.HandleFunc("POST "+Prefix+"webhooks", h.action(h.createWebhook))
	m.HandleFunc("POST "+Prefix+"webhooks/{id}/delete", h.action(h.deleteWebhook))
}

// eventsQuery is what the events page shows: events of one type, deliveries to
// one webhook or in one state ("": all).
type eventsQuery struct {
	Type, Webhook, State string
}

// eventsView is the data of the events page.
type eventsView struct {
	eventsQuery
	Types          []string       // every event type, for the filter and the webhook form
	States         []string       // every delivery state, for the filter
	Events         []hangar.Event // newest first
	Webhooks       []hangar.Webhook
	Deliveries     []hangar.EventDelivery // newest first
	MoreDeliveries bool                   // the API listed more than are shown
	Created        *hangar.WebhookCreated // shown once, right after it is made
	Form           hangar.WebhookCreate   // as typed, after a refusal
	Error          string
}

func (h *Handler) events(c *call) error {
	q := c.r.URL.Query()
	v, err := h.eventsData(c, eventsQuery{Type: q.Get("type"), Webhook: q.Get("webhook"), State: q.Get("state")})
	if err != nil {
		return err
	}
	return c.render("events", "Events", "events", v)
}

// eventsData reads the page's events (the newest, newest first), webhooks and
// deliveries.
func (h *Handler) eventsData(c *call, q eventsQuery) (eventsView, error) {
	v := eventsView{eventsQuery: q, States: []string{hangar.DeliveryPending, hangar.DeliveryDelivered, hangar.DeliveryFailed}}
	types, err := c.api.EventTypes(c.ctx)
	if err != nil {
		return v, err
	}
	v.Types = types
	var filter []string
	if q.Type != "" {
		filter = []string{q.Type}
	}
	// The API reads the newest from the end and answers oldest first.
	if v.Events, err = c.api.NewestEvents(c.ctx, eventsShown, filter); err != nil {
		return v, err
	}
	slices.Reverse(v.Events)
	if v.Webhooks, err = c.api.ListWebhooks(c.ctx); err != nil {
		return v, err
	}
	if len(v.Webhooks) == 0 {
		return v, nil // no webhook, no delivery: a deleted webhook's went with it
	}
	if v.Deliveries, err = c.api.Deliveries(c.ctx, q.Webhook, q.State); err != nil {
		return v, err
	}
	if len(v.Deliveries) > deliveriesShown {
		v.Deliveries, v.MoreDeliveries = v.Deliveries[:deliveriesShown], true
	}
	return v, nil
}

// createWebhook registers a webhook; its signing secret is on the answer page only.
func (h *Handler) createWebhook(c *call) (string, error) {
	req := hangar.WebhookCreate{URL: strings.TrimSpace(c.r.PostFormValue("url")), Types: c.r.PostForm["types"]}
	created, err := c.api.CreateWebhook(c.ctx, req)
	v, lerr := h.eventsData(c, eventsQuery{})
	if lerr != nil {
		return Prefix + "events", lerr
	}
	if err != nil {
		v.Form, v.Error = req, message(err)
		return "", c.renderStatus(statusOf(err), "events", "Events", "events", v)
	}
	// The secret is in this answer only: never in a redirect, a flash or a log.
	v.Created = &created
	return "", c.render("events", "Events", "events", v)
}

func (h *Handler) deleteWebhook(c *call) (string, error) {
	id := c.r.PathValue("id")
	if err := c.api.DeleteWebhook(c.ctx, id); err != nil {
		return Prefix + "events", err
	}
	c.flash("Webhook "+id+" deleted.", "")
	return Prefix + "events", nil
}
