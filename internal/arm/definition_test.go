package arm

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// TestDefinitionFieldsBothWays: a gallery image definition's recommended, features
// and disallowed become its Hangar image's when the first version is made, and the
// image's are what the definition shows; a definition Hangar could not make a VM
// image of (TrustedLaunch on V1) is refused when written.
func TestDefinitionFieldsBothWays(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	s.upload(t, "alice", "os")
	f := s.factory(t, "alice", s.keys["alice"])
	if _, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil); err != nil {
		t.Fatal(err)
	}
	def := func(gen armcompute.HyperVGeneration) armcompute.GalleryImage {
		return armcompute.GalleryImage{Location: to.Ptr("local"), Properties: &armcompute.GalleryImageProperties{
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(gen),
			Identifier:       &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("contoso"), Offer: to.Ptr("secure"), SKU: to.Ptr("1")},
			Recommended: &armcompute.RecommendedMachineConfiguration{
				VCPUs: &armcompute.ResourceRange{Min: to.Ptr[int32](2), Max: to.Ptr[int32](4)}, Memory: &armcompute.ResourceRange{Min: to.Ptr[int32](2)}},
			Features:   []*armcompute.GalleryImageFeature{{Name: to.Ptr("SecurityType"), Value: to.Ptr("TrustedLaunch")}},
			Disallowed: &armcompute.Disallowed{DiskTypes: []*string{to.Ptr("Standard_LRS")}},
		}}
	}
	defs := f.NewGalleryImagesClient()
	if _, err := defs.BeginCreateOrUpdate(ctx, "rg1", "g1", "v1def", def(armcompute.HyperVGenerationV1), nil); statusOfErr(err) != 400 ||
		!strings.Contains(err.Error(), "needs Hyper-V generation V2") {
		t.Errorf("TrustedLaunch on a V1 definition: %v", err)
	}
	p, err := defs.BeginCreateOrUpdate(ctx, "rg1", "g1", "secure", def(armcompute.HyperVGenerationV2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	vp, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "secure", "1.0.0", armcompute.GalleryImageVersion{
		Location: to.Ptr("local"), Properties: &armcompute.GalleryImageVersionProperties{
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{OSDiskImage: &armcompute.GalleryOSDiskImage{
				Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(diskID("alice", "rg1", "os"))}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	// ARM -> Hangar.
	im, err := s.hangarClient("alice").Image(ctx, "secure")
	want := hangar.ImageRequirements{
		Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 2, Max: 4}, MemoryGB: &hangar.Range{Min: 2}},
		Features:    hangar.Features{"SecurityType": "TrustedLaunch"},
		Disallowed:  &hangar.Disallowed{DiskTypes: []string{"Standard_LRS"}},
	}
	if err != nil || !im.Same(want) || im.HyperVGeneration != "V2" {
		t.Fatalf("Hangar's image of the definition: %+v %v", im, err)
	}
	// Hangar -> ARM: the definition shows its image's fields, which are fixed when
	// the image is made, even once the definition is written again without them.
	bare := def(armcompute.HyperVGenerationV2)
	bare.Properties.Recommended, bare.Properties.Features, bare.Properties.Disallowed = nil, nil, nil
	if p, err = defs.BeginCreateOrUpdate(ctx, "rg1", "g1", "secure", bare, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	got, err := defs.Get(ctx, "rg1", "g1", "secure", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := requirements(got.Properties)
	if !q.Same(want) {
		t.Errorf("the definition shows %+v, want %+v", q, want)
	}
}

// TestResourceGroupOfHangarAPI: an image or VM made through /v1 with a resource
// group is in that group through ARM (and nowhere else), and the /v1 lists filter
// on it; without one it is in the group hangar.
func TestResourceGroupOfHangarAPI(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	s.upload(t, "alice", "os")
	alice := s.hangarClient("alice")
	for _, c := range []struct{ name, group string }{{"web", "Prod"}, {"plain", ""}} {
		if _, err := alice.CreateImage(ctx, hangar.ImageCreate{Name: c.name, Type: hangar.ImageTypeOS, OSType: hangar.OSLinux,
			OSState: hangar.Generalized, OSDisk: "os", ResourceGroup: c.group}); err != nil {
			t.Fatal(err)
		}
	}
	images := s.factory(t, "alice", s.keys["alice"]).NewImagesClient()
	names := func(group string) string {
		t.Helper()
		var out []string
		pager := images.NewListByResourceGroupPager(group, nil)
		for pager.More() {
			pg, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range pg.Value {
				out = append(out, *im.Name)
			}
		}
		return strings.Join(out, " ")
	}
	for group, want := range map[string]string{"prod": "web", "hangar": "plain", "dev": ""} {
		if got := names(group); got != want {
			t.Errorf("ARM images in %s: %q, want %q", group, got, want)
		}
	}
	if im, err := images.Get(ctx, "PROD", "web", nil); err != nil || !strings.Contains(*im.ID, "/resourceGroups/Prod/") {
		t.Errorf("ARM get of web in Prod: %+v %v", im, err)
	}
	for group, want := range map[string]string{"prod": "web", "HANGAR": "plain", "": "plain web"} {
		list, err := alice.ListImagesFiltered(ctx, false, client.ListFilter{ResourceGroup: group})
		var got []string
		for _, im := range list {
			got = append(got, im.Name)
		}
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("/v1 images in %q: %v %v, want %q", group, got, err, want)
		}
	}
	if _, err := alice.CreateImage(ctx, hangar.ImageCreate{Name: "bad", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux,
		OSState: hangar.Generalized, OSDisk: "os", ResourceGroup: "a/b"}); hangar.ErrorCode(err) != hangar.CodeInvalid {
		t.Errorf("an image in group a/b: %v", err)
	}

	// A VM made with a group: recorded as compute records the VMs of /v1 (this
	// service runs none), with its disk type.
	disk, err := s.db.DiskByName(ctx, s.tenant["alice"].ID, "os")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, group string }{{"app1", "Prod"}, {"app2", ""}} {
		v := store.VM{VM: hangar.VM{Name: c.name, Image: "web@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1",
			Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
			Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: disk.VirtualSize}}, StorageSKU: "Premium_LRS", ResourceGroup: c.group},
			TenantID: s.tenant["alice"].ID, DiskIDs: []string{disk.ID}}
		if err := s.db.CreateVM(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	vms := s.factory(t, "alice", s.keys["alice"]).NewVirtualMachinesClient()
	for group, want := range map[string]string{"prod": "app1", "hangar": "app2"} {
		pg, err := vms.NewListPager(group, nil).NextPage(ctx)
		if err != nil || len(pg.Value) != 1 || *pg.Value[0].Name != want {
			t.Errorf("ARM VMs in %s: %+v %v, want %s", group, pg.Value, err, want)
		}
	}
	vm, err := vms.Get(ctx, "PROD", "app1", nil)
	if err != nil || !strings.Contains(*vm.ID, "/resourceGroups/Prod/") ||
		*vm.Properties.StorageProfile.OSDisk.ManagedDisk.StorageAccountType != armcompute.StorageAccountTypesPremiumLRS {
		t.Errorf("ARM get of app1 in Prod: %+v %v", vm, err)
	}
	if _, err := vms.Get(ctx, "hangar", "app1", nil); statusOfErr(err) != 404 {
		t.Errorf("app1 is also in group hangar: %v", err)
	}
}
