package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hangarvm/hangar/internal/hangar"
)

// NewKey is an API key to register: its hash, never the key.
type NewKey struct {
	Hash string // hex SHA-256 of the key
	Name string
	Hint string // the key's last characters, shown in listings
	// Bootstrap marks the admin key that HANGAR_ADMIN_KEY (or the first start) set.
	Bootstrap bool
}

// AddKey registers another API key for a tenant and returns its description.
func (d *DB) AddKey(ctx context.Context, tenantID string, k NewKey) (hangar.APIKey, error) {
	return d.addKey(ctx, d.db, tenantID, k)
}

func (d *DB) addKey(ctx context.Context, q querier, tenantID string, k NewKey) (hangar.APIKey, error) {
	at := now()
	key := hangar.APIKey{ID: NewID()[:16], Name: k.Name, Hint: k.Hint, Bootstrap: k.Bootstrap, CreatedAt: fromMicros(at)}
	_, err := d.exec(ctx, q, `INSERT INTO api_keys (key_hash, tenant_id, created_at, id, name, hint, bootstrap) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.Hash, tenantID, at, key.ID, key.Name, key.Hint, boolInt(k.Bootstrap))
	if isUniqueViolation(err) {
		// 128 random bits of key ID do not collide; the hash does only for a key
		// registered twice, which a caller must not do (ReplaceBootstrapKey checks).
		return key, hangar.Errorf(hangar.CodeConflict, "this API key is already registered")
	}
	return key, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const keyCols = `id, name, hint, bootstrap, created_at`

func scanKey(row interface{ Scan(...any) error }) (hangar.APIKey, error) {
	var (
		k         hangar.APIKey
		bootstrap int
		micro     int64
	)
	err := row.Scan(&k.ID, &k.Name, &k.Hint, &bootstrap, &micro)
	k.Bootstrap = bootstrap != 0
	k.CreatedAt = fromMicros(micro)
	return k, err
}

// ListKeys lists a tenant's API keys, oldest first.
func (d *DB) ListKeys(ctx context.Context, tenantID string) ([]hangar.APIKey, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+keyCols+` FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hangar.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey deletes one of a tenant's keys. Keys are checked against the database
// on every request, on every node, so the key stops working everywhere at once.
// Unless lastToo, the tenant's last key is kept (Conflict): revoking it would lock
// the tenant out.
func (d *DB) RevokeKey(ctx context.Context, tenantID, keyID string, lastToo bool) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := d.queryRow(ctx, tx, `SELECT COUNT(*) FROM api_keys WHERE tenant_id = ?`, tenantID).Scan(&n); err != nil {
			return err
		}
		res, err := d.exec(ctx, tx, `DELETE FROM api_keys WHERE tenant_id = ? AND id = ?`, tenantID, keyID)
		if err != nil {
			return err
		}
		if gone, _ := res.RowsAffected(); gone == 0 {
			return hangar.Errorf(hangar.CodeNotFound, "key %q not found; `hangar tenant key list` shows the tenant's keys", keyID)
		}
		if n == 1 && !lastToo {
			return hangar.Errorf(hangar.CodeConflict, "key %s is your last key: revoking it would lock you out; create another first (hangar tenant key create)", keyID)
		}
		return nil
	})
}

// ReplaceBootstrapKey makes k the tenant's only bootstrap key, in one transaction:
// the bootstrap keys with another hash are deleted, and k is registered unless it
// is already (then it becomes the bootstrap key, keeping its ID).
func (d *DB) ReplaceBootstrapKey(ctx context.Context, tenantID string, k NewKey) error {
	k.Bootstrap = true
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `DELETE FROM api_keys WHERE tenant_id = ? AND bootstrap = 1 AND key_hash <> ?`, tenantID, k.Hash); err != nil {
			return err
		}
		var owner string
		err := d.queryRow(ctx, tx, `SELECT tenant_id FROM api_keys WHERE key_hash = ?`, k.Hash).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = d.addKey(ctx, tx, tenantID, k)
			return err
		case err != nil:
			return err
		case owner != tenantID:
			return hangar.Errorf(hangar.CodeConflict, "HANGAR_ADMIN_KEY is another tenant's API key; choose a new one")
		}
		_, err = d.exec(ctx, tx, `UPDATE api_keys SET bootstrap = 1 WHERE key_hash = ?`, k.Hash)
		return err
	})
}
