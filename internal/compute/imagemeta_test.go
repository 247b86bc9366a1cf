package compute

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// TestPlanEnforcesImageDefinition: a VM whose size is outside its image's
// recommended range, or whose disk type the image disallows, is refused before
// anything is recorded or booted; one that fits gets the disk type (the first the
// image allows by default) and its resource group.
func TestPlanEnforcesImageDefinition(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	backend, err := dirstore.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &chunks.Store{Backend: backend}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(db, cs, catalog.Config{StagingDir: dir}, log)
	if _, err := cat.Bootstrap(ctx, "", filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	m, err := New(ctx, Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg"}, db, cat, cs, log)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := db.TenantByName(ctx, catalog.AdminTenant)
	created, err := cat.CreateTenant(ctx, &admin, hangar.TenantCreate{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := created.Tenant
	data := bytes.Repeat([]byte{1}, chunks.ChunkSize)
	u, err := cat.CreateUpload(ctx, &alice, hangar.UploadCreate{Name: "os", VirtualSize: chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	d := chunks.Sum(data)
	if err := cat.PutChunk(ctx, &alice, u.ID, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CommitUpload(ctx, &alice, u.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}); err != nil {
		t.Fatal(err)
	}
	_, err = cat.CreateImage(ctx, &alice, hangar.ImageCreate{Name: "big", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, OSDisk: "os",
		ImageRequirements: hangar.ImageRequirements{
			Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 2}, MemoryGB: &hangar.Range{Min: 2}},
			Disallowed:  &hangar.Disallowed{DiskTypes: []string{"Premium_LRS"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  hangar.VMCreate
		want string // "" fits, else part of the refusal
		sku  string
	}{
		{"too small", hangar.VMCreate{Size: "small"}, "size small (1 vCPU, 512 MiB) is outside the image's recommended at least 2 vCPUs and at least 2 GiB of memory; sizes that fit: large", ""},
		{"medium has too little memory", hangar.VMCreate{Size: "medium"}, "sizes that fit: large", ""},
		{"disallowed disk type", hangar.VMCreate{Size: "large", StorageSKU: "premium_lrs"}, "the image disallows disk type Premium_LRS", ""},
		{"unknown disk type", hangar.VMCreate{Size: "large", StorageSKU: "Floppy"}, "disk type \"Floppy\" is not valid", ""},
		{"bad group", hangar.VMCreate{Size: "large", ResourceGroup: "a/b"}, "resource group name", ""},
		{"fits, default disk type", hangar.VMCreate{Size: "large", ResourceGroup: "Prod"}, "", "StandardSSD_LRS"},
		{"fits, chosen disk type", hangar.VMCreate{Size: "large", StorageSKU: "standard_lrs"}, "", "Standard_LRS"},
	} {
		tc.req.Name, tc.req.Image, tc.req.AdminUsername, tc.req.AdminPassword = "vm1", "big", "ops", "Passw0rd!x"
		vm, _, err := m.plan(ctx, &alice, tc.req)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) || hangar.ErrorCode(err) != hangar.CodeInvalid {
				t.Errorf("%s: %v, want an InvalidArgument saying %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || vm.StorageSKU != tc.sku || vm.ResourceGroup != tc.req.ResourceGroup {
			t.Errorf("%s: %v; disk type %q, want %q; group %q", tc.name, err, vm.StorageSKU, tc.sku, vm.ResourceGroup)
		}
	}
}
