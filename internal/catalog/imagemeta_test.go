package catalog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestImageDefinitionFields: a new version inherits the definition fields it leaves
// out and must repeat those it gives; they reach a VM's resolution (where compute
// enforces them); properties are shown to a tenant the image is shared with, the
// resource group only to the owner; the list filters on it.
func TestImageDefinitionFields(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	alice, bob := newTenant(t, s, admin, "alice"), newTenant(t, s, admin, "bob")
	u, d := upload(t, s, alice, "os", bytes.Repeat([]byte{7}, chunks.ChunkSize))
	if _, err := s.CommitUpload(ctx, alice, u.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}); err != nil {
		t.Fatal(err)
	}
	base := hangar.ImageCreate{Name: "secure", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, OSDisk: "os"}
	first := base
	first.Version, first.HyperVGeneration, first.ResourceGroup = "1.0.0", "V2", "Prod"
	first.Properties = hangar.Properties{"os_distro": "ubuntu"}
	first.ImageRequirements = hangar.ImageRequirements{
		Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 2}},
		Features:    hangar.Features{"SecurityType": "TrustedLaunch"},
		Disallowed:  &hangar.Disallowed{DiskTypes: []string{"standard_lrs"}},
	}
	im, err := s.CreateImage(ctx, alice, first)
	if err != nil {
		t.Fatal(err)
	}
	if im.ResourceGroup != "Prod" || im.Disallowed == nil || im.Disallowed.DiskTypes[0] != "Standard_LRS" {
		t.Fatalf("created: %+v", im)
	}
	for i, tc := range []struct {
		name string
		set  func(*hangar.ImageCreate)
		want string // "" ok, else part of the error
	}{
		{"everything left out", func(*hangar.ImageCreate) {}, ""},
		{"the same features", func(r *hangar.ImageCreate) { r.Features = hangar.Features{"SecurityType": "trustedlaunch"} }, ""},
		{"other features", func(r *hangar.ImageCreate) { r.Features = hangar.Features{"SecurityType": "Standard"} }, "recommended, features and disallowed"},
		{"other recommended", func(r *hangar.ImageCreate) { r.Recommended = &hangar.Recommended{MemoryGB: &hangar.Range{Max: 1}} }, "recommended, features and disallowed"},
		{"another group", func(r *hangar.ImageCreate) { r.ResourceGroup = "dev" }, "is in resource group Prod"},
		{"bad properties", func(r *hangar.ImageCreate) { r.Properties = hangar.Properties{"a=b": ""} }, "not allowed in a key"},
	} {
		req := base
		req.Version = fmt.Sprintf("1.1.%d", i)
		tc.set(&req)
		_, err := s.CreateImage(ctx, alice, req)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}

	r, err := s.Resolve(ctx, alice, "secure@1.0.0")
	if err != nil || !r.Same(im.ImageRequirements) {
		t.Fatalf("resolved: %+v %v", r.ImageRequirements, err)
	}
	if _, err := s.Share(ctx, alice, "secure", "bob", true, hangar.Precondition{}); err != nil {
		t.Fatal(err)
	}
	seen, err := s.Image(ctx, bob, "shared/alice/secure")
	if err != nil || seen.Versions[0].Properties["os_distro"] != "ubuntu" || seen.ResourceGroup != "" || !seen.Same(im.ImageRequirements) {
		t.Fatalf("bob sees: %+v %v", seen, err)
	}
	if _, err := s.SetVersionProperties(ctx, bob, "secure", "1.0.0", hangar.Properties{"x": "y"}, hangar.Precondition{}); hangar.ErrorCode(err) != hangar.CodeImageNotFound {
		t.Errorf("bob set alice's properties: %v", err)
	}
	own, err := s.Image(ctx, alice, "secure")
	if err != nil || own.ResourceGroup != "Prod" {
		t.Fatalf("alice sees group %q (%v)", own.ResourceGroup, err)
	}
	list, err := s.ListImages(ctx, alice, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range list {
		if sum.Source == "own" && sum.ResourceGroup != "Prod" {
			t.Errorf("listed %s in group %q", sum.Name, sum.ResourceGroup)
		}
	}
}

// TestMarketplaceShowsDefinitionFields: a marketplace version shows its image's
// definition fields and its properties, and resolves with the fields (which
// compute enforces).
func TestMarketplaceShowsDefinitionFields(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	alice := newTenant(t, s, admin, "alice")
	u, d := upload(t, s, admin, "os", bytes.Repeat([]byte{9}, chunks.ChunkSize))
	if _, err := s.CommitUpload(ctx, admin, u.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}); err != nil {
		t.Fatal(err)
	}
	q := hangar.ImageRequirements{Recommended: &hangar.Recommended{MemoryGB: &hangar.Range{Min: 2}}}
	if _, err := s.CreateImage(ctx, admin, hangar.ImageCreate{Name: "sql", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized,
		OSDisk: "os", Properties: hangar.Properties{"edition": "enterprise"}, ImageRequirements: q}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishMarketplace(ctx, admin, hangar.MarketplacePublish{URN: "Contoso:SQL:ent:1.0.0", Image: "sql"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.MarketplaceImage(ctx, alice, "Contoso:SQL:ent:latest")
	if err != nil || !m.Same(q) || m.Properties["edition"] != "enterprise" {
		t.Fatalf("marketplace image: %+v %v", m, err)
	}
	r, err := s.Resolve(ctx, alice, "Contoso:SQL:ent:latest")
	if err != nil || !r.Same(q) {
		t.Fatalf("resolved: %+v %v", r, err)
	}
	if err := r.Fits(hangar.VMSizes[1]); err == nil {
		t.Error("medium (1 GiB) fits an image that recommends 2 GiB or more")
	}
}
