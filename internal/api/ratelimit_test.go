package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func TestTenantLimits(t *testing.T) {
	l := newTenantLimits(RateLimit{PerSecond: 1, Burst: 2})
	t0 := time.Unix(1000, 0)
	for _, step := range []struct {
		tenant string
		at     time.Duration
		ok     bool
		wait   time.Duration
	}{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, false, time.Second}, // the burst is spent
		{"b", 0, true, 0},            // another tenant's bucket is its own
		{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
		{"a", time.Second, true, 0}, // refilled
		{"a", time.Second, false, time.Second},
	} {
		ok, wait := l.allow(step.tenant, t0.Add(step.at))
		if ok != step.ok || wait != step.wait {
			t.Fatalf("%s at %v: %v, wait %v; want %v, %v", step.tenant, step.at, ok, wait, step.ok, step.wait)
		}
	}
	l.allow("c", t0.Add(bucketIdle+2*time.Second))
	if _, kept := l.byID["a"]; kept || len(l.byID) != 1 {
		t.Fatalf("idle tenants' buckets kept: %v", l.byID)
	}
	if ok, _ := (*tenantLimits)(nil).allow("a", t0); !ok {
		t.Fatal("no limit refused a request")
	}
}

// TestRateLimitAnswers429: a tenant over its rate is answered 429 with
// Retry-After, and another tenant is not slowed by it.
func TestRateLimitAnswers429(t *testing.T) {
	s, adminKey := newAPI(t, Cluster{})
	s.LimitRate(RateLimit{PerSecond: 0.001, Burst: 3})
	srv := httptest.NewServer(s)
	defer srv.Close()
	admin := client.New(srv.URL, adminKey)
	keys := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		created, err := admin.CreateTenant(t.Context(), hangar.TenantCreate{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = created.Key
	}
	get := func(key string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/disks", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 3 {
		if resp := get(keys["alice"]); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %s", i, resp.Status)
		}
	}
	resp := get(keys["alice"])
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || after < 1 {
		t.Fatalf("over the rate: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp := get(keys["bob"]); resp.StatusCode != http.StatusOK {
		t.Fatalf("another tenant: %s", resp.Status)
	}
}
