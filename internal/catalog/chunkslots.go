package catalog

import (
	"context"
	"sync"
	"sync/atomic"
)

// Each chunk PUT holds a 4 MiB buffer while its body arrives, and on an S3
// store an object PUT while it is stored. Without a bound, one tenant sending
// a thousand slow chunk bodies at once (within the default rate limit's burst)
// made the node allocate 4 GiB. These bound the PUTs that hold a buffer: per
// upload (the "parallel PUTs bounded per upload", also for the object
// store), per tenant, so that one tenant can never take every slot of the node,
// and per node, which bounds the buffers' memory (48 x 4 MiB = 192 MiB). A PUT
// past a bound waits, holding no buffer, until one of its kind ends or its
// request does.
const (
	chunkPUTsPerUpload = 16 // twice what hangar disk upload sends at once
	chunkPUTsPerTenant = 16
	chunkPUTsPerNode   = 48
)

// chunkSlots hands out the right to hold a chunk buffer.
type chunkSlots struct {
	node chan struct{}
	// waiting counts the PUTs waiting for a slot (metrics).
	waiting atomic.Int64
	mu      sync.Mutex
	tenants map[string]*slotGroup
	uploads map[string]*slotGroup
}

type slotGroup struct {
	slots chan struct{}
	users int // PUTs holding or waiting for one of its slots
}

func newChunkSlots() *chunkSlots {
	return &chunkSlots{
		node:    make(chan struct{}, chunkPUTsPerNode),
		tenants: map[string]*slotGroup{},
		uploads: map[string]*slotGroup{},
	}
}

// acquire waits for a slot of the upload, of its tenant and of the node, in that
// order (always the same: no two PUTs can each hold what the other waits for),
// and returns what gives them back. It fails only when ctx ends.
func (c *chunkSlots) acquire(ctx context.Context, tenantID, uploadID string) (release func(), err error) {
	upload := c.join(c.uploads, uploadID, chunkPUTsPerUpload)
	tenant := c.join(c.tenants, tenantID, chunkPUTsPerTenant)
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	var held []chan struct{}
	release = func() {
		for _, ch := range held {
			<-ch
		}
		c.leave(c.uploads, uploadID, upload)
		c.leave(c.tenants, tenantID, tenant)
	}
	for _, ch := range []chan struct{}{upload.slots, tenant.slots, c.node} {
		select {
		case ch <- struct{}{}:
			held = append(held, ch)
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

func (c *chunkSlots) join(m map[string]*slotGroup, key string, n int) *slotGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := m[key]
	if g == nil {
		g = &slotGroup{slots: make(chan struct{}, n)}
		m[key] = g
	}
	g.users++
	return g
}

func (c *chunkSlots) leave(m map[string]*slotGroup, key string, g *slotGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.users--; g.users == 0 {
		delete(m, key)
	}
}

// ChunkPUTs is how many chunk PUTs hold a buffer on this node, and how many wait
// for one (chunkslots.go), for the metrics.
func (s *Service) ChunkPUTs() (holding, waiting int) {
	return len(s.slots.node), int(s.slots.waiting.Load())
}
