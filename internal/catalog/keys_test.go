package catalog

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// TestAdminKeyFromEnvironmentReplacesTheLastOne: a node started with
// HANGAR_ADMIN_KEY=A, then restarted with B: B works and A no longer does; a key
// the admin made with `tenant key create` survives the change.
func TestAdminKeyFromEnvironmentReplacesTheLastOne(t *testing.T) {
	for kind, dsn := range map[string]string{"sqlite": "", "postgres": pgtest.DSN(t)} {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			if dsn == "" {
				dsn = filepath.Join(dir, "db")
			}
			keyA, keyB := "first-admin-key-AAAA", "second-admin-key-BBBB"
			s, _ := newServiceOnWithKey(t, dir, dsn, keyA)
			admin, err := s.Authenticate(ctx, keyA)
			if err != nil || admin.Role != hangar.RoleAdmin {
				t.Fatalf("key A after the first start: %+v, %v", admin, err)
			}
			extra, err := s.CreateKey(ctx, &admin, AdminTenant, hangar.KeyCreate{Name: "ci"})
			if err != nil {
				t.Fatal(err)
			}
			// The same key again (every node of a cluster starts with it): no change.
			if _, err := s.Bootstrap(ctx, keyA, filepath.Join(dir, "admin.key")); err != nil {
				t.Fatal(err)
			}
			if keys, _ := s.ListKeys(ctx, &admin, AdminTenant); len(keys) != 2 {
				t.Fatalf("after a restart with the same key the admin has %d keys, want 2: %+v", len(keys), keys)
			}
			if _, err := s.Bootstrap(ctx, keyB, filepath.Join(dir, "admin.key")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(ctx, keyA); hangar.ErrorCode(err) != hangar.CodeUnauthenticated {
				t.Fatalf("the replaced admin key A still authenticates: %v", err)
			}
			if who, err := s.Authenticate(ctx, keyB); err != nil || who.Role != hangar.RoleAdmin {
				t.Fatalf("the new admin key B: %+v, %v", who, err)
			}
			if _, err := s.Authenticate(ctx, extra.Key); err != nil {
				t.Fatalf("the admin's own key did not survive the change of HANGAR_ADMIN_KEY: %v", err)
			}
			keys, _ := s.ListKeys(ctx, &admin, AdminTenant)
			if len(keys) != 2 || !keys[1].Bootstrap || keys[1].Hint != "…BBBB" || keys[0].ID != extra.ID {
				t.Fatalf("keys after the change: %+v", keys)
			}
		})
	}
}

// newServiceOnWithKey is newServiceOn with HANGAR_ADMIN_KEY set to key.
func newServiceOnWithKey(t *testing.T, dir, dsn, key string) (*Service, *hangar.Tenant) {
	t.Helper()
	s, admin := newServiceOn(t, dir, dsn, Config{StagingDir: dir})
	if _, err := s.Bootstrap(t.Context(), key, filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	return s, admin
}

// TestKeysCreateListRevoke: keys are listed without the key, revoked keys stop
// working, tenants manage only their own keys, and no one locks themselves out.
func TestKeysCreateListRevoke(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	alice, bob := newTenant(t, s, admin, "alice"), newTenant(t, s, admin, "bob")

	second, err := s.CreateKey(ctx, alice, "alice", hangar.KeyCreate{Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(second.Key, "hgr_") || second.Tenant != "alice" || second.Hint != "…"+second.Key[len(second.Key)-4:] {
		t.Fatalf("created key: %+v", second)
	}
	keys, err := s.ListKeys(ctx, admin, "alice")
	if err != nil || len(keys) != 2 || keys[0].Name != "initial" || keys[1].Name != "laptop" || keys[1].ID != second.ID {
		t.Fatalf("alice's keys as the admin sees them: %+v, %v", keys, err)
	}
	// Bob may neither list nor revoke nor add alice's keys.
	if _, err := s.ListKeys(ctx, bob, "alice"); hangar.ErrorCode(err) != hangar.CodeForbidden {
		t.Fatalf("bob lists alice's keys: %v", err)
	}
	if err := s.RevokeKey(ctx, bob, "alice", second.ID); hangar.ErrorCode(err) != hangar.CodeForbidden {
		t.Fatalf("bob revokes alice's key: %v", err)
	}
	if _, err := s.CreateKey(ctx, bob, "alice", hangar.KeyCreate{}); hangar.ErrorCode(err) != hangar.CodeForbidden {
		t.Fatalf("bob makes a key for alice: %v", err)
	}
	// Bob cannot reach alice's key through his own tenant either.
	if err := s.RevokeKey(ctx, bob, "bob", second.ID); hangar.ErrorCode(err) != hangar.CodeNotFound {
		t.Fatalf("bob revokes alice's key as his own: %v", err)
	}

	// Alice rotates: revokes her first key with the second.
	if err := s.RevokeKey(ctx, alice, "alice", keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if who, err := s.Authenticate(ctx, second.Key); err != nil || who.Name != "alice" {
		t.Fatalf("the new key after the rotation: %+v, %v", who, err)
	}
	// Her last key she may not revoke herself; the admin may.
	if err := s.RevokeKey(ctx, alice, "alice", second.ID); hangar.ErrorCode(err) != hangar.CodeConflict {
		t.Fatalf("alice revokes her last key: %v", err)
	}
	if err := s.RevokeKey(ctx, admin, "alice", second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, second.Key); hangar.ErrorCode(err) != hangar.CodeUnauthenticated {
		t.Fatalf("a revoked key authenticates: %v", err)
	}
	if err := s.RevokeKey(ctx, admin, "alice", second.ID); hangar.ErrorCode(err) != hangar.CodeNotFound {
		t.Fatalf("revoking a revoked key: %v", err)
	}
}
