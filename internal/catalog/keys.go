package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// API keys. Who may manage them: an admin, any tenant's; a tenant, its own (so
// that it can rotate a key without asking), except that no one revokes the last
// key of their own tenant, which would lock them out. Keys are 256 random bits,
// stored only as their SHA-256, and checked against the shared database on every
// request on every node: there is no per-node cache, so a revoked key stops
// working everywhere with the revoking transaction.

// newKey returns a fresh API key and what the store keeps of it.
func newKey(name string) (string, store.NewKey) {
	var b [32]byte
	rand.Read(b[:])
	key := "hgr_" + base64.RawURLEncoding.EncodeToString(b[:])
	return key, newKeyOf(key, name)
}

// newKeyOf is what the store keeps of key: its hash and its last characters.
func newKeyOf(key, name string) store.NewKey {
	return store.NewKey{Hash: hashKey(key), Name: name, Hint: keyHint(key)}
}

// hashKey is SHA-256: keys are 256 random bits, so a slow password hash adds nothing.
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// keyHint is what listings show of a key: its last four characters.
func keyHint(key string) string {
	if len(key) < 16 {
		return ""
	}
	return "…" + key[len(key)-4:]
}

// keyOwner returns the tenant whose keys the actor asks to manage.
func (s *Service) keyOwner(ctx context.Context, actor *hangar.Tenant, tenant string) (hangar.Tenant, error) {
	if err := hangar.ValidateName("tenant", tenant); err != nil {
		return hangar.Tenant{}, err
	}
	if tenant == actor.Name {
		return *actor, nil
	}
	if actor.Role != hangar.RoleAdmin {
		return hangar.Tenant{}, hangar.Errorf(hangar.CodeForbidden, "only an admin may manage another tenant's keys; your tenant is %s", actor.Name)
	}
	return s.db.TenantByName(ctx, tenant)
}

// CreateKey makes a new API key for a tenant and returns it, shown this once.
func (s *Service) CreateKey(ctx context.Context, actor *hangar.Tenant, tenant string, req hangar.KeyCreate) (hangar.KeyCreated, error) {
	owner, err := s.keyOwner(ctx, actor, tenant)
	if err != nil {
		return hangar.KeyCreated{}, err
	}
	if err := req.Normalize(); err != nil {
		return hangar.KeyCreated{}, err
	}
	key, nk := newKey(req.Name)
	k, err := s.db.AddKey(ctx, owner.ID, nk)
	if err != nil {
		return hangar.KeyCreated{}, err
	}
	s.log.Info("api key created", "tenant", owner.Name, "key", k.ID, "name", k.Name, "by", actor.Name)
	return hangar.KeyCreated{APIKey: k, Tenant: owner.Name, Key: key}, nil
}

// ListKeys lists a tenant's API keys (never the keys themselves).
func (s *Service) ListKeys(ctx context.Context, actor *hangar.Tenant, tenant string) ([]hangar.APIKey, error) {
	owner, err := s.keyOwner(ctx, actor, tenant)
	if err != nil {
		return nil, err
	}
	return s.db.ListKeys(ctx, owner.ID)
}

// RevokeKey deletes one of a tenant's API keys; it stops working on every node at
// once. An admin may revoke another tenant's last key (locking it out); no one may
// revoke the last key of their own tenant.
func (s *Service) RevokeKey(ctx context.Context, actor *hangar.Tenant, tenant, id string) error {
	owner, err := s.keyOwner(ctx, actor, tenant)
	if err != nil {
		return err
	}
	if err := s.db.RevokeKey(ctx, owner.ID, id, owner.ID != actor.ID); err != nil {
		return err
	}
	s.log.Info("api key revoked", "tenant", owner.Name, "key", id, "by", actor.Name)
	return nil
}
