package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/marketplaceordering/armmarketplaceordering"
)

// The ARM face of hangar serve, driven by the official Azure SDK for Go as a user's
// program would drive Azure: the server's URL is the cloud's Resource Manager
// endpoint, the subscription is the tenant's name and the bearer token its API key.

// armKey is the credential of a Hangar tenant on ARM: its API key as the token.
type armKey string

func (k armKey) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(k), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// armClients are the SDK clients of one subscription, as one credential.
type armClients struct {
	vms           *armcompute.VirtualMachinesClient
	images        *armcompute.ImagesClient
	disks         *armcompute.DisksClient
	galleries     *armcompute.GalleriesClient
	galleryImages *armcompute.GalleryImagesClient
	versions      *armcompute.GalleryImageVersionsClient
	vmImages      *armcompute.VirtualMachineImagesClient
	terms         *armmarketplaceordering.MarketplaceAgreementsClient
}

// armOptions points the SDK at the server as the Resource Manager of a private cloud.
func (s *server) armOptions() *arm.ClientOptions {
	base := s.url()
	return &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: base,
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Endpoint: base, Audience: base},
				},
			},
			InsecureAllowCredentialWithHTTP: true,
			Retry:                           policy.RetryOptions{RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
		},
		DisableRPRegistration: true,
	}
}

// arm returns the SDK clients of subscription, authenticated with key.
func (s *server) arm(subscription, key string) *armClients {
	s.t.Helper()
	cred, opts := armKey(key), s.armOptions()
	compute, err := armcompute.NewClientFactory(subscription, cred, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	terms, err := armmarketplaceordering.NewMarketplaceAgreementsClient(subscription, cred, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	return &armClients{
		vms:           compute.NewVirtualMachinesClient(),
		images:        compute.NewImagesClient(),
		disks:         compute.NewDisksClient(),
		galleries:     compute.NewGalleriesClient(),
		galleryImages: compute.NewGalleryImagesClient(),
		versions:      compute.NewGalleryImageVersionsClient(),
		vmImages:      compute.NewVirtualMachineImagesClient(),
		terms:         terms,
	}
}

// armID is the ARM ID of a resource of subscription alice's group rg1, under
// Microsoft.Compute (path as "galleries/g1/images/def1").
func armID(sub, rg, path string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/" + path
}

// begun is the start of a long-running operation: its poller, or why it did not start.
type begun[T any] struct {
	p   *runtime.Poller[T]
	err error
}

// begin takes the two results of an SDK Begin... call.
func begin[T any](p *runtime.Poller[T], err error) begun[T] { return begun[T]{p, err} }

// result polls the operation to its end, as an SDK user does, and returns its
// result or why it was refused or failed.
func (b begun[T]) result(ctx context.Context) (T, error) {
	if b.err != nil {
		var zero T
		return zero, b.err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return b.p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: 500 * time.Millisecond})
}

// wait is result, failing the test on an error.
func (b begun[T]) wait(t *testing.T) T {
	t.Helper()
	v, err := b.result(t.Context())
	if err != nil {
		t.Fatalf("long-running operation: %v", err)
	}
	return v
}

// armNames returns the Name of each element of a slice of pointers to SDK models.
func armNames(list any) []string {
	v := reflect.ValueOf(list)
	var out []string
	for i := 0; i < v.Len(); i++ {
		if n := v.Index(i).Elem().FieldByName("Name"); n.IsValid() && !n.IsNil() {
			out = append(out, n.Elem().String())
		}
	}
	return out
}

// listNames follows a list pager to its end and returns the names of all the
// resources it yielded and how many pages it took.
func listNames[R any](t *testing.T, pager *runtime.Pager[R]) (names []string, pages int) {
	t.Helper()
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatalf("list page %d: %v", pages+1, err)
		}
		pages++
		names = append(names, armNames(reflect.ValueOf(page).FieldByName("Value").Interface())...)
	}
	return names, pages
}

// firstPage returns the error of a list pager's first page.
func firstPage[R any](ctx context.Context, pager *runtime.Pager[R]) error {
	_, err := pager.NextPage(ctx)
	return err
}

// any4xx, as the status wantARMError wants, is any client error (400 to 499).
const any4xx = -1

func statusText(status int) string {
	if status == any4xx {
		return "4xx"
	}
	return fmt.Sprint(status)
}

// wantARMError checks that err is an ARM error answer with the HTTP status, an
// error code, and a body of ARM's shape: {"error":{"code":...,"message":...}}.
func wantARMError(t *testing.T, what string, err error, status int) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Errorf("%s: want an ARM error with HTTP %s, got %v", what, statusText(status), err)
		return nil
	}
	if re.StatusCode != status && !(status == any4xx && re.StatusCode >= 400 && re.StatusCode < 500) {
		t.Errorf("%s: HTTP %d (%s), want %s:\n%v", what, re.StatusCode, re.ErrorCode, statusText(status), err)
	}
	if re.ErrorCode == "" {
		t.Errorf("%s: HTTP %d without an error code:\n%v", what, re.StatusCode, err)
	}
	body, _ := runtime.Payload(re.RawResponse)
	var doc struct {
		Error *struct{ Code, Message string }
	}
	if json.Unmarshal(body, &doc) != nil || doc.Error == nil || doc.Error.Code == "" || doc.Error.Message == "" {
		t.Errorf("%s: the error body is not ARM's {\"error\":{\"code\",\"message\"}}: %q", what, body)
	}
	return re
}

// armVM is the VirtualMachine a user PUTs to create a small Linux VM from image,
// signed in as user with an SSH key.
func armVM(image *armcompute.ImageReference, computer, user, sshKey string) armcompute.VirtualMachine {
	return armcompute.VirtualMachine{
		Location: to.Ptr("local"),
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes("small"))},
			StorageProfile:  &armcompute.StorageProfile{ImageReference: image},
			OSProfile: &armcompute.OSProfile{
				ComputerName:  to.Ptr(computer),
				AdminUsername: to.Ptr(user),
				LinuxConfiguration: &armcompute.LinuxConfiguration{
					DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
						Path:    to.Ptr("/home/" + user + "/.ssh/authorized_keys"),
						KeyData: to.Ptr(sshKey),
					}}},
				},
			},
		},
	}
}

// vmStatusCodes returns the status codes of a VM's instance view.
func vmStatusCodes(vm armcompute.VirtualMachine) []string {
	var codes []string
	if vm.Properties != nil && vm.Properties.InstanceView != nil {
		for _, st := range vm.Properties.InstanceView.Statuses {
			if st.Code != nil {
				codes = append(codes, *st.Code)
			}
		}
	}
	return codes
}

// waitVMStatuses polls a VM's instance view until its statuses hold all of want;
// it fails the test with the serial log when the guest never gets there.
func (s *server) waitVMStatuses(c *armClients, key, rg, name string, want ...string) armcompute.VirtualMachine {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, err := c.vms.Get(s.t.Context(), rg, name, &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesInstanceView)})
		if err != nil {
			s.t.Fatalf("get VM %s with its instance view: %v", name, err)
		}
		codes := vmStatusCodes(got.VirtualMachine)
		missing := false
		for _, w := range want {
			missing = missing || !containsFold(codes, w)
		}
		if !missing {
			return got.VirtualMachine
		}
		if time.Now().After(deadline) {
			log, _, _ := s.hangar(key, "vm", "serial-log", name)
			s.t.Fatalf("VM %s has statuses %v, want %v; serial log:\n%s", name, codes, want, log)
		}
		time.Sleep(time.Second)
	}
}

// runShell runs a shell script in a VM with the RunShellScript command and returns
// the message of its first status, as Azure gives it ("Enable succeeded: [stdout] ...").
func runShell(t *testing.T, c *armClients, rg, vm string, script ...string) string {
	t.Helper()
	res := begin(c.vms.BeginRunCommand(t.Context(), rg, vm, armcompute.RunCommandInput{
		CommandID: to.Ptr("RunShellScript"),
		Script:    to.SliceOfPtrs(script...),
	}, nil)).wait(t)
	if len(res.Value) == 0 || res.Value[0].Message == nil {
		t.Fatalf("run command on %s %q: no status in the result: %+v", vm, script, res)
	}
	t.Logf("run command on %s %q: %s", vm, script, *res.Value[0].Message)
	return *res.Value[0].Message
}

// sortedNames returns the names of SDK models, sorted and joined by spaces.
func sortedNames(list any) string {
	names := armNames(list)
	slices.Sort(names)
	return strings.Join(names, " ")
}

// deref returns what p points to, or T's zero value for nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// jsonOf shows an SDK model in a failure message.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// containsFold reports whether list holds s, compared case-insensitively.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// TestARMMarketplace browses the marketplace with VirtualMachineImagesClient and
// accepts a plan's terms with the marketplace ordering client; a VM from a plan's
// image is refused until the terms are accepted.
func TestARMMarketplace(t *testing.T) {
	s := startServer(t)
	contoso := s.tenant("contoso", "--role", "publisher")
	alice, carol := s.tenant("alice"), s.tenant("carol")
	s.uploadDisk(contoso, "os", 6)
	osImage(s, contoso, "linux", "os", "--version", "1.0.0")
	osImage(s, contoso, "linux", "os", "--version", "1.1.0")
	osImage(s, contoso, "sql", "os", "--eula", "https://contoso.example/sql-eula")
	osImage(s, contoso, "secret", "os")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "linux@1.0.0")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.1.0", "--image", "linux@1.1.0")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:SQL:enterprise:1.0.0", "--image", "sql", "--plan", "enterprise")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Secret:gold:1.0.0", "--image", "secret", "--entitlement", "msdn")

	ctx := t.Context()
	c := s.arm("alice", alice)
	pubs, err := c.vmImages.ListPublishers(ctx, "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := armNames(pubs.VirtualMachineImageResourceArray); strings.Join(got, " ") != "Contoso" {
		t.Fatalf("publishers in local: %v", got)
	}
	if loc := pubs.VirtualMachineImageResourceArray[0].Location; loc == nil || *loc != "local" {
		t.Errorf("publisher's location: %v, want local", loc)
	}
	// alice lacks msdn: the Secret offer is not listed.
	offers, err := c.vmImages.ListOffers(ctx, "local", "Contoso", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedNames(offers.VirtualMachineImageResourceArray); got != "Linux SQL" {
		t.Fatalf("Contoso's offers: %s", got)
	}
	skus, err := c.vmImages.ListSKUs(ctx, "local", "contoso", "LINUX", nil) // names match in any case, as Azure's do
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedNames(skus.VirtualMachineImageResourceArray); got != "base" {
		t.Fatalf("skus of Contoso:Linux: %s", got)
	}
	versions, err := c.vmImages.List(ctx, "local", "Contoso", "Linux", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedNames(versions.VirtualMachineImageResourceArray); got != "1.0.0 1.1.0" {
		t.Fatalf("versions of Contoso:Linux:base: %s", got)
	}
	plain, err := c.vmImages.Get(ctx, "local", "Contoso", "Linux", "base", "1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Name == nil || *plain.Name != "1.0.0" || plain.Properties == nil || plain.Properties.Plan != nil {
		t.Fatalf("Contoso:Linux:base:1.0.0 (no plan): %s", jsonOf(plain.VirtualMachineImage))
	}
	sql, err := c.vmImages.Get(ctx, "local", "Contoso", "SQL", "enterprise", "1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := sql.Properties; p == nil || p.Plan == nil || deref(p.Plan.Name) != "enterprise" ||
		!strings.EqualFold(deref(p.Plan.Product), "SQL") || !strings.EqualFold(deref(p.Plan.Publisher), "Contoso") {
		t.Fatalf("Contoso:SQL:enterprise:1.0.0 must show its plan: %s", jsonOf(sql.VirtualMachineImage))
	}
	_, hiddenErr := c.vmImages.Get(ctx, "local", "Contoso", "Secret", "gold", "1.0.0", nil)
	hidden := wantARMError(t, "get an offer alice is not entitled to", hiddenErr, 404)
	_, absentErr := c.vmImages.Get(ctx, "local", "Contoso", "NoSuch", "gold", "1.0.0", nil)
	absent := wantARMError(t, "get an offer that does not exist", absentErr, 404)
	if hidden != nil && absent != nil && hidden.ErrorCode != absent.ErrorCode {
		t.Errorf("an offer alice is not entitled to answers %s, one that does not exist %s", hidden.ErrorCode, absent.ErrorCode)
	}

	// A VM from the plan's image is refused until alice accepts its terms.
	plan := &armcompute.Plan{Name: to.Ptr("enterprise"), Product: to.Ptr("SQL"), Publisher: to.Ptr("Contoso")}
	sqlVM := armVM(&armcompute.ImageReference{Publisher: to.Ptr("Contoso"), Offer: to.Ptr("SQL"), SKU: to.Ptr("enterprise"), Version: to.Ptr("latest")},
		"sql01", "azureuser", newSSHKey(t))
	sqlVM.Plan = plan
	_, err = begin(c.vms.BeginCreateOrUpdate(ctx, "rg1", "sqlvm", sqlVM, nil)).result(ctx)
	if re := wantARMError(t, "create a VM before accepting the plan's terms", err, any4xx); re != nil && !strings.Contains(strings.ToLower(err.Error()), "terms") {
		t.Errorf("the refusal does not say the terms are not accepted: %v", err)
	}
	if _, err := c.vms.Get(ctx, "rg1", "sqlvm", nil); err == nil {
		t.Error("a refused VM create left a VM")
	}

	terms, err := c.terms.Get(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "Contoso", "SQL", "enterprise", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := terms.Properties; p == nil || deref(p.Accepted) || deref(p.Plan) != "enterprise" ||
		!strings.EqualFold(deref(p.Product), "SQL") || !strings.EqualFold(deref(p.Publisher), "Contoso") ||
		deref(p.LicenseTextLink) != "https://contoso.example/sql-eula" {
		t.Fatalf("terms before accepting: %s", jsonOf(terms.AgreementTerms))
	}
	// What az vm image terms accept does: get the terms, set accepted, put them back.
	accept := terms.AgreementTerms
	accept.Properties.Accepted = to.Ptr(true)
	created, err := c.terms.Create(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "Contoso", "SQL", "enterprise", accept, nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.Properties == nil || !deref(created.Properties.Accepted) {
		t.Fatalf("terms after create: %s", jsonOf(created.AgreementTerms))
	}
	terms, err = c.terms.Get(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "contoso", "sql", "enterprise", nil)
	if err != nil || terms.Properties == nil || !deref(terms.Properties.Accepted) {
		t.Fatalf("terms after accepting: %v %s", err, jsonOf(terms.AgreementTerms))
	}
	// Acceptance is the subscription's: carol has not accepted.
	other, err := s.arm("carol", carol).terms.Get(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "Contoso", "SQL", "enterprise", nil)
	if err != nil || other.Properties == nil || deref(other.Properties.Accepted) {
		t.Fatalf("carol's terms after alice accepted: %v %s", err, jsonOf(other.AgreementTerms))
	}
	_, err = c.terms.Get(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "Contoso", "Linux", "base", nil)
	wantARMError(t, "terms of an offer without a plan", err, any4xx)

	// Accepted, the create goes on (the disk is no OS: the VM is deleted before it could boot).
	t.Run("CreateAfterAccepting", func(t *testing.T) {
		needVMTools(t)
		if _, err := c.vms.BeginCreateOrUpdate(ctx, "rg1", "sqlvm", sqlVM, nil); err != nil {
			t.Fatalf("create a VM from the plan's image after accepting its terms: %v", err)
		}
		got, err := c.vms.Get(ctx, "rg1", "sqlvm", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Plan == nil || deref(got.Plan.Name) != "enterprise" {
			t.Errorf("the VM does not show its plan: %s", jsonOf(got.VirtualMachine))
		}
		begin(c.vms.BeginDelete(ctx, "rg1", "sqlvm", nil)).wait(t)
		_, err = c.vms.Get(ctx, "rg1", "sqlvm", nil)
		wantARMError(t, "get a deleted VM", err, 404)
	})
}

// TestARMGalleryAndVMs is an Azure user's whole path on Hangar: an uploaded disk
// becomes a Compute Gallery image version replicated to two regions, a VM boots
// from it and runs a command, is deprovisioned, stopped, generalized and captured
// as a managed image, and a second VM boots from that image.
func TestARMGalleryAndVMs(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t, "--region-store", "west=file://"+t.TempDir())
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	ctx := t.Context()
	c := s.arm("alice", alice)

	// The uploaded disk is a managed disk of any resource group.
	info, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := c.disks.Get(ctx, "rg1", "os", nil)
	if err != nil {
		t.Fatal(err)
	}
	if deref(disk.Name) != "os" || disk.Properties == nil || deref(disk.Properties.DiskSizeBytes) != info.Size() {
		t.Fatalf("disk os (%d bytes): %s", info.Size(), jsonOf(disk.Disk))
	}
	if names, _ := listNames(t, c.disks.NewListPager(nil)); strings.Join(names, " ") != "os" {
		t.Fatalf("disks of the subscription: %v", names)
	}
	if names, _ := listNames(t, c.disks.NewListByResourceGroupPager("rg1", nil)); strings.Join(names, " ") != "os" {
		t.Fatalf("disks of rg1: %v", names)
	}

	// Gallery, image definition, and a version replicated to local and west.
	begin(c.galleries.BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil)).wait(t)
	def := begin(c.galleryImages.BeginCreateOrUpdate(ctx, "rg1", "g1", "def1", armcompute.GalleryImage{
		Location: to.Ptr("local"),
		Properties: &armcompute.GalleryImageProperties{
			OSType:           to.Ptr(armcompute.OperatingSystemTypesLinux),
			OSState:          to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV1),
			Identifier:       &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("Alice"), Offer: to.Ptr("Test"), SKU: to.Ptr("gen1")},
		},
	}, nil)).wait(t)
	if def.Properties == nil || deref(def.Properties.ProvisioningState) != armcompute.GalleryProvisioningStateSucceeded {
		t.Fatalf("image definition def1: %s", jsonOf(def.GalleryImage))
	}
	version := begin(c.versions.BeginCreateOrUpdate(ctx, "rg1", "g1", "def1", "1.0.0", armcompute.GalleryImageVersion{
		Location: to.Ptr("local"),
		Properties: &armcompute.GalleryImageVersionProperties{
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
				OSDiskImage: &armcompute.GalleryOSDiskImage{Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(armID("alice", "rg1", "disks/os"))}},
			},
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{
				TargetRegions: []*armcompute.TargetRegion{
					{Name: to.Ptr("local"), RegionalReplicaCount: to.Ptr[int32](1)},
					{Name: to.Ptr("west"), RegionalReplicaCount: to.Ptr[int32](1)},
				},
				ExcludeFromLatest: to.Ptr(false),
			},
		},
	}, nil)).wait(t)
	if version.Properties == nil || deref(version.Properties.ProvisioningState) != armcompute.GalleryProvisioningStateSucceeded {
		t.Fatalf("image version 1.0.0 when its creation completed: %s", jsonOf(version.GalleryImageVersion))
	}
	withStatus, err := c.versions.Get(ctx, "rg1", "g1", "def1", "1.0.0",
		&armcompute.GalleryImageVersionsClientGetOptions{Expand: to.Ptr(armcompute.ReplicationStatusTypesReplicationStatus)})
	if err != nil {
		t.Fatal(err)
	}
	checkReplicated(t, withStatus.GalleryImageVersion, "local", "west")

	if names, _ := listNames(t, c.galleries.NewListByResourceGroupPager("rg1", nil)); strings.Join(names, " ") != "g1" {
		t.Fatalf("galleries of rg1: %v", names)
	}
	if names, _ := listNames(t, c.galleries.NewListPager(nil)); strings.Join(names, " ") != "g1" {
		t.Fatalf("galleries of the subscription: %v", names)
	}
	if names, _ := listNames(t, c.galleryImages.NewListByGalleryPager("rg1", "g1", nil)); strings.Join(names, " ") != "def1" {
		t.Fatalf("image definitions of g1: %v", names)
	}
	if names, _ := listNames(t, c.versions.NewListByGalleryImagePager("rg1", "g1", "def1", nil)); strings.Join(names, " ") != "1.0.0" {
		t.Fatalf("versions of def1: %v", names)
	}
	checkResourceGroups(t, c)

	// vm1 boots from the definition's latest version and runs a command.
	galleryImage := armID("alice", "rg1", "galleries/g1/images/def1")
	begin(c.vms.BeginCreateOrUpdate(ctx, "rg1", "vm1", armVM(&armcompute.ImageReference{ID: to.Ptr(galleryImage)}, "web01", "azureuser", newSSHKey(t)), nil)).wait(t)
	vm1 := s.waitVMStatuses(c, alice, "rg1", "vm1", "ProvisioningState/succeeded", "PowerState/running")
	if !strings.HasSuffix(strings.ToLower(deref(vm1.ID)), strings.ToLower("/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1")) {
		t.Fatalf("vm1's id: %q", deref(vm1.ID))
	}
	if names, _ := listNames(t, c.vms.NewListPager("rg1", nil)); strings.Join(names, " ") != "vm1" {
		t.Fatalf("VMs of rg1: %v", names)
	}
	out := runShell(t, c, "rg1", "vm1", "echo hello-$((6*7))", "hostname")
	if !strings.Contains(out, "[stdout]") || !strings.Contains(out, "hello-42") || !strings.Contains(out, "web01") {
		t.Fatalf("run command on vm1: %q, want [stdout] with hello-42 and the computer name web01", out)
	}
	// The guest's IMDS names the VM as ARM does: its resource group, its vmId, and a
	// subscription ID that ARM takes (a script in the guest can call ARM with it).
	imds := `for f in resourceGroupName vmId subscriptionId; do echo "$f=$(wget -q -O - --header 'Metadata: true' "http://169.254.169.254/metadata/instance/compute/$f?api-version=2021-02-01&format=text")"; done`
	out = runShell(t, c, "rg1", "vm1", imds)
	if !strings.Contains(out, "resourceGroupName=rg1\n") || !strings.Contains(out, "vmId="+deref(vm1.Properties.VMID)+"\n") {
		t.Fatalf("IMDS in vm1: %q; want rg1 and vmId %s", out, deref(vm1.Properties.VMID))
	}
	_, sub, _ := strings.Cut(out, "subscriptionId=")
	sub, _, _ = strings.Cut(sub, "\n")
	if _, err := s.arm(sub, alice).vms.Get(ctx, "rg1", "vm1", nil); err != nil {
		t.Fatalf("ARM with the subscription ID IMDS gives (%q): %v", sub, err)
	}

	// Deprovision in the guest (waagent -deprovision+user on Azure), stop, generalize, capture.
	runShell(t, c, "rg1", "vm1", "hangar-agent deprovision+user")
	begin(c.vms.BeginPowerOff(ctx, "rg1", "vm1", nil)).wait(t)
	s.waitVMStatuses(c, alice, "rg1", "vm1", "PowerState/stopped")
	capture := armcompute.Image{
		Location:   to.Ptr("local"),
		Properties: &armcompute.ImageProperties{SourceVirtualMachine: &armcompute.SubResource{ID: vm1.ID}},
	}
	early, err := begin(c.images.BeginCreateOrUpdate(ctx, "rg1", "early", capture, nil)).result(ctx)
	if err == nil {
		t.Errorf("vm1 was captured before it was generalized: %s", jsonOf(early.Image))
	} else {
		wantARMError(t, "capture vm1 before it is generalized", err, any4xx)
	}
	if _, err := c.vms.Generalize(ctx, "rg1", "vm1", nil); err != nil {
		t.Fatal(err)
	}
	if view, err := c.vms.InstanceView(ctx, "rg1", "vm1", nil); err != nil {
		t.Fatal(err)
	} else if codes := vmStatusCodes(armcompute.VirtualMachine{Properties: &armcompute.VirtualMachineProperties{InstanceView: &view.VirtualMachineInstanceView}}); !containsFold(codes, "OSState/generalized") {
		t.Errorf("vm1's instance view after Generalize: %v, want OSState/generalized among them", codes)
	}
	_, err = begin(c.vms.BeginStart(ctx, "rg1", "vm1", nil)).result(ctx)
	wantARMError(t, "start generalized vm1", err, any4xx)
	begin(c.images.BeginCreateOrUpdate(ctx, "rg1", "captured", capture, nil)).wait(t)
	captured, err := c.images.Get(ctx, "rg1", "captured", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := captured.Properties; p == nil || p.StorageProfile == nil || p.StorageProfile.OSDisk == nil ||
		deref(p.StorageProfile.OSDisk.OSState) != armcompute.OperatingSystemStateTypesGeneralized ||
		deref(p.StorageProfile.OSDisk.OSType) != armcompute.OperatingSystemTypesLinux {
		t.Fatalf("captured image: %s", jsonOf(captured.Image))
	}
	if names, _ := listNames(t, c.images.NewListByResourceGroupPager("rg1", nil)); !slices.Contains(names, "captured") {
		t.Fatalf("images of rg1: %v", names)
	}

	// vm2 boots from the managed image with its own identity; the first user is gone.
	begin(c.vms.BeginCreateOrUpdate(ctx, "rg1", "vm2", armVM(&armcompute.ImageReference{ID: captured.ID}, "web02", "second", newSSHKey(t)), nil)).wait(t)
	s.waitVMStatuses(c, alice, "rg1", "vm2", "ProvisioningState/succeeded", "PowerState/running")
	out = runShell(t, c, "rg1", "vm2", "hostname", "id -un second", "grep -q ^azureuser: /etc/passwd || echo first-user-gone")
	for _, want := range []string{"web02", "second", "first-user-gone"} {
		if !strings.Contains(out, want) {
			t.Fatalf("run command on vm2: %q, want %q in it", out, want)
		}
	}

	begin(c.vms.BeginDelete(ctx, "rg1", "vm2", nil)).wait(t)
	begin(c.vms.BeginDelete(ctx, "rg1", "vm1", nil)).wait(t)
	_, err = c.vms.Get(ctx, "rg1", "vm1", nil)
	wantARMError(t, "get deleted vm1", err, 404)
	if names, _ := listNames(t, c.vms.NewListAllPager(nil)); len(names) != 0 {
		t.Fatalf("VMs left after deleting both: %v", names)
	}
	if procs := s.qemuProcesses(); len(procs) != 0 {
		t.Fatalf("QEMU left after deleting both VMs: %v", procs)
	}
}

// checkReplicated checks a gallery image version's replication status (as Get
// with $expand=ReplicationStatus gives it): completed in each of regions.
func checkReplicated(t *testing.T, v armcompute.GalleryImageVersion, regions ...string) {
	t.Helper()
	if v.Properties == nil || v.Properties.ReplicationStatus == nil {
		t.Fatalf("no replication status: %s", jsonOf(v))
	}
	rs := v.Properties.ReplicationStatus
	if deref(rs.AggregatedState) != armcompute.AggregatedReplicationStateCompleted {
		t.Errorf("aggregated replication state: %s", jsonOf(rs))
	}
	var got []string
	for _, r := range rs.Summary {
		if deref(r.State) != armcompute.ReplicationStateCompleted || deref(r.Progress) != 100 {
			t.Errorf("replication to %s: %s", deref(r.Region), jsonOf(r))
		}
		got = append(got, deref(r.Region))
	}
	slices.Sort(got)
	if !slices.Equal(got, regions) {
		t.Errorf("replication status regions %v, want %v", got, regions)
	}
}

// checkResourceGroups: names are case-insensitive and a resource is in the group it
// was created in, so the same name may exist in two groups.
func checkResourceGroups(t *testing.T, c *armClients) {
	t.Helper()
	ctx := t.Context()
	g, err := c.galleries.Get(ctx, "RG1", "G1", nil)
	if err != nil || deref(g.Name) != "g1" {
		t.Fatalf("get G1 in RG1 (names are case-insensitive): %v %s", err, jsonOf(g.Gallery))
	}
	_, err = c.galleries.Get(ctx, "rg2", "g1", nil)
	wantARMError(t, "get g1 in the wrong resource group", err, 404)
	begin(c.galleries.BeginCreateOrUpdate(ctx, "rg2", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil)).wait(t)
	if names, _ := listNames(t, c.galleries.NewListByResourceGroupPager("rg2", nil)); strings.Join(names, " ") != "g1" {
		t.Fatalf("galleries of rg2: %v", names)
	}
	if names, _ := listNames(t, c.galleries.NewListPager(nil)); strings.Join(names, " ") != "g1 g1" {
		t.Fatalf("galleries of the subscription with g1 in rg1 and rg2: %v", names)
	}
	begin(c.galleries.BeginDelete(ctx, "rg2", "g1", nil)).wait(t)
	_, err = c.galleries.Get(ctx, "rg2", "g1", nil)
	wantARMError(t, "get the deleted g1 of rg2", err, 404)
	if _, err := c.galleries.Get(ctx, "rg1", "g1", nil); err != nil {
		t.Fatalf("deleting g1 of rg2 touched g1 of rg1: %v", err)
	}
}

// TestARMIsolation: another tenant's key on alice's subscription finds nothing of
// hers, and changes nothing, whatever it asks: every call answers 404 as for a
// subscription that does not exist; a key that is no key answers 401.
func TestARMIsolation(t *testing.T) {
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	contoso := s.tenant("contoso", "--role", "publisher")
	s.uploadDisk(contoso, "pub", 3)
	osImage(s, contoso, "linux", "pub")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Linux:base:1.0.0", "--image", "linux", "--plan", "base")
	s.uploadDisk(alice, "os", 4)
	ctx := t.Context()
	mine := s.arm("alice", alice)
	begin(mine.galleries.BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil)).wait(t)

	var tenant struct{ ID string }
	s.json(s.adminKey(), &tenant, "tenant", "show", "alice")
	if tenant.ID == "" {
		t.Fatal("tenant show alice gave no id")
	}
	// The tenant's ID names the same subscription as its name.
	if g, err := s.arm(tenant.ID, alice).galleries.Get(ctx, "rg1", "g1", nil); err != nil || deref(g.Name) != "g1" {
		t.Fatalf("alice's gallery through her subscription's ID %s: %v", tenant.ID, err)
	}

	if _, err := mine.disks.Get(ctx, "rg1", "os", nil); err != nil {
		t.Fatalf("alice's own disk: %v", err)
	}

	// Bob's key on alice's subscription answers as on one that does not exist.
	nowhere := isolationCalls(ctx, s.arm("nosuchsubscription", bob))
	for _, sub := range []string{"alice", tenant.ID} {
		for what, err := range isolationCalls(ctx, s.arm(sub, bob)) {
			re := wantARMError(t, "bob's key on subscription "+sub+": "+what, err, 404)
			var other *azcore.ResponseError
			if re != nil && errors.As(nowhere[what], &other) && (other.StatusCode != re.StatusCode || other.ErrorCode != re.ErrorCode) {
				t.Errorf("%s: bob's key on subscription %s answers %d %s, on one that does not exist %d %s",
					what, sub, re.StatusCode, re.ErrorCode, other.StatusCode, other.ErrorCode)
			}
		}
	}
	if names, _ := listNames(t, mine.galleries.NewListPager(nil)); strings.Join(names, " ") != "g1" {
		t.Fatalf("alice's galleries after bob's calls: %v", names)
	}

	// Bob's own subscription works and holds nothing of alice's.
	his := s.arm("bob", bob)
	if names, _ := listNames(t, his.galleries.NewListPager(nil)); len(names) != 0 {
		t.Fatalf("bob's galleries: %v", names)
	}
	_, err := his.disks.Get(ctx, "rg1", "os", nil)
	wantARMError(t, "bob gets a disk named as alice's in his own subscription", err, 404)
	if pubs, err := his.vmImages.ListPublishers(ctx, "local", nil); err != nil || sortedNames(pubs.VirtualMachineImageResourceArray) != "Contoso" {
		t.Fatalf("bob's marketplace publishers: %v", err)
	}

	for _, key := range []string{"hgr_not-a-key", "garbage"} {
		_, err := s.arm("alice", key).galleries.Get(ctx, "rg1", "g1", nil)
		wantARMError(t, "a key that is no key ("+key+")", err, 401)
	}
}

// isolationCalls makes, with c, a call of each kind on resources alice has (or might
// have) in group rg1, reads, lists and writes, and returns each one's error.
func isolationCalls(ctx context.Context, c *armClients) map[string]error {
	calls := map[string]error{}
	_, calls["get VM"] = c.vms.Get(ctx, "rg1", "vm1", nil)
	calls["list VMs of rg1"] = firstPage(ctx, c.vms.NewListPager("rg1", nil))
	calls["list all VMs"] = firstPage(ctx, c.vms.NewListAllPager(nil))
	_, calls["get gallery"] = c.galleries.Get(ctx, "rg1", "g1", nil)
	calls["list galleries"] = firstPage(ctx, c.galleries.NewListPager(nil))
	calls["list images"] = firstPage(ctx, c.images.NewListPager(nil))
	_, calls["get disk"] = c.disks.Get(ctx, "rg1", "os", nil)
	calls["list disks"] = firstPage(ctx, c.disks.NewListPager(nil))
	_, calls["list publishers"] = c.vmImages.ListPublishers(ctx, "local", nil)
	_, calls["get marketplace terms"] = c.terms.Get(ctx, armmarketplaceordering.OfferTypeVirtualmachine, "Contoso", "Linux", "base", nil)
	_, calls["put gallery"] = begin(c.galleries.BeginCreateOrUpdate(ctx, "rg1", "bobs", armcompute.Gallery{Location: to.Ptr("local")}, nil)).result(ctx)
	_, calls["delete gallery"] = begin(c.galleries.BeginDelete(ctx, "rg1", "g1", nil)).result(ctx)
	return calls
}

// TestARMPaging creates 1,001 galleries in one group: listing them takes more than
// one page (ARM's pages end with a nextLink), and yields each once.
func TestARMPaging(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	c := s.arm("alice", alice)
	const n = 1001
	names := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				if failed.Load() {
					continue
				}
				_, err := begin(c.galleries.BeginCreateOrUpdate(t.Context(), "rg1", name, armcompute.Gallery{Location: to.Ptr("local")}, nil)).result(t.Context())
				if err != nil && !failed.Swap(true) {
					t.Errorf("create gallery %s: %v", name, err)
				}
			}
		}()
	}
	for i := range n {
		names <- fmt.Sprintf("g%04d", i)
	}
	close(names)
	wg.Wait()
	if failed.Load() {
		t.FailNow()
	}
	for what, pager := range map[string]func() ([]string, int){
		"list by resource group": func() ([]string, int) { return listNames(t, c.galleries.NewListByResourceGroupPager("rg1", nil)) },
		"list":                   func() ([]string, int) { return listNames(t, c.galleries.NewListPager(nil)) },
	} {
		got, pages := pager()
		distinct := map[string]bool{}
		for _, name := range got {
			distinct[name] = true
		}
		if len(got) != n || len(distinct) != n || pages < 2 {
			t.Errorf("%s: %d galleries (%d distinct) over %d pages, want %d distinct over more than one page", what, len(got), len(distinct), pages, n)
		}
	}
}
