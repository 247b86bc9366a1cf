package catalog

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A chunk PUT past a bound waits; past which bound depends on whose PUTs hold the
// slots. (A PUT that must wait can never get a slot here, so the short deadline
// decides nothing about timing: it only ends the wait.)
func TestChunkSlots(t *testing.T) {
	type put struct{ tenant, upload string }
	fill := func(c *chunkSlots, n int, p put) []func() {
		var rs []func()
		for range n {
			r, err := c.acquire(t.Context(), p.tenant, p.upload)
			if err != nil {
				t.Fatalf("%+v: %v while filling", p, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	tests := []struct {
		name   string
		before func(c *chunkSlots) []func()
		next   put
		waits  bool
	}{
		{"an upload at its bound", func(c *chunkSlots) []func() { return fill(c, chunkPUTsPerUpload, put{"a", "u1"}) }, put{"a", "u1"}, true},
		{"the same tenant's other upload, the tenant at its bound", func(c *chunkSlots) []func() { return fill(c, chunkPUTsPerTenant, put{"a", "u1"}) }, put{"a", "u2"}, true},
		{"another tenant, one at its bound", func(c *chunkSlots) []func() { return fill(c, chunkPUTsPerTenant, put{"a", "u1"}) }, put{"b", "u3"}, false},
		{"the node at its bound", func(c *chunkSlots) []func() {
			var rs []func()
			for i := range chunkPUTsPerNode / chunkPUTsPerTenant {
				rs = append(rs, fill(c, chunkPUTsPerTenant, put{string(rune('a' + i)), "u" + string(rune('a'+i))})...)
			}
			return rs
		}, put{"z", "uz"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChunkSlots()
			held := tt.before(c)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			r, err := c.acquire(ctx, tt.next.tenant, tt.next.upload)
			switch {
			case tt.waits && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("got a slot (err %v), want to wait", err)
			case !tt.waits && err != nil:
				t.Fatalf("waited (%v), want a slot", err)
			case err == nil:
				held = append(held, r)
			}
			if h, w := len(c.node), c.waiting.Load(); w != 0 || h != len(held) {
				t.Errorf("%d holding and %d waiting, want %d and 0", h, w, len(held))
			}
			// Once one slot is given back, the waiting kind of PUT gets one.
			held[0]()
			r, err = c.acquire(t.Context(), tt.next.tenant, tt.next.upload)
			if err != nil {
				t.Fatal(err)
			}
			r()
			for _, r := range held[1:] {
				r()
			}
			if len(c.node) != 0 || len(c.tenants) != 0 || len(c.uploads) != 0 {
				t.Errorf("after every release: %d node slots, %d tenants, %d uploads kept", len(c.node), len(c.tenants), len(c.uploads))
			}
		})
	}
}
