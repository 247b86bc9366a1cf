// Package catalog is Hangar's image service: tenants and keys, disks and uploads,
// images of both kinds, sharing, the community repository, the marketplace and the
// resolution of image references. It applies the visibility rules (a tenant sees the
// marketplace its entitlements allow, the community, its own images and those shared
// with it) on top of the metadata store and the chunk store; it knows nothing of HTTP.
// Tenants' quotas (quota.go) are set here and enforced by the store, inside the
// transaction that creates what they count.
package catalog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// DefaultMaxVirtualSize is the largest virtual disk accepted unless configured: 4 TiB.
const DefaultMaxVirtualSize = 4 << 40

// Config holds the service's settings.
type Config struct {
	// MaxVirtualSize bounds the virtual size of every stored disk.
	MaxVirtualSize int64
	// StagingDir holds single-stream uploads while they are chunked.
	StagingDir string
	// QuarantineDir receives corrupt chunks found by Scrub.
	QuarantineDir string
	// PrimaryRegion names the region of the chunk store every disk lands in;
	// Regions are the other regions' stores, which image versions are replicated to.
	PrimaryRegion string
	Regions       map[string]*chunks.Store
	// Node names this node in the jobs it holds (replication).
	Node string
	// SigningKey signs the catalog entries that leave this installation
	// (syndication); serve keeps it as the cluster secret store.SigningKeySecret.
	SigningKey ed25519.PrivateKey
	// SyndicationInterval is how often each syndication looks at its upstream
	// again (new versions to follow, changed flags, withdrawn versions); zero
	// means DefaultSyndicationInterval.
	SyndicationInterval time.Duration
	// SyndicationBandwidth bounds, in bytes per second, what each pull fetches
	// from its upstream; zero means no bound.
	SyndicationBandwidth int64
	// DialUpstream returns what pulls from an upstream installation (serve: over
	// HTTP with package client); nil means this node cannot syndicate.
	DialUpstream func(url, key string) Upstream
	// ImportPolicy says which addresses imports from a URL may reach (the SSRF
	// policy; hangar serve --import-allow-cidr).
	ImportPolicy fetch.Policy
	// Limits are the quotas of every tenant an admin gave no limits of its own
	// (hangar tenant update). The zero value means DefaultLimits; a limit of
	// hangar.Unlimited removes it.
	Limits hangar.Resources
}

// DefaultLimits are the quotas of a tenant unless the server or an admin says
// otherwise: room for real work on one host (and for every README and test flow),
// not for one tenant to fill it.
var DefaultLimits = hangar.Resources{
	StoredBytes:      1 << 40,  // 1 TiB
	TotalVirtualSize: 16 << 40, // 16 TiB
	Disks:            1000,
	Images:           1000,
	VMs:              100,
	VCPUs:            64,
	MemoryMiB:        256 << 10, // 256 GiB
	Uploads:          16,
}

// DefaultRegion names the primary region when the configuration names none.
const DefaultRegion = "local"

// Service is the catalog.
type Service struct {
	db     *store.DB
	chunks *chunks.Store
	cfg    Config
	log    *slog.Logger
	// beforeRemove, set by tests, runs after GC decided to remove a chunk and just
	// before it does: the moment another write could slip in.
	beforeRemove func(chunks.Digest)
	// buffers recycles what PutChunk reads chunks into: a chunk and a byte, so that
	// one read tells a whole chunk from an oversized body. A recycled buffer instead
	// of a growing one keeps the server's memory flat under many uploads.
	buffers sync.Pool
	// slots bound the chunk PUTs that hold a buffer (chunkslots.go).
	slots *chunkSlots
	// entryDiskCache keeps, by version ID, the disks of marketplace versions as
	// catalog entries describe them (syndication.go).
	entryDiskCache sync.Map
	// pulling holds, while a pull fetches a chunk, a channel closed when it is
	// done, so that other pulls wait for it instead of fetching it again (pull.go).
	pullMu  sync.Mutex
	pulling map[chunks.Digest]chan struct{}
	// fetcher opens the sources of imports from a URL.
	fetcher *fetch.Fetcher
	hygiene hygiene
}

// Stats counts what the metadata holds, for the metrics.
func (s *Service) Stats(ctx context.Context) (store.Stats, []store.Host, error) {
	st, err := s.db.Stats(ctx)
	if err != nil {
		return st, nil, err
	}
	hosts, err := s.db.Hosts(ctx)
	return st, hosts, err
}

// New returns a catalog over a metadata store and a chunk store.
func New(db *store.DB, cs *chunks.Store, cfg Config, log *slog.Logger) *Service {
	if cfg.MaxVirtualSize <= 0 {
		cfg.MaxVirtualSize = DefaultMaxVirtualSize
	}
	if cfg.PrimaryRegion == "" {
		cfg.PrimaryRegion = DefaultRegion
	}
	if cfg.DialUpstream == nil {
		cfg.DialUpstream = func(string, string) Upstream { return noUpstream{} }
	}
	if cfg.Limits == (hangar.Resources{}) {
		cfg.Limits = DefaultLimits
	}
	// The store applies the limits inside the transactions that create what they
	// count; compute, sharing this store, gets them too.
	db.SetDefaultLimits(cfg.Limits)
	s := &Service{db: db, chunks: cs, cfg: cfg, log: log, fetcher: fetch.New(cfg.ImportPolicy), slots: newChunkSlots()}
	s.buffers.New = func() any { b := make([]byte, chunks.ChunkSize+1); return &b }
	return s
}

// AdminTenant is the name of the tenant created on first start.
const AdminTenant = "admin"

// Bootstrap makes sure the admin tenant exists. With envKey set, that key becomes
// the admin's bootstrap key, replacing the one an earlier HANGAR_ADMIN_KEY (or the
// first start) set, so that changing the variable and restarting retires the old
// key; keys made with `hangar tenant key create` stay. Without envKey, on first
// start, a new key is written to keyFile (mode 0600). It returns a line for the
// operator's log.
func (s *Service) Bootstrap(ctx context.Context, envKey, keyFile string) (string, error) {
	if envKey != "" && len(envKey) < 16 {
		return "", errors.New("HANGAR_ADMIN_KEY must be at least 16 characters")
	}
	msg, err := s.bootstrap(ctx, envKey, keyFile)
	if hangar.ErrorCode(err) == hangar.CodeConflict {
		// Nodes starting together on a new database race to create the admin
		// tenant; the loser finds the winner's on a second look.
		msg, err = s.bootstrap(ctx, envKey, keyFile)
	}
	return msg, err
}

func (s *Service) bootstrap(ctx context.Context, envKey, keyFile string) (string, error) {
	admin, err := s.db.TenantByName(ctx, AdminTenant)
	exists := err == nil
	if err != nil && hangar.ErrorCode(err) != hangar.CodeTenantNotFound {
		return "", err
	}
	if envKey != "" {
		const msg = "admin key taken from HANGAR_ADMIN_KEY"
		key := newKeyOf(envKey, "bootstrap")
		key.Bootstrap = true
		if !exists {
			admin = hangar.Tenant{Name: AdminTenant, Role: hangar.RoleAdmin}
			return msg, s.db.CreateTenant(ctx, &admin, key)
		}
		return msg, s.db.ReplaceBootstrapKey(ctx, admin.ID, key)
	}
	if exists {
		if _, err := os.Stat(keyFile); err != nil {
			// Another node (or an earlier start with another data dir) created it.
			return "the admin tenant exists but its key is not in " + keyFile + "; set HANGAR_ADMIN_KEY to register one", nil
		}
		return "admin key in " + keyFile, nil
	}
	key, nk := newKey("bootstrap")
	nk.Bootstrap = true
	if err := atomicfile.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin key: %w", err)
	}
	admin = hangar.Tenant{Name: AdminTenant, Role: hangar.RoleAdmin}
	if err := s.db.CreateTenant(ctx, &admin, nk); err != nil {
		// A key file naming a key nobody registered would only mislead.
		os.Remove(keyFile)
		return "", err
	}
	return "created the admin tenant; its key is in " + keyFile, nil
}

// Authenticate returns the tenant holding key.
func (s *Service) Authenticate(ctx context.Context, key string) (hangar.Tenant, error) {
	if key == "" {
		return hangar.Tenant{}, hangar.Errorf(hangar.CodeUnauthenticated, "an API key is required: pass --key, set HANGAR_KEY, or run `hangar login`")
	}
	t, err := s.db.TenantByKeyHash(ctx, hashKey(strings.TrimSpace(key)))
	if errors.Is(err, store.ErrNotFound) {
		return t, hangar.Errorf(hangar.CodeUnauthenticated, "the API key is not valid")
	}
	return t, err
}

// Ping checks the metadata store.
func (s *Service) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

func requireAdmin(actor *hangar.Tenant, what string) error {
	if actor.Role != hangar.RoleAdmin {
		return hangar.Errorf(hangar.CodeForbidden, "only an admin may %s", what)
	}
	return nil
}

// CreateTenant creates a tenant and returns its key, shown this once.
func (s *Service) CreateTenant(ctx context.Context, actor *hangar.Tenant, req hangar.TenantCreate) (hangar.TenantCreated, error) {
	if err := requireAdmin(actor, "manage tenants"); err != nil {
		return hangar.TenantCreated{}, err
	}
	if err := req.Normalize(); err != nil {
		return hangar.TenantCreated{}, err
	}
	t := hangar.Tenant{Name: req.Name, Role: req.Role, Entitlements: req.Entitlements}
	if t.Entitlements == nil {
		t.Entitlements = []string{}
	}
	key, nk := newKey("initial")
	if err := s.db.CreateTenant(ctx, &t, nk); err != nil {
		return hangar.TenantCreated{}, err
	}
	s.log.Info("tenant created", "tenant", t.Name, "role", t.Role, "by", actor.Name)
	return hangar.TenantCreated{Tenant: t, Key: key}, nil
}

// ListTenants lists every tenant (admin only).
func (s *Service) ListTenants(ctx context.Context, actor *hangar.Tenant) ([]hangar.Tenant, error) {
	if err := requireAdmin(actor, "manage tenants"); err != nil {
		return nil, err
	}
	return s.db.ListTenants(ctx)
}
