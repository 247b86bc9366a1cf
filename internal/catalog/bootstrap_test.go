package catalog

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// TestBootstrapRace starts several nodes, each with its own data dir, on one new
// PostgreSQL database at once: every node must start, and exactly one admin tenant
// must exist whose key works.
func TestBootstrapRace(t *testing.T) {
	for _, envKey := range []string{"", "an-admin-key-shared-by-every-node"} {
		t.Run("env key "+map[bool]string{true: "set", false: "unset"}[envKey != ""], func(t *testing.T) {
			dsn := pgtest.DSN(t)
			const nodes = 4
			services := make([]*Service, nodes)
			keyFiles := make([]string, nodes)
			for i := range nodes {
				db, err := store.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				services[i] = New(db, nil, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
				keyFiles[i] = filepath.Join(t.TempDir(), "admin.key")
			}
			var wg sync.WaitGroup
			errs := make([]error, nodes)
			for i := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = services[i].Bootstrap(t.Context(), envKey, keyFiles[i])
				}()
			}
			wg.Wait()
			keys := []string{}
			for i := range nodes {
				if errs[i] != nil {
					t.Fatalf("node %d did not start: %v", i, errs[i])
				}
				if data, err := os.ReadFile(keyFiles[i]); err == nil {
					keys = append(keys, strings.TrimSpace(string(data)))
				}
			}
			if envKey != "" {
				if len(keys) != 0 {
					t.Fatalf("with HANGAR_ADMIN_KEY set, %d nodes wrote a key file", len(keys))
				}
				keys = []string{envKey}
			}
			if len(keys) != 1 {
				t.Fatalf("%d nodes wrote an admin key file, want exactly one (the one that created the admin)", len(keys))
			}
			for i := range nodes {
				if who, err := services[i].Authenticate(t.Context(), keys[0]); err != nil || who.Role != hangar.RoleAdmin {
					t.Fatalf("node %d: the admin key does not authenticate as admin: %v %v", i, who, err)
				}
			}
		})
	}
}
