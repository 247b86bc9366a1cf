package store

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/hangarvm/hangar/internal/hangar"
)

// parseTags reads a tags column; nil when there are none.
func parseTags(s string) hangar.Tags {
	var t hangar.Tags
	if json.Unmarshal([]byte(s), &t) != nil || len(t) == 0 {
		return nil
	}
	return t
}

func tagsJSON(t hangar.Tags) string {
	if len(t) == 0 {
		return "{}"
	}
	data, _ := json.Marshal(t)
	return string(data)
}

// SetDiskTags replaces a disk's tags; its ETag moves. pre is the caller's If-Match.
func (d *DB) SetDiskTags(ctx context.Context, dk hangar.Disk, tags hangar.Tags, pre hangar.Precondition) error {
	_, err := d.bump(ctx, d.db, target{table: "disks", kind: "disk", id: dk.ID, missing: diskNotFound(dk.Name)}, pre, "tags = ?", tagsJSON(tags))
	return err
}

// SetVMTags replaces a VM's tags; its ETag moves.
func (d *DB) SetVMTags(ctx context.Context, v *VM, tags hangar.Tags, pre hangar.Precondition) error {
	_, err := d.bump(ctx, d.db, target{table: "vms", kind: "VM", id: v.ID, missing: vmNotFound(v.Name)}, pre, "tags = ?", tagsJSON(tags))
	return err
}

// SetImageTags replaces the tags of an image, or of one of its versions when v is
// not nil; the image's ETag moves either way.
func (d *DB) SetImageTags(ctx context.Context, im *Image, v *hangar.Version, tags hangar.Tags, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		if v == nil {
			_, err := d.exec(ctx, tx, `UPDATE images SET tags = ? WHERE id = ?`, tagsJSON(tags), im.ID)
			return err
		}
		res, err := d.exec(ctx, tx, `UPDATE image_versions SET tags = ? WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`,
			tagsJSON(tags), im.ID, v.Major, v.Minor, v.Patch)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version %s", im.Name, v)
		}
		return nil
	})
}
