package api_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// TestImageMetadataAPI: properties and definition fields through /v1: set when the
// version is made, replaced under If-Match by the owner only, refused with 400 when
// invalid; GET /v1/vms?resourceGroup= keeps the VMs of that group.
func TestImageMetadataAPI(t *testing.T) {
	e := aliceAndBob(t)
	svc, alice, bob := e.svc, e.alice, e.bob
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "os.raw")
	if err := os.WriteFile(path, bytes.Repeat([]byte{3}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.UploadDisk(ctx, path, "os", client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	base := hangar.ImageCreate{Name: "web", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, OSDisk: "os"}
	for _, tc := range []struct {
		name string
		set  func(*hangar.ImageCreate)
		want string
	}{
		{"TrustedLaunch on V1", func(r *hangar.ImageCreate) { r.Features = hangar.Features{"SecurityType": "TrustedLaunch"} }, "needs Hyper-V generation V2"},
		{"too many properties", func(r *hangar.ImageCreate) {
			r.Properties = hangar.Properties{}
			for i := range hangar.MaxProperties + 1 {
				r.Properties[strings.Repeat("p", i+1)] = ""
			}
		}, "at most 100"},
		{"unknown disk type", func(r *hangar.ImageCreate) { r.Disallowed = &hangar.Disallowed{DiskTypes: []string{"Tape"}} }, "is not valid"},
	} {
		req := base
		tc.set(&req)
		_, err := alice.CreateImage(ctx, req)
		if hangar.ErrorCode(err) != hangar.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want 400 saying %q", tc.name, err, tc.want)
		}
	}
	req := base
	req.Properties = hangar.Properties{"os_distro": "ubuntu"}
	im, err := alice.CreateImage(ctx, req)
	if err != nil || im.Versions[0].Properties["os_distro"] != "ubuntu" {
		t.Fatalf("created: %+v %v", im, err)
	}
	props := hangar.Properties{"os_distro": "debian"}
	if _, err := alice.SetVersionProperties(ctx, "web", "1.0.0", props, client.IfMatch(`"stale"`)); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
		t.Errorf("properties under a stale If-Match: %v", err)
	}
	if _, err := bob.SetVersionProperties(ctx, "web", "1.0.0", props); hangar.ErrorCode(err).HTTPStatus() != http.StatusNotFound {
		t.Errorf("bob set alice's properties: %v", err)
	}
	got, err := alice.SetVersionProperties(ctx, "web", "1.0.0", props, client.IfMatch(im.ETag))
	if err != nil || got.Versions[0].Properties["os_distro"] != "debian" || got.ETag == im.ETag {
		t.Fatalf("properties under the current If-Match: %+v %v", got, err)
	}

	// VMs are recorded directly: this service runs none.
	tenant, err := svc.DB.TenantByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := svc.DB.DiskByName(ctx, tenant.ID, "os")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, group string }{{"a", "Prod"}, {"b", ""}, {"c", "prod"}} {
		v := store.VM{VM: hangar.VM{Name: c.name, Image: "web@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1",
			Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
			Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: disk.VirtualSize}}, ResourceGroup: c.group}, TenantID: tenant.ID, DiskIDs: []string{disk.ID}}
		if err := svc.DB.CreateVM(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	for group, want := range map[string]string{"PROD": "a c", "hangar": "b", "": "a b c", "dev": ""} {
		vms, err := alice.ListVMsFiltered(ctx, client.ListFilter{ResourceGroup: group})
		var names []string
		for _, v := range vms {
			names = append(names, v.Name+"@"+v.ResourceGroup)
		}
		wantNames := []string{}
		for _, n := range strings.Fields(want) {
			wantNames = append(wantNames, n+"@"+map[string]string{"a": "Prod", "b": "hangar", "c": "prod"}[n])
		}
		if err != nil || strings.Join(names, " ") != strings.Join(wantNames, " ") {
			t.Errorf("VMs in %q: %v %v, want %v", group, names, err, wantNames)
		}
	}
	if vm, err := alice.VM(ctx, "a"); err != nil || vm.ResourceGroup != "Prod" {
		t.Errorf("vm show a: group %q %v", vm.ResourceGroup, err)
	}
}
