package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hangarvm/hangar/internal/hangar"
)

// target is a row whose revision a change moves.
type target struct {
	table string // images, disks or vms: each has id, name and revision
	kind  string // names the row in messages: image, disk, VM
	id    string
	// missing is returned when the row is gone (nil: the change is then a no-op).
	missing error
}

// bump moves the row to its next revision and returns it, with set ("col = ?, ...",
// args first) applied by the same UPDATE. When pre asks for a revision, the check
// and the write are that one statement, so of two writers holding the same ETag
// exactly one matches: PostgreSQL makes the second wait for the first's row lock
// and then re-checks the row it finds; SQLite runs writes one at a time. Run inside
// a transaction, bump comes first: the row lock then orders everything the
// transaction reads after it.
func (d *DB) bump(ctx context.Context, q querier, t target, pre hangar.Precondition, set string, args ...any) (int64, error) {
	query := `UPDATE ` + t.table + ` SET revision = revision + 1`
	if set != "" {
		query += ", " + set
	}
	query += ` WHERE id = ?`
	args = append(args[:len(args):len(args)], t.id)
	if rev, ok := pre.Revision(t.id); ok {
		query += ` AND revision = ?`
		args = append(args, rev)
	}
	var rev int64
	err := d.queryRow(ctx, q, query+` RETURNING revision`, args...).Scan(&rev)
	if !errors.Is(err, sql.ErrNoRows) {
		return rev, err
	}
	var name string
	err = d.queryRow(ctx, q, `SELECT revision, name FROM `+t.table+` WHERE id = ?`, t.id).Scan(&rev, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, t.missing
	}
	if err != nil {
		return 0, err
	}
	return 0, pre.Failed(fmt.Sprintf("%s %q", t.kind, name), hangar.ETag(t.id, rev))
}

// errUnchanged, returned by a change, rolls its transaction back: there was nothing
// to do, so the resource keeps its revision (and its ETag) as if nothing was asked.
var errUnchanged = errors.New("unchanged")

// unchangedIfNone turns a statement that touched no row into errUnchanged.
func unchangedIfNone(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return errUnchanged
}

func imageTarget(im *Image) target {
	return target{table: "images", kind: "image", id: im.ID, missing: imageNotFound(im.Name)}
}

// changeImage runs change in one transaction after moving the image to its next
// revision under pre: any change to the image's definition, versions, shares or
// community publication goes through here, so the image's ETag covers them all. On
// success im carries the new ETag.
func (d *DB) changeImage(ctx context.Context, im *Image, pre hangar.Precondition, change func(tx *sql.Tx) error) error {
	var rev int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if rev, err = d.bump(ctx, tx, imageTarget(im), pre, ""); err != nil {
			return err
		}
		return change(tx)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	im.ETag = hangar.ETag(im.ID, rev)
	return nil
}
