package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// queuedEvent is an event a transaction will write when it is about to commit.
type queuedEvent struct {
	tenantID, typ, subject string
	data                   any
}

// event records an event in the transaction of the change it reports: the change
// and its event commit together or not at all. d.tx writes it just before the
// commit (writeEvents), so that the event counter's lock is the last one taken.
func (d *DB) event(tx *sql.Tx, tenantID, typ, subject string, data any) {
	q, _ := d.queued.LoadOrStore(tx, &[]queuedEvent{})
	list := q.(*[]queuedEvent)
	*list = append(*list, queuedEvent{tenantID, typ, subject, data})
}

// writeEvents writes the events tx queued, each with a pending delivery to every
// webhook that wants it. Each takes the next sequence number from event_counter,
// whose row stays locked until tx ends: writers of events commit one at a time,
// in sequence order.
// It reports whether there were any, so that their commit wakes the waiters.
func (d *DB) writeEvents(ctx context.Context, tx *sql.Tx) (bool, error) {
	q, ok := d.queued.LoadAndDelete(tx)
	if !ok {
		return false, nil
	}
	for _, e := range *q.(*[]queuedEvent) {
		body, err := json.Marshal(e.data)
		if err != nil {
			return false, err
		}
		var seq int64
		if err := d.queryRow(ctx, tx, `UPDATE event_counter SET last = last + 1 WHERE id = 1 RETURNING last`).Scan(&seq); err != nil {
			return false, err
		}
		at := now()
		if _, err := d.exec(ctx, tx, `INSERT INTO events (seq, tenant_id, type, subject, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			seq, e.tenantID, e.typ, e.subject, string(body), at); err != nil {
			return false, err
		}
		_, err = d.exec(ctx, tx, `INSERT INTO event_deliveries (webhook_id, seq, subject, state, attempts, next_at, lease_until, last_status, last_error, updated_at)
			SELECT w.id, ?, ?, 'pending', 0, ?, 0, 0, '', ? FROM webhooks w JOIN tenants t ON t.id = w.tenant_id
			WHERE (w.tenant_id = ? OR t.role = ?) AND (w.types = '' OR ' ' || w.types || ' ' LIKE ?)`,
			seq, e.subject, at, at, e.tenantID, string(hangar.RoleAdmin), "% "+e.typ+" %")
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

func (d *DB) notifyEvents() {
	d.eventsMu.Lock()
	defer d.eventsMu.Unlock()
	if d.eventsCh != nil {
		close(d.eventsCh)
	}
	d.eventsCh = make(chan struct{})
}

// EventsChanged returns a channel closed when this process next commits an
// event. Events written by other nodes are only seen by looking again, so
// waiters also look at an interval.
func (d *DB) EventsChanged() <-chan struct{} {
	d.eventsMu.Lock()
	defer d.eventsMu.Unlock()
	if d.eventsCh == nil {
		d.eventsCh = make(chan struct{})
	}
	return d.eventsCh
}

// Event is a stored event with the name of its tenant.
type Event struct {
	Seq        int64
	TenantName string
	Type       string
	Subject    string
	Data       json.RawMessage
	At         time.Time
}

// Public is the event as clients see it.
func (e Event) Public() hangar.Event {
	return hangar.Event{SpecVersion: "1.0", ID: strconv.FormatInt(e.Seq, 10), Source: "/tenants/" + e.TenantName,
		Type: e.Type, Subject: e.Subject, Time: e.At, DataContentType: "application/json", Data: e.Data}
}

// EventFilter selects events: of one tenant (all tenants when TenantID is ""),
// after a sequence number, of some types (all when empty), at most Limit: the
// first Limit, or with Newest the last Limit.
type EventFilter struct {
	TenantID string
	After    int64
	Types    []string
	Limit    int
	Newest   bool
}

// Events returns the events the filter selects, oldest first. The newest are
// read backwards from the end of the (tenant_id, seq) index, so finding the
// last few of a long history costs what finding the first few does.
func (d *DB) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	q := `SELECT e.seq, t.name, e.type, e.subject, e.data, e.created_at FROM events e JOIN tenants t ON t.id = e.tenant_id WHERE e.seq > ?`
	args := []any{f.After}
	if f.TenantID != "" {
		q += ` AND e.tenant_id = ?`
		args = append(args, f.TenantID)
	}
	if len(f.Types) > 0 {
		q += ` AND e.type IN (` + placeholders(len(f.Types)) + `)`
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	order := ``
	if f.Newest {
		order = ` DESC`
	}
	q += ` ORDER BY e.seq` + order + ` LIMIT ?`
	args = append(args, f.Limit)
	rows, err := d.query(ctx, d.db, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := scanEvents(rows)
	if f.Newest {
		slices.Reverse(out)
	}
	return out, err
}

func scanEvents(rows *sql.Rows) ([]Event, error) {
	var out []Event
	for rows.Next() {
		var e Event
		var data string
		var micro int64
		if err := rows.Scan(&e.Seq, &e.TenantName, &e.Type, &e.Subject, &data, &micro); err != nil {
			return nil, err
		}
		e.Data, e.At = json.RawMessage(data), fromMicros(micro)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEvent returns the highest sequence number given out so far.
func (d *DB) LastEvent(ctx context.Context) (int64, error) {
	var seq int64
	err := d.queryRow(ctx, d.db, `SELECT last FROM event_counter WHERE id = 1`).Scan(&seq)
	return seq, err
}

// PruneEvents deletes events older than before that no pending delivery needs.
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	if _, err := d.exec(ctx, d.db, `DELETE FROM event_deliveries WHERE state <> 'pending' AND updated_at < ?`, before.UnixMicro()); err != nil {
		return 0, err
	}
	res, err := d.exec(ctx, d.db, `DELETE FROM events WHERE created_at < ? AND NOT EXISTS
		(SELECT 1 FROM event_deliveries x WHERE x.seq = events.seq AND x.state = 'pending')`, before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Webhook is a stored webhook with its secret.
type Webhook struct {
	hangar.Webhook
	TenantID string
	Secret   string
}

// CreateWebhook stores a webhook, within the tenant's bound on webhooks.
func (d *DB) CreateWebhook(ctx context.Context, w *Webhook) error {
	w.ID = NewID()
	at := now()
	w.CreatedAt = fromMicros(at)
	return d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := d.queryRow(ctx, tx, `SELECT COUNT(*) FROM webhooks WHERE tenant_id = ?`, w.TenantID).Scan(&n); err != nil {
			return err
		}
		if n >= hangar.MaxWebhooks {
			return hangar.Errorf(hangar.CodeQuotaExceeded, "a tenant has at most %d webhooks; delete one first (hangar event webhook delete)", hangar.MaxWebhooks)
		}
		_, err := d.exec(ctx, tx, `INSERT INTO webhooks (id, tenant_id, url, secret, types, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			w.ID, w.TenantID, w.URL, w.Secret, strings.Join(w.Types, " "), at)
		return err
	})
}

// Webhooks lists a tenant's webhooks with their pending and failed deliveries.
func (d *DB) Webhooks(ctx context.Context, tenantID string) ([]Webhook, error) {
	rows, err := d.query(ctx, d.db, `SELECT w.id, w.url, w.secret, w.types, w.created_at,
		(SELECT COUNT(*) FROM event_deliveries x WHERE x.webhook_id = w.id AND x.state = 'pending'),
		(SELECT COUNT(*) FROM event_deliveries x WHERE x.webhook_id = w.id AND x.state = 'failed')
		FROM webhooks w WHERE w.tenant_id = ? ORDER BY w.created_at, w.id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w := Webhook{TenantID: tenantID}
		var types string
		var micro int64
		if err := rows.Scan(&w.ID, &w.URL, &w.Secret, &types, &micro, &w.Pending, &w.Failed); err != nil {
			return nil, err
		}
		w.Types, w.CreatedAt = strings.Fields(types), fromMicros(micro)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook deletes one of a tenant's webhooks with its deliveries.
func (d *DB) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `DELETE FROM event_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE id = ? AND tenant_id = ?)`, id, tenantID); err != nil {
			return err
		}
		res, err := d.exec(ctx, tx, `DELETE FROM webhooks WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, hangar.Errorf(hangar.CodeNotFound, "webhook %q not found; `hangar event webhook list` shows yours", id))
		}
		return nil
	})
}

// DeliveryFilter selects a tenant's deliveries: of one webhook (all when ""), in
// one state (all when ""), newest first, at most Limit.
type DeliveryFilter struct {
	TenantID, Webhook, State string
	Limit                    int
}

// Deliveries lists deliveries to a tenant's webhooks.
func (d *DB) Deliveries(ctx context.Context, f DeliveryFilter) ([]hangar.EventDelivery, error) {
	q := `SELECT x.webhook_id, x.seq, e.type, x.subject, x.state, x.attempts, x.next_at, x.last_status, x.last_error, x.updated_at
		FROM event_deliveries x JOIN webhooks w ON w.id = x.webhook_id JOIN events e ON e.seq = x.seq WHERE w.tenant_id = ?`
	args := []any{f.TenantID}
	if f.Webhook != "" {
		q += ` AND x.webhook_id = ?`
		args = append(args, f.Webhook)
	}
	if f.State != "" {
		q += ` AND x.state = ?`
		args = append(args, f.State)
	}
	q += ` ORDER BY x.seq DESC, x.webhook_id LIMIT ?`
	args = append(args, f.Limit)
	rows, err := d.query(ctx, d.db, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hangar.EventDelivery
	for rows.Next() {
		var x hangar.EventDelivery
		var seq, next, updated int64
		if err := rows.Scan(&x.Webhook, &seq, &x.Type, &x.Subject, &x.State, &x.Attempts, &next, &x.LastStatus, &x.LastError, &updated); err != nil {
			return nil, err
		}
		x.EventID, x.UpdatedAt = strconv.FormatInt(seq, 10), fromMicros(updated)
		if x.State == hangar.DeliveryPending {
			x.NextAt = fromMicros(next)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Delivery is a delivery a node holds: the event and where it goes.
type Delivery struct {
	Event
	WebhookID, URL, Secret string
	Attempts               int64
}

// ClaimDeliveries leases, until leaseUntil, the next due delivery of up to limit
// webhooks that have none in flight: each webhook gets one delivery at a time,
// so a tenant's slow receivers cannot hold up the others' (a tenant has at most
// MaxWebhooks). A delivery is due only when no earlier delivery of the same
// resource to the same webhook is still pending: each receiver gets a
// resource's events in order, while a resource whose delivery waits for a retry
// does not hold up the others.
func (d *DB) ClaimDeliveries(ctx context.Context, limit int, leaseUntil time.Time) ([]Delivery, error) {
	at := now()
	rows, err := d.query(ctx, d.db, `SELECT x.webhook_id, MIN(x.seq) FROM event_deliveries x
		WHERE x.state = 'pending' AND x.next_at <= ? AND x.lease_until <= ?
		AND NOT EXISTS (SELECT 1 FROM event_deliveries y WHERE y.webhook_id = x.webhook_id AND y.subject = x.subject AND y.seq < x.seq AND y.state = 'pending')
		AND NOT EXISTS (SELECT 1 FROM event_deliveries z WHERE z.webhook_id = x.webhook_id AND z.state = 'pending' AND z.lease_until > ?)
		GROUP BY x.webhook_id ORDER BY MIN(x.seq) LIMIT ?`, at, at, at, limit)
	if err != nil {
		return nil, err
	}
	type key struct {
		webhook string
		seq     int64
	}
	var due []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.webhook, &k.seq); err != nil {
			rows.Close()
			return nil, err
		}
		due = append(due, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Delivery
	for _, k := range due {
		// The lease is taken by a conditional update: of two nodes, one wins.
		res, err := d.exec(ctx, d.db, `UPDATE event_deliveries SET lease_until = ? WHERE webhook_id = ? AND seq = ? AND state = 'pending' AND lease_until <= ?`,
			leaseUntil.UnixMicro(), k.webhook, k.seq, at)
		if err != nil {
			return out, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		var x Delivery
		var data string
		var micro int64
		err = d.queryRow(ctx, d.db, `SELECT e.seq, t.name, e.type, e.subject, e.data, e.created_at, w.id, w.url, w.secret, x.attempts
			FROM event_deliveries x JOIN webhooks w ON w.id = x.webhook_id JOIN events e ON e.seq = x.seq JOIN tenants t ON t.id = e.tenant_id
			WHERE x.webhook_id = ? AND x.seq = ?`, k.webhook, k.seq).
			Scan(&x.Seq, &x.TenantName, &x.Type, &x.Subject, &data, &micro, &x.WebhookID, &x.URL, &x.Secret, &x.Attempts)
		if errors.Is(err, sql.ErrNoRows) {
			continue // its webhook was deleted meanwhile
		}
		if err != nil {
			return out, err
		}
		x.Data, x.At = json.RawMessage(data), fromMicros(micro)
		out = append(out, x)
	}
	return out, nil
}

// DeliveryOutcome is what became of one attempt.
type DeliveryOutcome struct {
	State  string    // delivered, failed or (to try again at Next) pending
	Next   time.Time // when pending
	Status int
	Error  string
}

// FinishDelivery records an attempt and releases the delivery's lease.
func (d *DB) FinishDelivery(ctx context.Context, x Delivery, o DeliveryOutcome) error {
	_, err := d.exec(ctx, d.db, `UPDATE event_deliveries SET state = ?, attempts = attempts + 1, next_at = ?, lease_until = 0,
		last_status = ?, last_error = ?, updated_at = ? WHERE webhook_id = ? AND seq = ? AND state = 'pending'`,
		o.State, o.Next.UnixMicro(), o.Status, o.Error, now(), x.WebhookID, x.Seq)
	return err
}
