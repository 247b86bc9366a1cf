// Package apitest builds Hangar's real service layer for the tests of the faces
// over it (ARM, the console): SQLite and chunk directories in a test's temporary
// directory, compute without VMs, and the API over them.
package apitest

import (
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
	"github.com/hangarvm/hangar/internal/store"
)

// Service is the API of a fresh installation, and what a test reaches under it.
type Service struct {
	API      *api.Server
	DB       *store.DB
	AdminKey string
	Log      *slog.Logger
}

// PrimaryRegion is the region of the primary chunk store.
const PrimaryRegion = "local"

// New starts a fresh installation; regions names more regions, each with a chunk
// directory of its own.
func New(t testing.TB, regions ...string) *Service {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	openStore := func(name string) *chunks.Store {
		backend, err := dirstore.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return &chunks.Store{Backend: backend}
	}
	primary := openStore("chunks")
	others := map[string]*chunks.Store{}
	for _, r := range regions {
		others[r] = openStore("region-" + r)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(db, primary, catalog.Config{StagingDir: dir, PrimaryRegion: PrimaryRegion, Regions: others, Node: "test"}, log)
	keyFile := filepath.Join(dir, "admin.key")
	if _, err := cat.Bootstrap(t.Context(), "", keyFile); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := compute.New(t.Context(), compute.Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg"}, db, cat, primary, log)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{API: api.New(cat, vms, log, api.Cluster{}), DB: db, AdminKey: strings.TrimSpace(string(key)), Log: log}
}
