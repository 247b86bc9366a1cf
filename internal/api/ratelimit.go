package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit bounds each tenant's requests on this node: a token bucket of Burst
// requests, refilled at PerSecond. Zero PerSecond means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// tenantLimits holds a token bucket per tenant. Buckets of tenants idle for a
// while are dropped, so that the map stays as small as the active tenants.
type tenantLimits struct {
	limit RateLimit
	mu    sync.Mutex
	byID  map[string]*tenantBucket
	swept time.Time
}

type tenantBucket struct {
	lim  *rate.Limiter
	used time.Time
}

const bucketIdle = 10 * time.Minute

func newTenantLimits(l RateLimit) *tenantLimits {
	return &tenantLimits{limit: l, byID: map[string]*tenantBucket{}}
}

// allow takes a token from the tenant's bucket, or says how long until one is
// there.
func (t *tenantLimits) allow(tenantID string, now time.Time) (bool, time.Duration) {
	if t == nil || t.limit.PerSecond <= 0 {
		return true, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.swept) > bucketIdle {
		for id, b := range t.byID {
			if now.Sub(b.used) > bucketIdle {
				delete(t.byID, id)
			}
		}
		t.swept = now
	}
	b := t.byID[tenantID]
	if b == nil {
		b = &tenantBucket{lim: rate.NewLimiter(rate.Limit(t.limit.PerSecond), max(t.limit.Burst, 1))}
		t.byID[tenantID] = b
	}
	b.used = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

// retryAfterSeconds is a wait as Retry-After says it: whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
