package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hangarvm/hangar/internal/buildinfo"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// Sender sends one signed delivery and returns the receiver's HTTP status (0 and
// an error when there was no answer).
type Sender func(ctx context.Context, url string, header http.Header, body []byte) (int, error)

// sendTimeout bounds one attempt: a receiver that answers slowly is retried later.
const sendTimeout = 10 * time.Second

// HTTPSender POSTs deliveries over transport, never following redirects (a
// redirect would take the delivery, and its signature, somewhere else).
func HTTPSender(transport http.RoundTripper) Sender {
	client := &http.Client{
		Transport:     transport,
		Timeout:       sendTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context, url string, header http.Header, body []byte) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header = header
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		// A little of the answer says why it failed; the rest is not read.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 != 2 {
			return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
		}
		return resp.StatusCode, nil
	}
}

// Retry policy: Azure Event Grid's shape. Attempts back off exponentially from one
// second to an hour, and a delivery fails for good after MaxAttempts or once its
// event is a day old.
const (
	MaxAttempts  = 30
	maxBackoff   = time.Hour
	giveUpAfter  = 24 * time.Hour
	leaseFor     = time.Minute // longer than sendTimeout: a delivery in flight keeps it
	maxInFlight  = 64
	pruneEvery   = time.Hour
	maxErrorText = 300
)

// backoff is the wait after attempt number n (1 is the first).
func backoff(n int64) time.Duration {
	if n > 12 {
		return maxBackoff
	}
	return min(time.Duration(1<<(n-1))*time.Second, maxBackoff)
}

type deliverer struct {
	db        *store.DB
	log       *slog.Logger
	send      Sender
	retention time.Duration
	// slots bounds the deliveries in flight on this node; each webhook has at
	// most one (ClaimDeliveries). finished wakes the loop when one ends, so that
	// its webhook's next delivery goes out at once.
	slots    chan struct{}
	finished chan struct{}
}

func (d *deliverer) run(ctx context.Context) {
	d.slots, d.finished = make(chan struct{}, maxInFlight), make(chan struct{}, 1)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		changed := d.db.EventsChanged()
		d.dispatch(ctx)
		if time.Since(lastPrune) > pruneEvery {
			lastPrune = time.Now()
			if n, err := d.db.PruneEvents(ctx, time.Now().Add(-d.retention)); err != nil {
				d.log.Warn("pruning old events", "err", err)
			} else if n > 0 {
				d.log.Info("pruned old events", "events", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-d.finished:
		case <-tick.C:
		}
	}
}

// dispatch claims as many due deliveries as there are free slots and sends each
// on its own goroutine.
func (d *deliverer) dispatch(ctx context.Context) {
	free := cap(d.slots) - len(d.slots)
	if free == 0 {
		return
	}
	due, err := d.db.ClaimDeliveries(ctx, free, time.Now().Add(leaseFor))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("claiming webhook deliveries", "err", err)
		}
		return
	}
	for _, x := range due {
		d.slots <- struct{}{}
		go func() {
			defer func() {
				<-d.slots
				select {
				case d.finished <- struct{}{}:
				default:
				}
			}()
			d.deliver(ctx, x)
		}()
	}
}

func (d *deliverer) deliver(ctx context.Context, x store.Delivery) {
	status, err := d.attempt(ctx, x)
	o := store.DeliveryOutcome{State: hangar.DeliveryDelivered, Status: status}
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the lease runs out and another attempt follows
		}
		n := x.Attempts + 1
		o.Error = err.Error()
		if len(o.Error) > maxErrorText {
			o.Error = o.Error[:maxErrorText] + "…"
		}
		o.State, o.Next = hangar.DeliveryPending, time.Now().Add(backoff(n))
		if n >= MaxAttempts || time.Since(x.At) > giveUpAfter {
			o.State = hangar.DeliveryFailed
		}
		d.log.Info("webhook delivery failed", "webhook", x.WebhookID, "event", x.Seq, "attempt", n, "status", status, "err", o.Error, "state", o.State)
	}
	if err := d.db.FinishDelivery(context.WithoutCancel(ctx), x, o); err != nil {
		d.log.Warn("recording a webhook delivery", "webhook", x.WebhookID, "event", x.Seq, "err", err)
	}
}

// attempt signs and sends one delivery.
func (d *deliverer) attempt(ctx context.Context, x store.Delivery) (int, error) {
	ev := x.Public()
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	header, err := Sign(x.Secret, ev.ID, time.Now(), body)
	if err != nil {
		return 0, err
	}
	header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	header.Set("User-Agent", "Hangar-Webhooks/"+buildinfo.Read().Version)
	header.Set("Hangar-Event-Type", ev.Type)
	header.Set("Hangar-Delivery-Attempt", fmt.Sprint(x.Attempts+1))
	status, err := d.send(ctx, x.URL, header, body)
	if err == nil && status/100 != 2 {
		err = errors.New(http.StatusText(status))
	}
	return status, err
}

// Sign returns the Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) of a delivery of body.
func Sign(secret, id string, at time.Time, body []byte) (http.Header, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(at.Unix()))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h, nil
}
