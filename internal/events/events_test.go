package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestSignFollowsStandardWebhooks: the signature is v1, then the base64
// HMAC-SHA256, keyed by the secret's base64 part, of "id.timestamp.body", as the
// Standard Webhooks specification defines it (computed here by hand).
func TestSignFollowsStandardWebhooks(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	at := time.Unix(1700000000, 0)
	body := []byte(`{"id":"42"}`)
	h, err := Sign(secret, "42", at, body)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("42.1700000000." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if h.Get("webhook-signature") != want || h.Get("webhook-id") != "42" || h.Get("webhook-timestamp") != "1700000000" {
		t.Fatalf("headers %v, want signature %s", h, want)
	}
	if _, err := Sign("not base64!", "1", at, body); err == nil {
		t.Fatal("a secret that is not base64 signed something")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int64
		want    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {12, 2048 * time.Second}, {13, time.Hour}, {29, time.Hour},
	} {
		if got := backoff(tc.attempt); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
	// Thirty attempts span about a day, as Event Grid's retries do.
	var total time.Duration
	for n := int64(1); n < MaxAttempts; n++ {
		total += backoff(n)
	}
	if total < 18*time.Hour || total > 26*time.Hour {
		t.Errorf("retries span %v", total)
	}
}

func TestValidateWebhook(t *testing.T) {
	for _, tc := range []struct {
		req hangar.WebhookCreate
		bad string
	}{
		{hangar.WebhookCreate{URL: "https://hooks.example.com/x"}, ""},
		{hangar.WebhookCreate{URL: "http://10.0.0.1:8080/x", Types: []string{hangar.EventVMDeleted}}, ""},
		{hangar.WebhookCreate{URL: "ftp://example.com/"}, "http"},
		{hangar.WebhookCreate{URL: "https://user:pw@example.com/"}, "user:password"},
		{hangar.WebhookCreate{URL: "https:///nohost"}, "http"},
		{hangar.WebhookCreate{URL: "https://example.com/" + strings.Repeat("a", 2048)}, "2048"},
		{hangar.WebhookCreate{URL: "https://example.com/", Types: []string{"Hangar.VM.Exploded"}}, "not one Hangar sends"},
		// A tenant repeating a type to make the server store megabytes of it.
		{hangar.WebhookCreate{URL: "https://example.com/", Types: slices.Repeat([]string{hangar.EventVMDeleted}, 100000)}, "given twice"},
	} {
		err := tc.req.Validate()
		if (tc.bad == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%.60s %v: %v, want %q", tc.req.URL, tc.req.Types, err, tc.bad)
		}
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "17": 17} {
		if got, err := ParseID(in); err != nil || got != want {
			t.Errorf("ParseID(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"-1", "x", "1e3", "99999999999999999999"} {
		if _, err := ParseID(in); hangar.ErrorCode(err) != hangar.CodeInvalid {
			t.Errorf("ParseID(%q): %v", in, err)
		}
	}
}

// TestQueryFilter: newest= asks the store for the last N (1 to MaxList) of the
// actor's events; a user's query is scoped to its tenant, an admin's is not.
func TestQueryFilter(t *testing.T) {
	user := &hangar.Tenant{ID: "t1", Role: hangar.RoleUser}
	admin := &hangar.Tenant{ID: "t0", Role: hangar.RoleAdmin}
	for _, tc := range []struct {
		q           Query
		actor       *hangar.Tenant
		tenant, bad string
		limit       int
		newest      bool
	}{
		{q: Query{}, actor: user, tenant: "t1", limit: MaxList},
		{q: Query{Limit: 5000}, actor: user, tenant: "t1", limit: MaxList},
		{q: Query{Newest: 100}, actor: user, tenant: "t1", limit: 100, newest: true},
		{q: Query{Newest: MaxList, Limit: 3}, actor: admin, limit: MaxList, newest: true},
		{q: Query{Newest: MaxList + 1}, actor: user, bad: "newest must be 1 to 1000"},
		{q: Query{Newest: -1}, actor: user, bad: "newest must be"},
		{q: Query{Newest: 5, Types: []string{"Hangar.VM.Exploded"}}, actor: user, bad: "not one Hangar sends"},
	} {
		f, err := tc.q.filter(tc.actor)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) || hangar.ErrorCode(err) != hangar.CodeInvalid {
				t.Errorf("%+v: %v, want %q", tc.q, err, tc.bad)
			}
			continue
		}
		if err != nil || f.TenantID != tc.tenant || f.Limit != tc.limit || f.Newest != tc.newest {
			t.Errorf("%+v as %s: %+v, %v", tc.q, tc.actor.Role, f, err)
		}
	}
}
