package catalog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

func newService(t *testing.T) (*Service, *hangar.Tenant) {
	t.Helper()
	dir := t.TempDir()
	return newServiceIn(t, dir, Config{StagingDir: dir})
}

// newServiceIn makes a service on a new database and chunk directory in dir, and
// returns it with its admin tenant.
func newServiceIn(t *testing.T, dir string, cfg Config) (*Service, *hangar.Tenant) {
	t.Helper()
	return newServiceOn(t, dir, filepath.Join(dir, "db"), cfg)
}

// newServiceOn is newServiceIn on the database dsn names.
func newServiceOn(t *testing.T, dir, dsn string, cfg Config) (*Service, *hangar.Tenant) {
	t.Helper()
	db, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	backend, err := dirstore.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, &chunks.Store{Backend: backend}, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := s.Bootstrap(t.Context(), "", filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	admin, err := db.TenantByName(t.Context(), AdminTenant)
	if err != nil {
		t.Fatal(err)
	}
	return s, &admin
}

func newTenant(t *testing.T, s *Service, admin *hangar.Tenant, name string) *hangar.Tenant {
	t.Helper()
	c, err := s.CreateTenant(t.Context(), admin, hangar.TenantCreate{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Authenticate(t.Context(), c.Key)
	if err != nil || got.Name != name {
		t.Fatalf("Authenticate with the new key: %v, %v", got, err)
	}
	return &got
}

// upload stores one chunk as a disk through the chunked upload protocol.
func upload(t *testing.T, s *Service, actor *hangar.Tenant, name string, data []byte) (hangar.Upload, chunks.Digest) {
	t.Helper()
	ctx := t.Context()
	u, err := s.CreateUpload(ctx, actor, hangar.UploadCreate{Name: name, VirtualSize: chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	d := chunks.Sum(data)
	if err := s.PutChunk(ctx, actor, u.ID, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return u, d
}

func TestDedupIsNoOracle(t *testing.T) {
	s, admin := newService(t)
	ctx := context.Background()
	alice, bob := newTenant(t, s, admin, "alice"), newTenant(t, s, admin, "bob")
	secret := bytes.Repeat([]byte("alice's secret "), chunks.ChunkSize/15+1)[:chunks.ChunkSize]
	u, d := upload(t, s, alice, "secret", secret)
	if _, err := s.CommitUpload(ctx, alice, u.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}); err != nil {
		t.Fatal(err)
	}

	// Bob guesses the digest: the server must call it missing...
	bu, err := s.CreateUpload(ctx, bob, hangar.UploadCreate{Name: "guess", VirtualSize: chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.MissingChunks(ctx, bob, bu.ID, hangar.MissingChunks{Digests: []chunks.Digest{d, d}})
	if err != nil || len(res.Missing) != 1 || res.Missing[0] != d {
		t.Fatalf("bob asked about alice's chunk: %+v, %v; want it reported missing, once", res, err)
	}
	// ...and refuse a commit that claims it without sending it.
	_, err = s.CommitUpload(ctx, bob, bu.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}})
	if hangar.ErrorCode(err) != hangar.CodeInvalid {
		t.Fatalf("bob committed alice's chunk without sending it: %v", err)
	}
	// Alice, who holds it, is told it is present.
	au, err := s.CreateUpload(ctx, alice, hangar.UploadCreate{Name: "again", VirtualSize: chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := s.MissingChunks(ctx, alice, au.ID, hangar.MissingChunks{Digests: []chunks.Digest{d}}); len(res.Missing) != 0 {
		t.Fatalf("alice's own chunk reported missing: %+v", res)
	}
	// Bob's upload ID is not Alice's to use.
	if err := s.PutChunk(ctx, alice, bu.ID, d, bytes.NewReader(secret)); hangar.ErrorCode(err) != hangar.CodeUploadNotFound {
		t.Fatalf("alice wrote into bob's upload: %v", err)
	}
}

func TestPutChunkVerifiesContent(t *testing.T) {
	s, admin := newService(t)
	alice := newTenant(t, s, admin, "alice")
	u, err := s.CreateUpload(t.Context(), alice, hangar.UploadCreate{Name: "d", VirtualSize: chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	claimed := chunks.Sum([]byte("what the client said"))
	err = s.PutChunk(t.Context(), alice, u.ID, claimed, bytes.NewReader([]byte("what arrived")))
	if hangar.ErrorCode(err) != hangar.CodeInvalid {
		t.Fatalf("a chunk that does not match its digest: %v", err)
	}
	if ok, _ := s.chunks.Has(t.Context(), claimed); ok {
		t.Fatal("a corrupt chunk was stored")
	}
	big := make([]byte, chunks.ChunkSize+1)
	if err := s.PutChunk(t.Context(), alice, u.ID, chunks.Sum(big), bytes.NewReader(big)); hangar.ErrorCode(err) != hangar.CodeTooLarge {
		t.Fatalf("an oversized chunk: %v", err)
	}
}

func TestBootstrapWithEnvKey(t *testing.T) {
	s, _ := newService(t)
	if _, err := s.Bootstrap(t.Context(), "short", ""); err == nil {
		t.Fatal("a short HANGAR_ADMIN_KEY was accepted")
	}
	key := "an-admin-key-chosen-by-the-operator"
	if _, err := s.Bootstrap(t.Context(), key, ""); err != nil {
		t.Fatal(err)
	}
	if who, err := s.Authenticate(t.Context(), key); err != nil || who.Role != hangar.RoleAdmin {
		t.Fatalf("HANGAR_ADMIN_KEY does not authenticate as admin: %v %v", who, err)
	}
}
