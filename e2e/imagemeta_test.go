package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestImageMetadata: an image made with properties and Azure's definition fields
// (recommended vCPUs and memory, features, disallowed disk types) shows them; its
// properties change under If-Match; a VM that breaks them is refused before any
// VM exists (nothing boots); and -g records the image in a resource group that ARM
// shows it in.
func TestImageMetadata(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "os", 1)
	exitOf := func(err error) int {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		return 0
	}

	// TrustedLaunch needs a V2 (UEFI) image.
	_, errOut, err := s.hangar(alice, "image", "create", "-n", "v1", "--type", "os", "--os-type", "linux", "--os-state", "generalized",
		"--os-disk", "os", "--features", "SecurityType=TrustedLaunch")
	if err == nil || !strings.Contains(errOut, "needs Hyper-V generation V2") {
		t.Fatalf("TrustedLaunch on V1: %v %s", err, errOut)
	}

	osImage(s, alice, "secure", "os", "-g", "Prod", "--hyper-v-generation", "v2",
		"--features", "SecurityType=TrustedLaunch IsAcceleratedNetworkSupported=true",
		"--minimum-cpu-core", "2", "--minimum-memory", "2", "--disallowed-disk-types", "Standard_LRS",
		"--properties", "os_distro=ubuntu", "--properties", "os_version=24.04")
	osImage(s, alice, "plain", "os")
	var im struct {
		ETag          string
		ResourceGroup string
		Recommended   struct {
			VCPUs  struct{ Min, Max int }
			Memory struct{ Min, Max int }
		}
		Features   map[string]string
		Disallowed struct{ DiskTypes []string }
		Versions   []struct{ Properties map[string]string }
	}
	s.json(alice, &im, "image", "show", "secure")
	if im.ResourceGroup != "Prod" || im.Recommended.VCPUs.Min != 2 || im.Recommended.Memory.Min != 2 ||
		im.Features["SecurityType"] != "TrustedLaunch" || im.Features["IsAcceleratedNetworkSupported"] != "true" ||
		strings.Join(im.Disallowed.DiskTypes, ",") != "Standard_LRS" || len(im.Versions) != 1 ||
		im.Versions[0].Properties["os_distro"] != "ubuntu" || im.Versions[0].Properties["os_version"] != "24.04" {
		t.Fatalf("image show secure: %+v", im)
	}
	table := s.ok(alice, "image", "show", "secure")
	for _, want := range []string{"Resource group:", "Prod", "Recommended vCPUs:", "at least 2", "Recommended memory:", "at least 2 GiB",
		"Features:", "IsAcceleratedNetworkSupported=true SecurityType=TrustedLaunch", "Disallowed disk types:", "Standard_LRS",
		"os_distro=ubuntu os_version=24.04"} {
		if !strings.Contains(table, want) {
			t.Errorf("image show secure does not say %q:\n%s", want, table)
		}
	}

	// The definition is fixed: a new version repeats it or leaves it out.
	_, errOut, err = s.hangar(alice, "image", "create", "-n", "secure", "--os-disk", "os", "--version", "1.1.0", "--minimum-cpu-core", "1")
	if exitOf(err) != 5 || !strings.Contains(errOut, "recommended, features and disallowed") {
		t.Errorf("a version with another recommended range: exit %d, %s", exitOf(err), errOut)
	}
	s.ok(alice, "image", "create", "-n", "secure", "--os-disk", "os", "--version", "1.1.0", "--properties", "os_version=24.10")

	// Properties change under If-Match.
	_, errOut, err = s.hangar(alice, "image", "set-properties", "secure", "1.0.0", "os_distro=debian", "--if-match", im.ETag)
	if exitOf(err) != 5 {
		t.Errorf("set-properties with a stale ETag: exit %d, %s", exitOf(err), errOut)
	}
	s.json(alice, &im, "image", "show", "secure")
	s.ok(alice, "image", "set-properties", "secure", "1.0.0", "os_distro=debian", "--if-match", im.ETag)
	im.Versions = nil // decoding into a map adds to it
	s.json(alice, &im, "image", "show", "secure")
	if im.Versions[0].Properties["os_distro"] != "debian" || im.Versions[0].Properties["os_version"] != "" || im.Versions[1].Properties["os_version"] != "24.10" {
		t.Errorf("properties after set-properties: %+v", im.Versions)
	}

	// VMs that break the definition are refused before they exist.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--size", "small"}, []string{"outside the image's recommended at least 2 vCPUs and at least 2 GiB of memory", "sizes that fit: large"}},
		{[]string{"--size", "medium"}, []string{"sizes that fit: large"}},
		{[]string{"--size", "large", "--storage-sku", "Standard_LRS"}, []string{"disallows disk type Standard_LRS", "--storage-sku"}},
	} {
		args := append([]string{"vm", "create", "-n", "vm1", "--image", "secure", "-g", "Prod", "--admin-username", "ops", "--admin-password", "Passw0rd!x", "--no-wait"}, tc.args...)
		_, errOut, err := s.hangar(alice, args...)
		if exitOf(err) != 1 {
			t.Errorf("%v: exit %d, want 1 (refused by the server as invalid for the image)", tc.args, exitOf(err))
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: %q does not say %q", tc.args, errOut, w)
			}
		}
	}
	var vms []struct{ Name string }
	s.json(alice, &vms, "vm", "list")
	if len(vms) != 0 {
		t.Fatalf("refused creates left VMs: %+v", vms)
	}

	// -g: the image is in Prod for ARM (any case) and for image list -g.
	r := s.api(alice, "GET", "/subscriptions/alice/resourceGroups/prod/providers/Microsoft.Compute/images?api-version=2024-07-01", nil)
	if r.status != 200 || !strings.Contains(r.body, `"name":"secure"`) || strings.Contains(r.body, `"name":"plain"`) ||
		!strings.Contains(r.body, "/resourceGroups/Prod/providers/Microsoft.Compute/images/secure") {
		t.Errorf("ARM images of group prod: %d %s", r.status, r.body)
	}
	r = s.api(alice, "GET", "/subscriptions/alice/resourceGroups/hangar/providers/Microsoft.Compute/images/secure?api-version=2024-07-01", nil)
	if r.status != 404 {
		t.Errorf("secure is also in group hangar: %d %s", r.status, r.body)
	}
	for group, want := range map[string]string{"prod": "secure", "hangar": "plain", "dev": ""} {
		var list []struct{ Name string }
		s.json(alice, &list, "image", "list", "-g", group)
		var names []string
		for _, x := range list {
			names = append(names, x.Name)
		}
		if strings.Join(names, " ") != want {
			t.Errorf("image list -g %s: %v, want %q", group, names, want)
		}
	}

	// A VM made by the CLI with -g is in that group for ARM, as one made through ARM.
	// (The disk is no OS: the VM is deleted before it could do anything.)
	t.Run("VM", func(t *testing.T) {
		needVMTools(t)
		s.ok(alice, "vm", "create", "-n", "app1", "--image", "plain", "-g", "Prod", "--admin-username", "ops", "--admin-password", "Passw0rd!x", "--no-wait")
		defer s.ok(alice, "vm", "delete", "app1", "--yes")
		r := s.api(alice, "GET", "/subscriptions/alice/resourceGroups/PROD/providers/Microsoft.Compute/virtualMachines?api-version=2024-07-01", nil)
		if r.status != 200 || !strings.Contains(r.body, "/resourceGroups/Prod/providers/Microsoft.Compute/virtualMachines/app1") {
			t.Errorf("ARM VMs of group prod: %d %s", r.status, r.body)
		}
		var vms []struct{ Name, ResourceGroup, StorageSku string }
		s.json(alice, &vms, "vm", "list", "-g", "prod")
		if len(vms) != 1 || vms[0].Name != "app1" || vms[0].ResourceGroup != "Prod" || vms[0].StorageSku != "Premium_LRS" {
			t.Errorf("vm list -g prod: %+v", vms)
		}
		s.json(alice, &vms, "vm", "list", "-g", "hangar")
		if len(vms) != 0 {
			t.Errorf("vm list -g hangar: %+v", vms)
		}
	})
}
