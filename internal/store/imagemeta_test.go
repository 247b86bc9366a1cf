package store

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestImageMetadata: properties and definition fields read back from every query
// that returns them; properties change under If-Match and move the ETag; a new
// version must repeat the image's definition fields (the catalog fills in those
// left out); a VM keeps its disk type.
func TestImageMetadata(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			f.disk(t, "os")
			reqs := hangar.ImageRequirements{
				Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 2}},
				Features:    hangar.Features{"SecurityType": "TrustedLaunch"},
				Disallowed:  &hangar.Disallowed{DiskTypes: []string{"Standard_LRS"}},
			}
			create := func(version string, q hangar.ImageRequirements, props hangar.Properties) (Image, error) {
				req := hangar.ImageCreate{Name: "secure", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized,
					HyperVGeneration: "V2", Version: version, OSDisk: "os", Properties: props, ImageRequirements: q}
				if err := req.Normalize(); err != nil {
					t.Fatal(err)
				}
				return f.db.CreateImageVersion(ctx, f.owner.ID, &req)
			}
			im, err := create("1.0.0", reqs, hangar.Properties{"os_distro": "ubuntu"})
			if err != nil {
				t.Fatal(err)
			}
			for i, tc := range []struct {
				name string
				q    hangar.ImageRequirements
				ok   bool
			}{
				{"the same", reqs, true},
				{"other recommended", hangar.ImageRequirements{Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 1}}, Features: reqs.Features, Disallowed: reqs.Disallowed}, false},
				{"other features", hangar.ImageRequirements{Recommended: reqs.Recommended, Features: hangar.Features{"SecurityType": "Standard"}, Disallowed: reqs.Disallowed}, false},
				{"no disallowed", hangar.ImageRequirements{Recommended: reqs.Recommended, Features: reqs.Features}, false},
				{"none", hangar.ImageRequirements{}, false},
			} {
				_, err := create(fmt.Sprintf("1.1.%d", i), tc.q, nil)
				if tc.ok != (err == nil) || !tc.ok && (hangar.ErrorCode(err) != hangar.CodeConflict || !strings.Contains(err.Error(), "recommended, features and disallowed")) {
					t.Errorf("a new version with %s requirements: %v", tc.name, err)
				}
			}
			got, err := f.db.ImageByName(ctx, f.owner.ID, "secure")
			summaries, _ := f.db.ListImages(ctx, "own", f.owner.ID)
			if err != nil || !got.Same(reqs) || len(summaries) != 1 || !summaries[0].Same(reqs) {
				t.Fatalf("requirements read back: %+v, listed %+v (%v)", got.ImageRequirements, summaries, err)
			}
			v := hangar.Version{Major: 1}
			vs, _ := f.db.Versions(ctx, im.ID)
			if vs[0].Properties["os_distro"] != "ubuntu" {
				t.Fatalf("properties of 1.0.0: %+v", vs[0].Properties)
			}
			props := hangar.Properties{"os_distro": "debian", "os_version": "13"}
			if err := f.db.SetVersionProperties(ctx, &got, v, props, hangar.IfMatch(im.ETag)); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
				t.Fatalf("properties under a stale ETag: %v", err)
			}
			before := got.ETag
			if err := f.db.SetVersionProperties(ctx, &got, v, props, hangar.IfMatch(got.ETag)); err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetVersionProperties(ctx, &got, hangar.Version{Major: 9}, props, hangar.Precondition{}); hangar.ErrorCode(err) != hangar.CodeImageNotFound {
				t.Fatalf("properties of a version that does not exist: %v", err)
			}
			after, _ := f.db.ImageByName(ctx, f.owner.ID, "secure")
			one, err := f.db.Version(ctx, &after, &v)
			if err != nil || !reflect.DeepEqual(one.Properties, props) || after.ETag == before {
				t.Fatalf("after setting properties: %+v, ETag %s (was %s), %v", one.Properties, after.ETag, before, err)
			}

			dk := f.disk(t, "w-os")
			w := VM{VM: hangar.VM{Name: "w", Image: "secure@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V2",
				Size: hangar.VMSize{Name: "large", VCPUs: 2, MemoryMiB: 2048}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
				Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}, StorageSKU: "Premium_LRS"}, TenantID: f.owner.ID, DiskIDs: []string{dk.ID}}
			if err := f.db.CreateVM(ctx, &w); err != nil {
				t.Fatal(err)
			}
			read, err := f.db.VMByName(ctx, f.owner.ID, "w")
			listed, _ := f.db.ListVMs(ctx, f.owner.ID)
			if err != nil || read.StorageSKU != "Premium_LRS" || len(listed) != 1 || listed[0].StorageSKU != "Premium_LRS" {
				t.Fatalf("VM disk type: %q, listed %+v, %v", read.StorageSKU, listed, err)
			}
		})
	}
}

// TestResourceGroupRecords: an image or VM made with a resource group is recorded
// in the ARM registry, as ARM records what it makes; the others are in the default
// group; a name the group holds for another resource is a conflict, and a record an
// earlier namesake left is replaced.
func TestResourceGroupRecords(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			n := 0
			vm := func(name, group string) error {
				n++
				dk := f.disk(t, fmt.Sprint("disk", n))
				v := VM{VM: hangar.VM{Name: name, Image: "img@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1",
					Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
					Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}, ResourceGroup: group}, TenantID: f.owner.ID, DiskIDs: []string{dk.ID}}
				return f.db.CreateVM(ctx, &v)
			}
			// What ARM made: a VM named web in group Prod standing for Hangar VM web-1234.
			if err := f.db.CreateARMResource(ctx, f.owner.ID, ARMResource{Kind: ARMStandsForVM, Parent: "prod", Group: "Prod", Name: "web",
				HangarKind: ARMStandsForVM, HangarName: "web-1234", Properties: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			// A stale record: ARM's VM old in group Old, since deleted through /v1.
			if err := f.db.CreateARMResource(ctx, f.owner.ID, ARMResource{Kind: ARMStandsForVM, Parent: "old", Group: "Old", Name: "old",
				HangarKind: ARMStandsForVM, HangarName: "old", Properties: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, group string
				conflict    bool
			}{
				{"api", "", false},
				{"default", "HANGAR", false},
				{"cli", "Prod", false},
				{"web", "prod", true}, // the group's web is ARM's
				{"web", "dev", false},
				{"old", "New", false},
			} {
				err := vm(tc.name, tc.group)
				if tc.conflict != (hangar.ErrorCode(err) == hangar.CodeConflict) || !tc.conflict && err != nil {
					t.Errorf("VM %s in %q: %v", tc.name, tc.group, err)
				}
			}
			groups, err := f.db.ResourceGroups(ctx, f.owner.ID, ARMStandsForVM)
			want := map[string]string{"cli": "Prod", "web": "dev", "web-1234": "Prod", "old": "New"}
			if err != nil || !reflect.DeepEqual(groups, want) {
				t.Errorf("resource groups: %v (%v), want %v", groups, err, want)
			}
			if g, err := f.db.ResourceGroup(ctx, f.owner.ID, ARMStandsForVM, "api"); err != nil || g != hangar.DefaultResourceGroup {
				t.Errorf("group of a VM made without one: %q %v", g, err)
			}
			if r, err := f.db.ARMResourceByName(ctx, f.owner.ID, ARMStandsForVM, "prod", "CLI"); err != nil || r.HangarName != "cli" {
				t.Errorf("ARM finds the VM made with a group: %+v %v", r, err)
			}

			// Images: recorded when made; a new version names the image's group or none.
			f.disk(t, "os")
			image := func(version, group string) error {
				req := hangar.ImageCreate{Name: "web", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized,
					Version: version, OSDisk: "os", ResourceGroup: group}
				if err := req.Normalize(); err != nil {
					t.Fatal(err)
				}
				_, err := f.db.CreateImageVersion(ctx, f.owner.ID, &req)
				return err
			}
			for _, tc := range []struct {
				version, group string
				ok             bool
			}{{"1.0.0", "Prod", true}, {"1.0.1", "", true}, {"1.0.2", "prod", true}, {"1.0.3", "dev", false}} {
				if err := image(tc.version, tc.group); tc.ok != (err == nil) {
					t.Errorf("image version %s in %q: %v", tc.version, tc.group, err)
				}
			}
			if g, err := f.db.ResourceGroup(ctx, f.owner.ID, ARMStandsForImage, "web"); err != nil || g != "Prod" {
				t.Errorf("group of image web: %q %v", g, err)
			}
		})
	}
}
