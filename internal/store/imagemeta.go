package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// parseRequirements reads an images.requirements column.
func parseRequirements(s string) hangar.ImageRequirements {
	var q hangar.ImageRequirements
	json.Unmarshal([]byte(s), &q)
	return q
}

func requirementsJSON(q hangar.ImageRequirements) string {
	data, _ := json.Marshal(q)
	return string(data)
}

// SetVersionProperties replaces the properties of one of an image's versions; the
// image's ETag moves. pre is the caller's If-Match.
func (d *DB) SetVersionProperties(ctx context.Context, im *Image, v hangar.Version, props hangar.Properties, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		res, err := d.exec(ctx, tx, `UPDATE image_versions SET properties = ? WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`,
			tagsJSON(hangar.Tags(props)), im.ID, v.Major, v.Minor, v.Patch)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version %s", im.Name, v)
		}
		return nil
	})
}

// recordGroup records a new Hangar image or VM in a resource group, as the ARM API
// records what it makes (see ARMResource), so that ARM shows it there. The caller
// has just made the image or VM in tx, so a managed image's or VM's record of that
// Hangar name is one an earlier namesake left: it is dropped. (A gallery image
// definition's record is not: the definition lives on without its image.) group ""
// or DefaultResourceGroup records nothing: that is where an image or VM with no
// record is.
func (d *DB) recordGroup(ctx context.Context, tx *sql.Tx, tenantID, hangarKind, name, group string) error {
	if group == "" || strings.EqualFold(group, hangar.DefaultResourceGroup) {
		return nil
	}
	if _, err := d.exec(ctx, tx, `DELETE FROM arm_resources WHERE tenant_id = ? AND kind = ? AND hangar_kind = ? AND hangar_name = ?`, tenantID, hangarKind, hangarKind, name); err != nil {
		return err
	}
	_, err := d.exec(ctx, tx, `INSERT INTO arm_resources (tenant_id, name_key, `+armColumns+`) VALUES (`+placeholders(11)+`)`,
		tenantID, strings.ToLower(name), hangarKind, strings.ToLower(group), group, name, hangarKind, name, "", "{}", now())
	if isUniqueViolation(err) {
		return hangar.Errorf(hangar.CodeConflict, "resource group %s already has %s named %s (made through ARM, standing for another of your resources): choose another name or group", group, article(hangarKind), name)
	}
	return err
}

func article(hangarKind string) string {
	if hangarKind == ARMStandsForVM {
		return "a VM"
	}
	return "an " + hangarKind
}

// sameGroup checks that an existing image or VM is in group ("" is any).
func (d *DB) sameGroup(ctx context.Context, tx *sql.Tx, tenantID, hangarKind, name, group string) error {
	if group == "" {
		return nil
	}
	have := hangar.DefaultResourceGroup
	r, err := scanARM(d.queryRow(ctx, tx, `SELECT `+armColumns+` FROM arm_resources WHERE tenant_id = ? AND hangar_kind = ? AND hangar_name = ?`, tenantID, hangarKind, name))
	switch {
	case err == nil:
		have = r.Group
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if !strings.EqualFold(have, group) {
		return hangar.Errorf(hangar.CodeConflict, "%s %q is in resource group %s, not %s", hangarKind, name, have, group)
	}
	return nil
}

// ResourceGroups maps the names of the tenant's images or VMs (hangarKind) that
// are recorded in a resource group to that group; the others are in
// hangar.DefaultResourceGroup.
func (d *DB) ResourceGroups(ctx context.Context, tenantID, hangarKind string) (map[string]string, error) {
	rows, err := d.query(ctx, d.db, `SELECT hangar_name, resource_group FROM arm_resources WHERE tenant_id = ? AND hangar_kind = ? AND hangar_name <> ''`, tenantID, hangarKind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, group string
		if err := rows.Scan(&name, &group); err != nil {
			return nil, err
		}
		out[name] = group
	}
	return out, rows.Err()
}

// ResourceGroup is the resource group of one of the tenant's images or VMs.
func (d *DB) ResourceGroup(ctx context.Context, tenantID, hangarKind, name string) (string, error) {
	r, err := d.ARMResourceFor(ctx, tenantID, hangarKind, name)
	if errors.Is(err, ErrNotFound) {
		return hangar.DefaultResourceGroup, nil
	}
	return r.Group, err
}
