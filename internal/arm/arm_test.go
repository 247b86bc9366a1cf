package arm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azarm "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// These tests drive the ARM API with the Azure SDK for Go against the real service
// layer (SQLite, a chunk directory, a second region), with no VM: the VM
// operations are shown end to end in e2e/arm_test.go, where guests boot.

type stack struct {
	url    string
	admin  *client.Client
	db     *store.DB
	h      *Handler
	tenant map[string]hangar.Tenant
	keys   map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	svc := apitest.New(t, "west")
	h := New(svc.API, svc.DB, apitest.PrimaryRegion, svc.Log)
	srv := httptest.NewServer(Mount(svc.API, h))
	t.Cleanup(srv.Close)
	s := &stack{url: srv.URL, admin: client.New(srv.URL, svc.AdminKey), db: svc.DB, h: h,
		tenant: map[string]hangar.Tenant{}, keys: map[string]string{}}
	for _, name := range []string{"alice", "bob"} {
		created, err := s.admin.CreateTenant(t.Context(), hangar.TenantCreate{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		s.tenant[name], s.keys[name] = created.Tenant, created.Key
	}
	return s
}

// hangarClient is the tenant's client of Hangar's own API.
func (s *stack) hangarClient(tenant string) *client.Client { return client.New(s.url, s.keys[tenant]) }

// upload stores a small disk for the tenant.
func (s *stack) upload(t *testing.T, tenant, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".raw")
	data := make([]byte, 8<<20)
	copy(data[4096:], "a disk named "+name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.hangarClient(tenant).UploadDisk(t.Context(), path, name, client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
}

type keyCredential string

func (k keyCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(k), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// factory is the SDK's client factory for subscription sub with key.
func (s *stack) factory(t *testing.T, sub, key string) *armcompute.ClientFactory {
	t.Helper()
	opts := &azarm.ClientOptions{
		ClientOptions: policy.ClientOptions{Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: s.url,
			Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: s.url, Audience: s.url}},
		}, Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableRPRegistration: true,
	}
	opts.InsecureAllowCredentialWithHTTP = true
	f, err := armcompute.NewClientFactory(sub, keyCredential(key), opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var poll = &runtime.PollUntilDoneOptions{Frequency: 50 * time.Millisecond}

func statusOfErr(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func diskID(sub, group, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + group + "/providers/Microsoft.Compute/disks/" + name
}

func TestGalleryVersionReplicatesToTargetRegions(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	s.upload(t, "alice", "os")
	f := s.factory(t, "alice", s.keys["alice"])

	gp, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local"),
		Properties: &armcompute.GalleryProperties{Description: to.Ptr("team images")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gp.PollUntilDone(ctx, poll)
	if err != nil || *g.Properties.Description != "team images" {
		t.Fatalf("gallery: %+v, %v", g, err)
	}
	dp, err := f.NewGalleryImagesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "web", armcompute.GalleryImage{Location: to.Ptr("local"),
		Properties: &armcompute.GalleryImageProperties{
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV1),
			Identifier:       &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("contoso"), Offer: to.Ptr("web"), SKU: to.Ptr("1")},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	vp, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "web", "1.0.0", armcompute.GalleryImageVersion{
		Location: to.Ptr("local"),
		Properties: &armcompute.GalleryImageVersionProperties{
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{OSDiskImage: &armcompute.GalleryOSDiskImage{
				Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(diskID("alice", "anygroup", "os"))}}},
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{TargetRegions: []*armcompute.TargetRegion{
				{Name: to.Ptr("local"), RegionalReplicaCount: to.Ptr[int32](1)}, {Name: to.Ptr("west"), RegionalReplicaCount: to.Ptr[int32](2)}}},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	v, err := f.NewGalleryImageVersionsClient().Get(ctx, "RG1", "G1", "WEB", "1.0.0",
		&armcompute.GalleryImageVersionsClientGetOptions{Expand: to.Ptr(armcompute.ReplicationStatusTypesReplicationStatus)})
	if err != nil {
		t.Fatal(err)
	}
	rs := v.Properties.ReplicationStatus
	if rs == nil || *rs.AggregatedState != armcompute.AggregatedReplicationStateCompleted || len(rs.Summary) != 2 ||
		*rs.Summary[1].Region != "west" || *rs.Summary[1].State != armcompute.ReplicationStateCompleted {
		t.Fatalf("replication status once the operation is done: %+v", rs)
	}
	if got := *v.Properties.PublishingProfile.TargetRegions[1]; *got.Name != "west" || *got.RegionalReplicaCount != 2 {
		t.Fatalf("target regions: %+v", v.Properties.PublishingProfile.TargetRegions)
	}
	// The version is Hangar's: the image the definition stands for has it.
	im, err := s.hangarClient("alice").Image(ctx, "web")
	if err != nil || len(im.Versions) != 1 || im.Versions[0].Version.String() != "1.0.0" || im.Type != hangar.ImageTypeOS {
		t.Fatalf("Hangar's image: %+v, %v", im, err)
	}
}

func TestResourceGroupsKeepNamesApart(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	s.upload(t, "alice", "os")
	images := s.factory(t, "alice", s.keys["alice"]).NewImagesClient()
	for _, group := range []string{"rg1", "rg2"} {
		p, err := images.BeginCreateOrUpdate(ctx, group, "base", armcompute.Image{Location: to.Ptr("local"), Tags: map[string]*string{"group": to.Ptr(group)},
			Properties: &armcompute.ImageProperties{StorageProfile: &armcompute.ImageStorageProfile{OSDisk: &armcompute.ImageOSDisk{
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
				ManagedDisk: &armcompute.SubResource{ID: to.Ptr(diskID("alice", group, "os"))}}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		im, err := p.PollUntilDone(ctx, poll)
		if err != nil || !strings.Contains(*im.ID, "/resourceGroups/"+group+"/") {
			t.Fatalf("image in %s: %+v, %v", group, im, err)
		}
	}
	own, err := s.hangarClient("alice").ListImages(ctx, false)
	if err != nil || len(own) != 2 {
		t.Fatalf("Hangar images behind two ARM images of one name: %+v, %v", own, err)
	}
	var inRG1 []string
	for pager := images.NewListByResourceGroupPager("rg1", nil); pager.More(); {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range pg.Value {
			inRG1 = append(inRG1, *im.ID)
		}
	}
	if len(inRG1) != 1 || !strings.HasSuffix(inRG1[0], "/resourceGroups/rg1/providers/Microsoft.Compute/images/base") {
		t.Fatalf("rg1 lists %v", inRG1)
	}
	dp, err := images.BeginDelete(ctx, "rg2", "BASE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Get(ctx, "rg2", "base", nil); statusOfErr(err) != http.StatusNotFound {
		t.Fatalf("deleted image: %v", err)
	}
	if im, err := images.Get(ctx, "rg1", "base", nil); err != nil || str(im.Tags["group"]) != "rg1" {
		t.Fatalf("the other group's image after the delete: %+v, %v", im.Tags, err)
	}
	// ARM's tags are Hangar's.
	if own, err := s.hangarClient("alice").ListImages(ctx, false, "group=rg1"); err != nil || len(own) != 1 {
		t.Fatalf("Hangar images tagged group=rg1: %+v, %v", own, err)
	}
}

// TestSubscriptionIsTheTenant: another tenant's subscription answers exactly as one
// that does not exist, and a wrong key is refused, both in ARM's error shape.
func TestSubscriptionIsTheTenant(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	alice := s.factory(t, "alice", s.keys["alice"])
	if _, err := alice.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil); err != nil {
		t.Fatal(err)
	}
	s.upload(t, "alice", "secret")
	for _, tc := range []struct {
		name   string
		f      *armcompute.ClientFactory
		status int
		code   string
	}{
		{"bob in alice's subscription", s.factory(t, "alice", s.keys["bob"]), http.StatusNotFound, "SubscriptionNotFound"},
		{"alice in a subscription that does not exist", s.factory(t, "nobody", s.keys["alice"]), http.StatusNotFound, "SubscriptionNotFound"},
		{"a wrong key", s.factory(t, "alice", "not-a-key"), http.StatusUnauthorized, "AuthenticationFailed"},
	} {
		calls := map[string]func() error{
			"get gallery": func() error { _, err := tc.f.NewGalleriesClient().Get(ctx, "rg1", "g1", nil); return err },
			"list galleries": func() error {
				_, err := tc.f.NewGalleriesClient().NewListPager(nil).NextPage(ctx)
				return err
			},
			"get disk": func() error { _, err := tc.f.NewDisksClient().Get(ctx, "rg1", "secret", nil); return err },
			"put gallery": func() error {
				_, err := tc.f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g2", armcompute.Gallery{Location: to.Ptr("local")}, nil)
				return err
			},
			"list publishers": func() error {
				_, err := tc.f.NewVirtualMachineImagesClient().ListPublishers(ctx, "local", nil)
				return err
			},
		}
		for what, call := range calls {
			err := call()
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tc.status || re.ErrorCode != tc.code {
				t.Errorf("%s, %s: %v", tc.name, what, err)
			}
		}
	}
	// Bob's own subscription does not show alice's things.
	bob := s.factory(t, "bob", s.keys["bob"])
	if _, err := bob.NewGalleriesClient().Get(ctx, "rg1", "g1", nil); statusOfErr(err) != http.StatusNotFound {
		t.Errorf("bob gets alice's gallery in his subscription: %v", err)
	}
	if _, err := bob.NewDisksClient().Get(ctx, "rg1", "secret", nil); statusOfErr(err) != http.StatusNotFound {
		t.Errorf("bob gets alice's disk in his subscription: %v", err)
	}
	// A version cannot be made from another tenant's disk by naming it.
	if _, err := bob.NewImagesClient().BeginCreateOrUpdate(ctx, "rg1", "stolen", armcompute.Image{Location: to.Ptr("local"),
		Properties: &armcompute.ImageProperties{StorageProfile: &armcompute.ImageStorageProfile{OSDisk: &armcompute.ImageOSDisk{
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			ManagedDisk: &armcompute.SubResource{ID: to.Ptr(diskID("alice", "rg1", "secret"))}}}}}, nil); statusOfErr(err) != http.StatusBadRequest {
		t.Errorf("bob's image from alice's disk: %v", err)
	}
}

func TestListsPageAtAThousand(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	galleries := s.factory(t, "alice", s.keys["alice"]).NewGalleriesClient()
	const n = PageSize + 1
	var wg sync.WaitGroup
	errs := make(chan error, n)
	names := make(chan int, n)
	for i := range n {
		names <- i
	}
	close(names)
	for range 4 {
		wg.Go(func() {
			for i := range names {
				_, err := galleries.BeginCreateOrUpdate(ctx, "rg1", fmt.Sprintf("g%04d", i), armcompute.Gallery{Location: to.Ptr("local")}, nil)
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	pages := 0
	for pager := galleries.NewListByResourceGroupPager("rg1", nil); pager.More(); {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range pg.Value {
			seen[*g.Name] = true
		}
	}
	if len(seen) != n || pages != 2 {
		t.Fatalf("%d distinct galleries over %d pages, want %d over 2", len(seen), pages, n)
	}
}

func TestBadRequestsSayWhatIsWrong(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	f := s.factory(t, "alice", s.keys["alice"])
	if _, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil); err != nil {
		t.Fatal(err)
	}
	defs := f.NewGalleryImagesClient()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"a resource group name with a slash's escape", func() error {
			_, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg%2Fx", "g9", armcompute.Gallery{Location: to.Ptr("local")}, nil)
			return err
		}, "resource group name"},
		{"a resource group name ending with a period", func() error {
			_, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg.", "g9", armcompute.Gallery{Location: to.Ptr("local")}, nil)
			return err
		}, "resource group name"},
		{"definition without osState", func() error {
			_, err := defs.BeginCreateOrUpdate(ctx, "rg1", "g1", "d", armcompute.GalleryImage{Location: to.Ptr("local"),
				Properties: &armcompute.GalleryImageProperties{OSType: to.Ptr(armcompute.OperatingSystemTypesLinux)}}, nil)
			return err
		}, "osState"},
		{"definition in a gallery that does not exist", func() error {
			_, err := defs.BeginCreateOrUpdate(ctx, "rg1", "nope", "d", armcompute.GalleryImage{Location: to.Ptr("local")}, nil)
			return err
		}, "ResourceNotFound"},
		{"version without a source", func() error {
			if _, err := defs.BeginCreateOrUpdate(ctx, "rg1", "g1", "d", armcompute.GalleryImage{Location: to.Ptr("local"),
				Properties: &armcompute.GalleryImageProperties{
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
					Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("p"), Offer: to.Ptr("o"), SKU: to.Ptr("s")}}}, nil); err != nil {
				return err
			}
			_, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "d", "1.0.0",
				armcompute.GalleryImageVersion{Location: to.Ptr("local"), Properties: &armcompute.GalleryImageVersionProperties{}}, nil)
			return err
		}, "osDiskImage.source.id"},
		{"version from a disk that does not exist", func() error {
			_, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "d", "1.0.0", armcompute.GalleryImageVersion{
				Location: to.Ptr("local"), Properties: &armcompute.GalleryImageVersionProperties{StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
					OSDiskImage: &armcompute.GalleryOSDiskImage{Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(diskID("alice", "rg1", "nope"))}}}}}, nil)
			return err
		}, "nope"},
		{"run command that is not a shell script", func() error {
			_, err := f.NewVirtualMachinesClient().BeginRunCommand(ctx, "rg1", "vm", armcompute.RunCommandInput{CommandID: to.Ptr("RunPowerShellScript")}, nil)
			return err
		}, "ResourceNotFound"}, // no such VM comes first
	} {
		err := tc.call()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode >= 500 {
			t.Errorf("%s: a server error for a bad request: %v", tc.name, err)
		}
	}
	// A path ARM has that Hangar does not serve, and a method a path does not take.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/subscriptions/alice/providers/Microsoft.Compute/virtualMachineScaleSets", http.StatusNotFound},
		{"PATCH", "/subscriptions/alice/resourceGroups/rg1/providers/Microsoft.Compute/galleries/g1", http.StatusMethodNotAllowed},
		{"PUT", "/subscriptions/alice/resourceGroups/rg1/providers/Microsoft.Compute/galleries/g2", http.StatusBadRequest}, // not JSON
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, s.url+tc.path, strings.NewReader("{"))
		req.Header.Set("Authorization", "Bearer "+s.keys["alice"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), `"error":{"code":`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

// TestImageReferences: what each form of ARM's imageReference stands for in Hangar.
func TestImageReferences(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	s.upload(t, "alice", "os")
	f := s.factory(t, "alice", s.keys["alice"])
	if _, err := f.NewGalleriesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", armcompute.Gallery{Location: to.Ptr("local")}, nil); err != nil {
		t.Fatal(err)
	}
	// Alice already has a Hangar image named like the definition: the definition
	// gets a Hangar name of its own, never her image.
	if _, err := s.hangarClient("alice").CreateImage(ctx, hangar.ImageCreate{Name: "web", Type: hangar.ImageTypeOS,
		OSType: hangar.OSLinux, OSState: hangar.Generalized, OSDisk: "os"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewGalleryImagesClient().BeginCreateOrUpdate(ctx, "rg1", "g1", "web", armcompute.GalleryImage{Location: to.Ptr("local"),
		Properties: &armcompute.GalleryImageProperties{
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("p"), Offer: to.Ptr("o"), SKU: to.Ptr("s")}}}, nil); err != nil {
		t.Fatal(err)
	}
	def, err := s.db.ARMResourceByName(ctx, s.tenant["alice"].ID, kindGalleryImage, "rg1/g1", "WEB")
	if err != nil || def.HangarName == "web" || !strings.HasPrefix(def.HangarName, "web-") {
		t.Fatalf("the definition stands for Hangar image %q (%v)", def.HangarName, err)
	}
	c := &call{ctx: ctx, tenant: s.tenant["alice"], sub: "alice"}
	gallery := "/subscriptions/alice/resourceGroups/rg1/providers/Microsoft.Compute/galleries/g1/images/web"
	for _, tc := range []struct {
		ref  armcompute.ImageReference
		want string
	}{
		{armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22_04"), Version: to.Ptr("1.2.3")}, "Canonical:ubuntu:22_04:1.2.3"},
		{armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22_04")}, "Canonical:ubuntu:22_04:latest"},
		{armcompute.ImageReference{ID: to.Ptr(gallery)}, def.HangarName},
		{armcompute.ImageReference{ID: to.Ptr(gallery + "/versions/2.0.0")}, def.HangarName + "@2.0.0"},
		{armcompute.ImageReference{ID: to.Ptr(gallery + "/versions/latest")}, def.HangarName},
		{armcompute.ImageReference{ID: to.Ptr("/subscriptions/alice/resourceGroups/hangar/providers/Microsoft.Compute/images/web")}, "web"},
		{armcompute.ImageReference{CommunityGalleryImageID: to.Ptr("/CommunityGalleries/contoso-1/Images/base/Versions/1.0.0")}, "community/contoso-1/base/1.0.0"},
		{armcompute.ImageReference{SharedGalleryImageID: to.Ptr("/SharedGalleries/bob/Images/base")}, "shared/bob/base"},
	} {
		got, err := s.h.imageRef(c, &tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("imageRef(%+v) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
	for _, bad := range []armcompute.ImageReference{
		{ID: to.Ptr("/subscriptions/bob/resourceGroups/rg1/providers/Microsoft.Compute/images/web")}, // another subscription
		{ID: to.Ptr("/subscriptions/alice/resourceGroups/rg1/providers/Microsoft.Compute/images/none")},
		{ID: to.Ptr("../../etc/passwd")},
		{CommunityGalleryImageID: to.Ptr("/CommunityGalleries/x")},
		{Offer: to.Ptr("only-an-offer")},
	} {
		if got, err := s.h.imageRef(c, &bad); err == nil {
			t.Errorf("imageRef(%+v) = %q, want an error", bad, got)
		}
	}
}

// TestInstanceViewStatuses: Hangar's VM states as Azure's status codes, and the
// provisioningState a poller waits on.
func TestInstanceViewStatuses(t *testing.T) {
	for _, tc := range []struct {
		prov  hangar.ProvisioningState
		power hangar.PowerState
		state string
		codes []string
	}{
		{hangar.ProvisioningCreating, hangar.PowerCreating, "Creating", []string{"ProvisioningState/creating", "PowerState/starting"}},
		{hangar.ProvisioningSucceeded, hangar.PowerRunning, "Succeeded", []string{"ProvisioningState/succeeded", "PowerState/running"}},
		{hangar.ProvisioningTimedOut, hangar.PowerRunning, "Failed", []string{"ProvisioningState/failed/OSProvisioningTimedOut", "PowerState/running"}},
		{hangar.ProvisioningFailed, hangar.PowerStopped, "Failed", []string{"ProvisioningState/failed", "PowerState/stopped"}},
		{hangar.ProvisioningSucceeded, hangar.PowerGeneralized, "Succeeded", []string{"ProvisioningState/succeeded", "OSState/generalized", "PowerState/stopped"}},
		{hangar.ProvisioningSucceeded, hangar.PowerDeallocated, "Succeeded", []string{"ProvisioningState/succeeded", "PowerState/deallocated"}},
	} {
		vm := hangar.VM{ProvisioningState: tc.prov, PowerState: tc.power, ProvisioningMessage: "the guest said why"}
		var codes []string
		for _, s := range instanceView(vm).Statuses {
			codes = append(codes, *s.Code)
		}
		if got := provisioningState(vm); got != tc.state || strings.Join(codes, " ") != strings.Join(tc.codes, " ") {
			t.Errorf("%s/%s: provisioningState %s, statuses %v; want %s, %v", tc.prov, tc.power, got, codes, tc.state, tc.codes)
		}
	}
}
