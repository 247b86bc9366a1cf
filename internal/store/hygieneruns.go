package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// HygieneRun is one garbage collection or scrub in the history: see migration
// 0018 for why a run is recorded only when it ends.
type HygieneRun struct {
	Seq       int64  // given by RecordHygieneRun
	Kind      string // HygieneGC or HygieneScrub
	StartedBy string
	StartedAt time.Time
	EndedAt   time.Time
	Outcome   string // hangar.RunSucceeded or hangar.RunFailed
	Error     string
	Request   json.RawMessage
	Report    json.RawMessage
}

// The kinds of runs in the history.
const (
	HygieneGC    = "gc"
	HygieneScrub = "scrub"
)

// RecordHygieneRun adds r to the history, giving it the next sequence number, and
// keeps only the latest keep runs of its kind, in one transaction: the history
// never grows past its bound, whatever happens between two runs.
func (d *DB) RecordHygieneRun(ctx context.Context, r *HygieneRun, keep int) error {
	req, rep := string(r.Request), string(r.Report)
	if req == "" {
		req = "{}"
	}
	if rep == "" {
		rep = "{}"
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		if d.dialect.name == "postgres" {
			// Two nodes recording at once take sequence numbers one after the
			// other: this mode conflicts with itself. (SQLite has one writer.)
			if _, err := tx.ExecContext(ctx, `LOCK TABLE hygiene_runs IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		if err := d.queryRow(ctx, tx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM hygiene_runs`).Scan(&r.Seq); err != nil {
			return err
		}
		if _, err := d.exec(ctx, tx, `INSERT INTO hygiene_runs (seq, kind, started_by, started_at, ended_at, outcome, error, request, report)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, r.Kind, r.StartedBy, r.StartedAt.UnixMicro(), r.EndedAt.UnixMicro(),
			r.Outcome, r.Error, req, rep); err != nil {
			return err
		}
		// Everything of this kind from the (keep+1)th newest back goes; with fewer
		// runs the subquery is NULL and nothing does.
		_, err := d.exec(ctx, tx, `DELETE FROM hygiene_runs WHERE kind = ? AND seq <=
			(SELECT seq FROM hygiene_runs WHERE kind = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`, r.Kind, r.Kind, keep)
		return err
	})
}

const hygieneRunColumns = `SELECT seq, kind, started_by, started_at, ended_at, outcome, error, request, report FROM hygiene_runs`

// HygieneRunBySeq returns the run of one kind with sequence number seq, or
// ErrNotFound.
func (d *DB) HygieneRunBySeq(ctx context.Context, kind string, seq int64) (HygieneRun, error) {
	rows, err := d.query(ctx, d.db, hygieneRunColumns+` WHERE kind = ? AND seq = ?`, kind, seq)
	if err != nil {
		return HygieneRun{}, err
	}
	runs, err := scanHygieneRuns(rows)
	if err == nil && len(runs) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return HygieneRun{}, err
	}
	return runs[0], nil
}

// HygieneRuns returns the runs of one kind, newest first, at most limit, only
// those before sequence number before when it is not 0 (the next page).
func (d *DB) HygieneRuns(ctx context.Context, kind string, before int64, limit int) ([]HygieneRun, error) {
	q := hygieneRunColumns + ` WHERE kind = ?`
	args := []any{kind}
	if before > 0 {
		q += ` AND seq < ?`
		args = append(args, before)
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := d.query(ctx, d.db, q, args...)
	if err != nil {
		return nil, err
	}
	return scanHygieneRuns(rows)
}

func scanHygieneRuns(rows *sql.Rows) ([]HygieneRun, error) {
	defer rows.Close()
	var out []HygieneRun
	for rows.Next() {
		var r HygieneRun
		var started, ended int64
		var req, rep string
		if err := rows.Scan(&r.Seq, &r.Kind, &r.StartedBy, &started, &ended, &r.Outcome, &r.Error, &req, &rep); err != nil {
			return nil, err
		}
		r.StartedAt, r.EndedAt = fromMicros(started), fromMicros(ended)
		r.Request, r.Report = json.RawMessage(req), json.RawMessage(rep)
		out = append(out, r)
	}
	return out, rows.Err()
}
