package store

import "context"

// ClusterSecret returns the cluster's secret named name, storing candidate as that
// secret when there is none yet. Nodes starting together on a new database each
// offer their own candidate; exactly one is stored, and every node gets that one.
func (d *DB) ClusterSecret(ctx context.Context, name, candidate string) (string, error) {
	if _, err := d.exec(ctx, d.db, `INSERT INTO cluster_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		name, candidate, now()); err != nil {
		return "", err
	}
	var value string
	err := d.queryRow(ctx, d.db, `SELECT value FROM cluster_secrets WHERE name = ?`, name).Scan(&value)
	return value, err
}
