package store

import (
	"context"

	"strings"
	"time"
)

// ARMResource is what the Azure Resource Manager API records about one of its
// resources (see migrations/0012_arm_resources.sql).
type ARMResource struct {
	Kind string
	// Parent is the lower-case key of what holds it: the resource group, or
	// "group/gallery" for a gallery image definition.
	Parent     string
	Group      string // the resource group as first written
	Name       string // as first written
	HangarKind string // image or vm; "" when it stands for nothing of Hangar's
	HangarName string
	Location   string
	Properties []byte // JSON
	CreatedAt  time.Time
}

// What an ARM resource stands for in Hangar (ARMResource.HangarKind).
const (
	ARMStandsForImage = "image"
	ARMStandsForVM    = "vm"
)

const armColumns = `kind, parent, resource_group, name, hangar_kind, hangar_name, location, properties, created_at`

func scanARM(sc interface{ Scan(...any) error }) (ARMResource, error) {
	var r ARMResource
	var props string
	var created int64
	err := sc.Scan(&r.Kind, &r.Parent, &r.Group, &r.Name, &r.HangarKind, &r.HangarName, &r.Location, &props, &created)
	r.Properties, r.CreatedAt = []byte(props), fromMicros(created)
	return r, notFound(err)
}

// CreateARMResource records r. A resource of that kind and name already in its
// parent, or another that stands for the same Hangar image or VM, is a unique
// violation (IsUniqueViolation).
func (d *DB) CreateARMResource(ctx context.Context, tenantID string, r ARMResource) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO arm_resources (tenant_id, name_key, `+armColumns+`) VALUES (`+placeholders(11)+`)`,
		tenantID, strings.ToLower(r.Name), r.Kind, r.Parent, r.Group, r.Name, r.HangarKind, r.HangarName, r.Location, string(r.Properties), now())
	return err
}

// IsUniqueViolation reports whether err says a row with the same key exists.
func IsUniqueViolation(err error) bool { return isUniqueViolation(err) }

// UpdateARMResource replaces the location and properties of a recorded resource.
func (d *DB) UpdateARMResource(ctx context.Context, tenantID string, r ARMResource) error {
	res, err := d.exec(ctx, d.db, `UPDATE arm_resources SET location = ?, properties = ? WHERE tenant_id = ? AND kind = ? AND parent = ? AND name_key = ?`,
		r.Location, string(r.Properties), tenantID, r.Kind, r.Parent, strings.ToLower(r.Name))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ARMResourceByName returns the resource of a kind named name (in any case) in parent.
func (d *DB) ARMResourceByName(ctx context.Context, tenantID, kind, parent, name string) (ARMResource, error) {
	return scanARM(d.queryRow(ctx, d.db, `SELECT `+armColumns+` FROM arm_resources WHERE tenant_id = ? AND kind = ? AND parent = ? AND name_key = ?`,
		tenantID, kind, parent, strings.ToLower(name)))
}

// ARMResourceFor returns the resource that stands for a Hangar image or VM.
func (d *DB) ARMResourceFor(ctx context.Context, tenantID, hangarKind, hangarName string) (ARMResource, error) {
	return scanARM(d.queryRow(ctx, d.db, `SELECT `+armColumns+` FROM arm_resources WHERE tenant_id = ? AND hangar_kind = ? AND hangar_name = ?`,
		tenantID, hangarKind, hangarName))
}

// ARMResources lists up to limit resources of a kind, in parent (every parent if
// ""), in order of parent and name after the pair (afterParent, afterName): a page
// of a list goes on where the last one stopped.
func (d *DB) ARMResources(ctx context.Context, tenantID, kind, parent, afterParent, afterName string, limit int) ([]ARMResource, error) {
	q := `SELECT ` + armColumns + ` FROM arm_resources WHERE tenant_id = ? AND kind = ? AND (parent > ? OR parent = ? AND name_key > ?)`
	args := []any{tenantID, kind, afterParent, afterParent, strings.ToLower(afterName)}
	if parent != "" {
		q += ` AND parent = ?`
		args = append(args, parent)
	}
	rows, err := d.query(ctx, d.db, q+` ORDER BY parent, name_key LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ARMResource
	for rows.Next() {
		r, err := scanARM(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteARMResource forgets a recorded resource; ErrNotFound if there is none.
func (d *DB) DeleteARMResource(ctx context.Context, tenantID, kind, parent, name string) error {
	res, err := d.exec(ctx, d.db, `DELETE FROM arm_resources WHERE tenant_id = ? AND kind = ? AND parent = ? AND name_key = ?`,
		tenantID, kind, parent, strings.ToLower(name))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
