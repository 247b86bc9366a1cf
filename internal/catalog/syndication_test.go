package catalog

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// inProcessUpstream serves a subscriber from another Service, as one tenant, and
// can be told to lie.
type inProcessUpstream struct {
	s              *Service
	as             *hangar.Tenant
	badManifest    atomic.Bool
	badChunk       atomic.Bool
	chunksServed   atomic.Int64
	catalogFetches atomic.Int64
}

func (u *inProcessUpstream) SyndicationCatalog(ctx context.Context, f hangar.MarketplaceFilter) (syndicate.Catalog, error) {
	u.catalogFetches.Add(1)
	return u.s.SyndicationCatalog(ctx, u.as, f, nil)
}

func (u *inProcessUpstream) SyndicationManifest(ctx context.Context, urn string, lun int, size int64) ([]byte, error) {
	data, err := u.s.SyndicationManifest(ctx, u.as, urn, lun)
	if err == nil && u.badManifest.Load() {
		// Another chunk's digest, same length: only the signed digest tells.
		i := bytes.Index(data, []byte(`"sha256":"`)) + len(`"sha256":"`)
		data = append([]byte{}, data...)
		if data[i] == '0' {
			data[i] = '1'
		} else {
			data[i] = '0'
		}
	}
	return data, err
}

func (u *inProcessUpstream) SyndicationChunk(ctx context.Context, d chunks.Digest) ([]byte, error) {
	data, err := u.s.SyndicationChunk(ctx, u.as, d)
	if err == nil && u.badChunk.Load() {
		data = append([]byte{}, data...)
		data[0] ^= 1
	}
	u.chunksServed.Add(1)
	return data, err
}

type syndicationFixture struct {
	up, down           *Service
	upAdmin, downAdmin *hangar.Tenant
	publisher          *hangar.Tenant
	link               *inProcessUpstream
}

func newSyndicationFixture(t *testing.T) *syndicationFixture {
	t.Helper()
	f := &syndicationFixture{}
	upKey, _ := syndicate.ParsePrivateKey(syndicate.NewPrivateKey())
	downKey, _ := syndicate.ParsePrivateKey(syndicate.NewPrivateKey())
	dir := t.TempDir()
	f.up, f.upAdmin = newServiceIn(t, dir, Config{StagingDir: dir, SigningKey: upKey})
	f.link = &inProcessUpstream{s: f.up}
	dir2 := t.TempDir()
	f.down, f.downAdmin = newServiceIn(t, dir2, Config{StagingDir: dir2, SigningKey: downKey, Node: "down",
		DialUpstream: func(string, string) Upstream { return f.link }})
	ctx := t.Context()
	pub, err := f.up.CreateTenant(ctx, f.upAdmin, hangar.TenantCreate{Name: "contoso", Role: hangar.RolePublisher})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.up.Authenticate(ctx, pub.Key)
	f.publisher = &p
	mirror, err := f.up.CreateTenant(ctx, f.upAdmin, hangar.TenantCreate{Name: "mirror", Entitlements: []string{"msdn"}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.up.Authenticate(ctx, mirror.Key)
	f.link.as = &m
	key, _ := f.up.SigningKey(f.upAdmin)
	if _, err := f.down.AddUpstream(ctx, f.downAdmin, hangar.UpstreamCreate{Name: "up", URL: "http://upstream.invalid", Key: mirror.Key, PublicKey: key.PublicKey}); err != nil {
		t.Fatal(err)
	}
	return f
}

// publish stores a disk of n chunks and publishes it as Contoso:Web:gold:version.
func (f *syndicationFixture) publish(t *testing.T, version string, n int, fill func(int) byte) {
	t.Helper()
	ctx := t.Context()
	disk := "d" + version
	storeDisk(t, f.up, f.publisher, disk, n, fill)
	if _, err := f.up.CreateImage(ctx, f.publisher, hangar.ImageCreate{Name: "web", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux,
		OSState: hangar.Generalized, OSDisk: disk, Version: version}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.up.PublishMarketplace(ctx, f.publisher, hangar.MarketplacePublish{URN: "Contoso:Web:gold:" + version, Image: "web@" + version,
		Plan: "gold", Entitlement: "msdn"}); err != nil {
		t.Fatal(err)
	}
}

func (f *syndicationFixture) waitJob(t *testing.T, urn string, states ...string) hangar.SyndicationJob {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		jobs, err := f.down.SyndicationJobs(t.Context(), f.downAdmin)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			for _, s := range states {
				if strings.EqualFold(j.URN, urn) && j.State == s && (s != hangar.SyndicationPulling || j.Message != "") {
					return j
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never reached %v: %+v", urn, states, jobs)
		}
	}
}

func (f *syndicationFixture) visible(t *testing.T) []hangar.MarketplaceImage {
	t.Helper()
	all := *f.downAdmin
	all.Entitlements = []string{"msdn"}
	list, err := f.down.Marketplace(t.Context(), &all, hangar.MarketplaceFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestSyndicateCopiesOnlyMissingChunks(t *testing.T) {
	f := newSyndicationFixture(t)
	f.publish(t, "1.0.0", 4, func(i int) byte { return byte(i + 1) })
	f.publish(t, "1.1.0", 4, func(i int) byte { return byte(i + 1 + 10*(i/3)) }) // the last chunk changes
	res, err := f.down.Syndicate(t.Context(), f.downAdmin, "up", hangar.SyndicateRequest{Pattern: "contoso:web"})
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("Syndicate = %+v, %v", res, err)
	}
	f.waitJob(t, "Contoso:Web:gold:1.0.0", hangar.SyndicationCompleted)
	f.waitJob(t, "Contoso:Web:gold:1.1.0", hangar.SyndicationCompleted)
	if n := f.link.chunksServed.Load(); n != 5 {
		t.Fatalf("%d chunks crossed for two versions of 4 chunks sharing 3; want 5", n)
	}
	list := f.visible(t)
	if len(list) != 2 || list[0].Provenance == nil || list[0].Provenance.Upstream != "up" || list[0].Plan == nil || list[0].Entitlement != "msdn" {
		t.Fatalf("syndicated versions: %+v", list)
	}
	// Again: nothing new is pulled, nothing crosses.
	if _, err := f.down.Syndicate(t.Context(), f.downAdmin, "up", hangar.SyndicateRequest{Pattern: "contoso:web"}); err != nil {
		t.Fatal(err)
	}
	if n := f.link.chunksServed.Load(); n != 5 {
		t.Fatalf("syndicating again fetched chunks: %d", n)
	}
}

func TestSyndicateRefusesWhatUpstreamDidNotSign(t *testing.T) {
	f := newSyndicationFixture(t)
	f.publish(t, "1.0.0", 2, func(i int) byte { return byte(i + 1) })
	f.link.badManifest.Store(true)
	if _, err := f.down.Syndicate(t.Context(), f.downAdmin, "up", hangar.SyndicateRequest{Pattern: "Contoso:Web:gold:1.0.0"}); err != nil {
		t.Fatal(err)
	}
	j := f.waitJob(t, "Contoso:Web:gold:1.0.0", hangar.SyndicationFailed)
	if !strings.Contains(j.Message, "does not match the signed entry") {
		t.Fatalf("failed pull says: %s", j.Message)
	}
	if list := f.visible(t); len(list) != 0 {
		t.Fatalf("a version with a forged manifest is visible: %+v", list)
	}
	// A corrupt chunk is refused and retried, never stored nor shown.
	f.link.badManifest.Store(false)
	f.link.badChunk.Store(true)
	if _, err := f.down.Syndicate(t.Context(), f.downAdmin, "up", hangar.SyndicateRequest{Pattern: "Contoso:Web:gold:1.0.0"}); err != nil {
		t.Fatal(err)
	}
	j = f.waitJob(t, "Contoso:Web:gold:1.0.0", hangar.SyndicationPulling)
	if !strings.Contains(j.Message, "does not match its digest") {
		t.Fatalf("pull with a corrupt chunk says: %s", j.Message)
	}
	if list := f.visible(t); len(list) != 0 {
		t.Fatalf("a version with a corrupt chunk is visible: %+v", list)
	}
}

func TestSyndicationVisibility(t *testing.T) {
	f := newSyndicationFixture(t)
	f.publish(t, "1.0.0", 1, func(int) byte { return 7 })
	ctx := t.Context()
	plain := newTenant(t, f.up, f.upAdmin, "plain")
	c, err := f.up.SyndicationCatalog(ctx, plain, hangar.MarketplaceFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := f.up.SigningKey(f.upAdmin)
	pub, _ := syndicate.ParsePublicKey(key.PublicKey)
	if _, entries, err := syndicate.VerifyCatalog(pub, c); err != nil || len(entries) != 0 {
		t.Fatalf("catalog of a tenant without the entitlement: %v, %v", entries, err)
	}
	d := chunks.Sum(bytes.Repeat([]byte{7}, chunks.ChunkSize))
	if _, err := f.up.SyndicationChunk(ctx, plain, d); hangar.ErrorCode(err) != hangar.CodeNotFound {
		t.Fatalf("a chunk of an offer the tenant may not see: %v", err)
	}
	if _, err := f.up.SyndicationChunk(ctx, f.link.as, d); err != nil {
		t.Fatalf("a chunk of an offer the tenant may see: %v", err)
	}
	if _, err := f.up.SyndicationManifest(ctx, plain, "Contoso:Web:gold:1.0.0", -1); hangar.ErrorCode(err) != hangar.CodeImageNotFound {
		t.Fatalf("a manifest of an offer the tenant may not see: %v", err)
	}
	if _, err := f.up.SigningKey(plain); hangar.ErrorCode(err) != hangar.CodeForbidden {
		t.Fatalf("a tenant asking for the signing key: %v", err)
	}
}
