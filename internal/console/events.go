package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The events page: the tenant's recent events, and its webhooks.

// eventsShown is how many of the newest events the page shows.
const eventsShown = 100

func (h *Handler) eventRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"events", h.page(h.events))
	m.HandleFunc("POST "+Prefix+"webhooks", h.action(h.createWebhook))
	m.HandleFunc("POST "+Prefix+"webhooks/{id}/delete", h.action(h.deleteWebhook))
}

// eventsView is the data of the events page.
type eventsView struct {
	Type     string         // the filter, if any
	Types    []string       // every event type, for the filter and the webhook form
	Events   []hangar.Event // newest first
	Webhooks []hangar.Webhook
	Created  *hangar.WebhookCreated // shown once, right after it is made
	Form     hangar.WebhookCreate   // as typed, after a refusal
	Error    string
}

func (h *Handler) events(c *call) error {
	v, err := h.eventsData(c, c.r.URL.Query().Get("type"))
	if err != nil {
		return err
	}
	return c.render("events", "Events", "events", v)
}

// eventsData reads the page's events (the newest, newest first) and webhooks.
func (h *Handler) eventsData(c *call, typ string) (eventsView, error) {
	v := eventsView{Type: typ}
	types, err := c.api.EventTypes(c.ctx)
	if err != nil {
		return v, err
	}
	v.Types = types
	var filter []string
	if typ != "" {
		filter = []string{typ}
	}
	// The API reads the newest from the end and answers oldest first.
	if v.Events, err = c.api.NewestEvents(c.ctx, eventsShown, filter); err != nil {
		return v, err
	}
	slices.Reverse(v.Events)
	if v.Webhooks, err = c.api.ListWebhooks(c.ctx); err != nil {
		return v, err
	}
	return v, nil
}

// createWebhook registers a webhook; its signing secret is on the answer page only.
func (h *Handler) createWebhook(c *call) (string, error) {
	req := hangar.WebhookCreate{URL: strings.TrimSpace(c.r.PostFormValue("url")), Types: c.r.PostForm["types"]}
	created, err := c.api.CreateWebhook(c.ctx, req)
	v, lerr := h.eventsData(c, "")
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
	h.sessions.setFlash(c.sess, "Webhook "+id+" deleted.", "")
	return Prefix + "events", nil
}
