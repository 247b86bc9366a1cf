// Package apitest builds Hangar's real service layer for the tests of the faces
// over it (ARM, the console) and for the benchmarks of the service: SQLite and
// chunk directories in a temporary directory, compute without VMs, and the API
// over them.
package apitest

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/events"
	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// Service is the API of a fresh installation, and what a test reaches under it.
type Service struct {
	API      *api.Server
	DB       *store.DB
	Catalog  *catalog.Service
	AdminKey string
	Log      *slog.Logger
}

// PrimaryRegion is the region of the primary chunk store.
const PrimaryRegion = "local"

// New starts a fresh installation; regions names more regions, each with a chunk
// directory of its own.
func New(t testing.TB, regions ...string) *Service {
	t.Helper()
	return NewWith(t, Options{Regions: regions})
}

// NewWith starts a fresh installation with options o.
func NewWith(t testing.TB, o Options) *Service {
	t.Helper()
	s, err := Open(t.Context(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.DB.Close() })
	return s
}

// Options are what a benchmark may set of an installation.
type Options struct {
	// AdminKey is the admin's key; empty makes one.
	AdminKey string
	// Limits are every tenant's quotas; zero means catalog.DefaultLimits.
	Limits hangar.Resources
	// Regions names more regions, each with a chunk directory of its own.
	Regions []string
	// SigningKey signs what syndication serves (default: none; the signing-key
	// route then answers Unavailable).
	SigningKey ed25519.PrivateKey
	// DialUpstream reaches an upstream installation (default: none can be).
	DialUpstream func(url, key string) catalog.Upstream
	// ImportPolicy is what imports from a URL may reach (default: public
	// addresses only).
	ImportPolicy fetch.Policy
}

// Open starts a fresh installation in dir, for the benchmarks that measure the
// service layer (bench/catalog, bench/console); the caller closes s.DB.
func Open(ctx context.Context, dir string, o Options) (*Service, error) {
	db, err := store.Open(ctx, filepath.Join(dir, "db"))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Service, error) { db.Close(); return nil, err }
	openStore := func(name string) (*chunks.Store, error) {
		backend, err := dirstore.Open(filepath.Join(dir, name))
		return &chunks.Store{Backend: backend}, err
	}
	primary, err := openStore("chunks")
	if err != nil {
		return fail(err)
	}
	others := map[string]*chunks.Store{}
	for _, r := range o.Regions {
		if others[r], err = openStore("region-" + r); err != nil {
			return fail(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(db, primary, catalog.Config{StagingDir: dir, PrimaryRegion: PrimaryRegion, Regions: others, Node: "test", Limits: o.Limits, ImportPolicy: o.ImportPolicy, SigningKey: o.SigningKey, DialUpstream: o.DialUpstream}, log)
	keyFile := filepath.Join(dir, "admin.key")
	if _, err := cat.Bootstrap(ctx, o.AdminKey, keyFile); err != nil {
		return fail(err)
	}
	key := o.AdminKey
	if key == "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return fail(err)
		}
		key = strings.TrimSpace(string(b))
	}
	vms, err := compute.New(ctx, compute.Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg"}, db, cat, primary, log)
	if err != nil {
		return fail(err)
	}
	// Events are served (list, webhooks) but not delivered: no test here waits for
	// a webhook's POST.
	evs := events.New(db, events.Config{}, log)
	return &Service{API: api.New(cat, vms, log, api.Cluster{}, api.WithEvents(evs)), DB: db, Catalog: cat, AdminKey: key, Log: log}, nil
}
