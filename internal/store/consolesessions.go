package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ConsoleSession is one signed-in browser of the web console, as stored: see
// migration 0019. The store keeps it and knows nothing of what SealedKey holds.
type ConsoleSession struct {
	IDHash     string // hex SHA-256 of the session ID
	KeyHash    string // hex SHA-256 of the API key
	SealedKey  string // the API key, sealed by the console
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
}

// SessionBounds bound the console's sessions: PerKey of one key (past it, that
// key's oldest session ends to make room), Total in all (past it, a new session
// is refused with ErrTooManySessions; no one else's ends).
type SessionBounds struct {
	PerKey, Total int
}

// ErrTooManySessions is a console session refused because the bound on all
// sessions is reached.
var ErrTooManySessions = errors.New("too many console sessions")

// CreateConsoleSession stores s within bounds b, in one transaction.
func (d *DB) CreateConsoleSession(ctx context.Context, s ConsoleSession, b SessionBounds) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if d.dialect.name == "postgres" {
			// Two nodes signing in at once count one after the other, so the
			// bounds hold. (SQLite has one writer.)
			if _, err := tx.ExecContext(ctx, `LOCK TABLE console_sessions IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		// The key's sessions from its PerKey-th newest back end; with fewer, the
		// subquery is NULL and none does.
		if _, err := d.exec(ctx, tx, `DELETE FROM console_sessions WHERE key_hash = ? AND created_at <=
			(SELECT created_at FROM console_sessions WHERE key_hash = ? ORDER BY created_at DESC LIMIT 1 OFFSET ?)`,
			s.KeyHash, s.KeyHash, b.PerKey-1); err != nil {
			return err
		}
		var n int
		if err := d.queryRow(ctx, tx, `SELECT COUNT(*) FROM console_sessions`).Scan(&n); err != nil {
			return err
		}
		if n >= b.Total {
			return ErrTooManySessions
		}
		_, err := d.exec(ctx, tx, `INSERT INTO console_sessions (id_hash, key_hash, sealed_key, created_at, last_used_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, s.IDHash, s.KeyHash, s.SealedKey, s.CreatedAt.UnixMicro(), s.LastUsedAt.UnixMicro(), s.ExpiresAt.UnixMicro())
		return err
	})
}

// ConsoleSession returns the session whose ID hashes to idHash, or ErrNotFound.
func (d *DB) ConsoleSession(ctx context.Context, idHash string) (ConsoleSession, error) {
	s := ConsoleSession{IDHash: idHash}
	var created, used, expires int64
	err := d.queryRow(ctx, d.db, `SELECT key_hash, sealed_key, created_at, last_used_at, expires_at FROM console_sessions WHERE id_hash = ?`,
		idHash).Scan(&s.KeyHash, &s.SealedKey, &created, &used, &expires)
	if err != nil {
		return ConsoleSession{}, notFound(err)
	}
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(expires)
	return s, nil
}

// TouchConsoleSession records that the session was used at at (never moving its
// last use back).
func (d *DB) TouchConsoleSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := d.exec(ctx, d.db, `UPDATE console_sessions SET last_used_at = ? WHERE id_hash = ? AND last_used_at < ?`,
		at.UnixMicro(), idHash, at.UnixMicro())
	return err
}

// DeleteConsoleSession ends a session; ending one that is gone is not an error.
func (d *DB) DeleteConsoleSession(ctx context.Context, idHash string) error {
	_, err := d.exec(ctx, d.db, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash)
	return err
}

// DeleteExpiredConsoleSessions deletes the sessions past their maximum age at now
// and those unused since idleSince, and returns how many it deleted.
func (d *DB) DeleteExpiredConsoleSessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM console_sessions WHERE expires_at <= ? OR last_used_at < ?`, now.UnixMicro(), idleSince.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CountConsoleSessions counts the sessions of the API key whose hash is keyHash,
// or all sessions when keyHash is "".
func (d *DB) CountConsoleSessions(ctx context.Context, keyHash string) (int, error) {
	q, args := `SELECT COUNT(*) FROM console_sessions`, []any{}
	if keyHash != "" {
		q += ` WHERE key_hash = ?`
		args = append(args, keyHash)
	}
	var n int
	err := d.queryRow(ctx, d.db, q, args...).Scan(&n)
	return n, err
}
