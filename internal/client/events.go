package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

func eventQuery(after int64, types []string, withAfter bool) string {
	q := url.Values{}
	if withAfter {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	for _, t := range types {
		q.Add("type", t)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// ListEvents returns the tenant's events after an event ID (0: the oldest kept),
// of some types (all when none), oldest first; at most 1,000 a call.
func (c *Client) ListEvents(ctx context.Context, after int64, types []string) ([]hangar.Event, error) {
	var out []hangar.Event
	return out, c.do(ctx, "GET", "/v1/events"+eventQuery(after, types, true), nil, &out)
}

// NewestEvents returns the tenant's newest n events (1 to 1,000) of some types
// (all when none), oldest first: the last is the newest. The server reads them
// from the end, however many came before.
func (c *Client) NewestEvents(ctx context.Context, n int, types []string) ([]hangar.Event, error) {
	q := url.Values{"newest": {strconv.Itoa(n)}}
	for _, t := range types {
		q.Add("type", t)
	}
	var out []hangar.Event
	return out, c.do(ctx, "GET", "/v1/events?"+q.Encode(), nil, &out)
}

// EventTypes lists the event types the server sends.
func (c *Client) EventTypes(ctx context.Context) ([]string, error) {
	var out struct {
		Names []string `json:"names"`
	}
	return out.Names, c.do(ctx, "GET", "/v1/events/types", nil, &out)
}

// WatchEvents follows the event stream, calling fn with each event as it
// happens, until ctx ends or fn fails. It starts after the event ID after, or
// with the next event when after is negative. A dropped connection, or a server
// that is starting, stopping or busy (503, 429), is tried again from the last
// event seen, so no event is missed or repeated.
func (c *Client) WatchEvents(ctx context.Context, after int64, types []string, fn func(hangar.Event) error) error {
	last := after
	for {
		err := c.watchOnce(ctx, &last, types, fn)
		if ctx.Err() != nil {
			return nil
		}
		var cb callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		var refused *hangar.Error
		if errors.As(err, &refused) && refused.Code != hangar.CodeUnavailable && refused.Code != hangar.CodeTooManyRequests {
			return err // a refusal that asking again will not change
		}
		select { // the stream dropped: reconnect after a pause
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

func (c *Client) watchOnce(ctx context.Context, last *int64, types []string, fn func(hangar.Event) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/events"+eventQuery(*last, types, *last >= 0), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Hangar server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	return readEventStream(resp.Body, func(ev hangar.Event) error {
		if n, err := strconv.ParseInt(ev.ID, 10, 64); err == nil {
			*last = n
		}
		if err := fn(ev); err != nil {
			return callbackError{err}
		}
		return nil
	})
}

// readEventStream reads server-sent events (text/event-stream) and calls fn with
// each event's data decoded. Lines other than data (id, event, retry, comments)
// are skipped: the data holds the whole event.
func readEventStream(r io.Reader, fn func(hangar.Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			if v, ok := strings.CutPrefix(line, "data:"); ok {
				if data.Len()+len(v) > maxEventLine {
					return fmt.Errorf("the server sent an event of more than %d bytes", maxEventLine)
				}
				data.WriteString(strings.TrimPrefix(v, " "))
			}
			continue
		}
		if data.Len() == 0 {
			continue
		}
		var ev hangar.Event
		if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
			return fmt.Errorf("the server sent an event that is not JSON: %w", err)
		}
		data.Reset()
		if err := fn(ev); err != nil {
			return err
		}
	}
	return sc.Err()
}

// CreateWebhook registers a webhook; its signing secret is in the answer only.
func (c *Client) CreateWebhook(ctx context.Context, req hangar.WebhookCreate) (hangar.WebhookCreated, error) {
	var out hangar.WebhookCreated
	return out, c.do(ctx, "POST", "/v1/webhooks", req, &out)
}

// ListWebhooks lists the tenant's webhooks.
func (c *Client) ListWebhooks(ctx context.Context) ([]hangar.Webhook, error) {
	var out []hangar.Webhook
	return out, c.do(ctx, "GET", "/v1/webhooks", nil, &out)
}

// DeleteWebhook deletes one of the tenant's webhooks.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/webhooks/"+esc(id), nil, nil)
}

// Deliveries lists deliveries to the tenant's webhooks, newest first: of one
// webhook ("" for all), in one state ("" for all).
func (c *Client) Deliveries(ctx context.Context, webhook, state string) ([]hangar.EventDelivery, error) {
	q := url.Values{}
	if webhook != "" {
		q.Set("webhook", webhook)
	}
	if state != "" {
		q.Set("state", state)
	}
	path := "/v1/events/deliveries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []hangar.EventDelivery
	return out, c.do(ctx, "GET", path, nil, &out)
}
