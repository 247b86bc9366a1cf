// Package store keeps Hangar's metadata in SQL: tenants and keys, disks and their chunk
// manifests, uploads, images, versions, shares, community and marketplace publications.
//
// One schema and one set of migrations (migrations/*.sql) serve SQLite (the embedded
// default) and PostgreSQL: queries use only syntax both accept, written with '?'
// placeholders that the dialect rebinds. Adding a database means adding a dialect and
// a driver, not a redesign.
//
// Methods take the acting tenant's ID where scoping matters and never return another
// tenant's private rows: a row the tenant may not see is reported exactly like a
// missing one.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver.
	"modernc.org/sqlite"               // SQLite driver, pure Go: the binary stays static.
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the metadata store.
type DB struct {
	db      *sql.DB
	dialect dialect
	// defaults are the limits of tenants without limits of their own (quotas.go).
	defaults hangar.Resources
	// writers, on SQLite, lets one transaction at a time take a connection: SQLite
	// runs one writer at a time anyway (BEGIN IMMEDIATE), and transactions waiting
	// for its lock held the pool's connections while reads waited for one: catalog
	// reads took p99 300 ms during 8 uploads (docs/BENCHMARKS.md, bench/readload).
	// Nil on PostgreSQL.
	writers chan struct{}
	// queued holds the events each transaction will write (events.go); eventsCh
	// is closed when a transaction that wrote some commits.
	queued   sync.Map
	eventsMu sync.Mutex
	eventsCh chan struct{}
}

type dialect struct {
	name string
	// numbered placeholders ($1, $2, ...) instead of '?'
	numbered bool
}

// Open connects to the database named by dsn and applies pending migrations.
// dsn is "sqlite:///path/to/file.db" (or a plain file path) for SQLite, or a
// "postgres://" URL.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		d   *DB
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d, err = openPostgres(dsn)
	default:
		d, err = openSQLite(strings.TrimPrefix(dsn, "sqlite://"))
	}
	if err != nil {
		return nil, err
	}
	if err := d.migrateRetryingBusy(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// migrateRetryingBusy migrates, trying again for a few seconds while SQLite says
// busy without waiting: a brand-new database that another process is switching to
// WAL at that moment answers SQLITE_BUSY at once, before busy_timeout applies
// (TestClusterSecretRace saw it about once in a hundred runs).
func (d *DB) migrateRetryingBusy(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := d.migrate(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || attempt == 100 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func openSQLite(path string) (*DB, error) {
	q := url.Values{}
	// synchronous=FULL: with WAL, NORMAL skips the fsync at commit, so a power loss
	// can undo commits Hangar already acknowledged. FULL syncs the WAL at every
	// commit (docs/BENCHMARKS.md measures the cost).
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// The database holds key hashes and the cluster secret: only its owner may
	// read it, even in a data dir others may traverse (VMs' QEMU reaches its own
	// directory through it). SQLite gives its -wal and -shm files the database's
	// mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// Reads in WAL mode run beside the writer: enough connections that they find
	// one while single-statement writes wait for the lock.
	db.SetMaxOpenConns(16)
	return &DB{db: db, dialect: dialect{name: "sqlite"}, writers: make(chan struct{}, 1)}, nil
}

func openPostgres(dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	return &DB{db: db, dialect: dialect{name: "postgres", numbered: true}}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Ping checks the connection.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// migrationLock is the PostgreSQL advisory lock that serializes migrations when
// several nodes start at once.
const migrationLock = 0x68616e676172 // "hangar"

// migrate applies each pending migration in its own transaction. On PostgreSQL the
// transaction first takes an advisory lock, so nodes starting together apply each
// migration once; SQLite's write transactions are serialized already.
func (d *DB) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		body, _ := migrationFS.ReadFile(f)
		err = d.tx(ctx, func(tx *sql.Tx) error {
			if d.dialect.name == "postgres" {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
					return fmt.Errorf("migrations: lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			var done int
			if err := tx.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), n).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			for _, stmt := range splitSQL(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w", base, err)
				}
			}
			_, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), n, now())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// splitSQL splits a migration into statements on ';' at line ends, skipping comments.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	return out
}

// rebind turns '?' placeholders into the dialect's form.
func (d *DB) rebind(q string) string {
	if !d.dialect.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tx runs fn in a transaction, committing when fn returns nil.
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return d.run(ctx, false, fn)
}

// txLazy is tx for records a crash may take back at no cost: its commit is not
// flushed to disk on its own (a power loss, not a kill, may undo it), and becomes
// durable with the next commit of tx, since both databases write commits in order
// to one write-ahead log and flushing it flushes all that came before. An upload's
// record of each chunk it delivered is one (AddUploadChunk): the upload's commit
// makes them durable, and one lost before says only "send this chunk again". It
// saves a WAL fsync per 4 MiB chunk, which cost 20% of an upload's time
// (docs/BENCHMARKS.md).
func (d *DB) txLazy(ctx context.Context, fn func(*sql.Tx) error) error {
	return d.run(ctx, true, fn)
}

func (d *DB) run(ctx context.Context, lazy bool, fn func(*sql.Tx) error) error {
	if d.writers != nil {
		select {
		case d.writers <- struct{}{}:
			defer func() { <-d.writers }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var tx *sql.Tx
	var err error
	switch {
	case !lazy:
		tx, err = d.db.BeginTx(ctx, nil)
	case d.dialect.name == "postgres":
		if tx, err = d.db.BeginTx(ctx, nil); err == nil {
			if _, err = tx.ExecContext(ctx, "SET LOCAL synchronous_commit TO OFF"); err != nil {
				tx.Rollback()
			}
		}
	default:
		// SQLite's synchronous setting belongs to a connection and cannot change
		// inside a transaction: set it on one connection around this transaction.
		var conn *sql.Conn
		if conn, err = d.db.Conn(ctx); err != nil {
			return err
		}
		defer restoreSync(conn)
		if _, err = conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err == nil {
			tx, err = conn.BeginTx(ctx, nil)
		}
	}
	if err != nil {
		return err
	}
	wrote := false
	err = fn(tx)
	if err == nil {
		wrote, err = d.writeEvents(ctx, tx)
	}
	if err != nil {
		tx.Rollback()
		d.queued.Delete(tx)
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if wrote {
		d.notifyEvents()
	}
	return nil
}

// restoreSync puts a SQLite connection back to synchronous=FULL (openSQLite) and
// returns it to the pool; one that cannot be put back is discarded, never reused
// for commits that must be durable.
func restoreSync(conn *sql.Conn) {
	if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous=FULL"); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // the error is the point: the pool drops the connection
	}
	conn.Close()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (d *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, d.rebind(query), args...)
}

func (d *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, d.rebind(query), args...)
}

func (d *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, d.rebind(query), args...)
}

// NewID returns a random 128-bit identifier in hex.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func now() int64 { return time.Now().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// placeholders returns "?, ?, ..." for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// isUniqueViolation reports whether err is a unique-constraint violation.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "PRIMARY KEY constraint failed")
}

// ErrNotFound is returned when no row matches; the catalog turns it into a
// user-facing not-found error of the right kind.
var ErrNotFound = errors.New("not found")

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
