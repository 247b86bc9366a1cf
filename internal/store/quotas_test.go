package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// manifest lists chunk digest d at each of the given chunk places of a disk of size
// bytes (one chunk repeated, as the amplification attack does, when places repeat
// the same d).
func manifest(size int64, d chunks.Digest, places ...int64) chunks.Manifest {
	m := chunks.Manifest{VirtualSize: size}
	for _, p := range places {
		m.Extents = append(m.Extents, chunks.Extent{Offset: p * chunks.ChunkSize, Length: chunks.ChunkSize, Digest: d})
	}
	return m
}

// quotaFixture is one tenant on a fresh database, with helpers that create what
// quotas count.
type quotaFixture struct {
	*revisionFixture
	t *testing.T
}

func (f quotaFixture) limit(set map[string]int64, reset ...string) {
	f.t.Helper()
	u := hangar.TenantUpdate{Set: set, Reset: reset}
	if err := u.Normalize(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.UpdateTenantLimits(f.t.Context(), f.owner.ID, u); err != nil {
		f.t.Fatal(err)
	}
}

func (f quotaFixture) commit(name string, m chunks.Manifest) error {
	dk := hangar.Disk{Name: name, SourceFormat: "raw"}
	return f.db.CommitDisk(f.t.Context(), f.owner.ID, "", &dk, m)
}

func (f quotaFixture) newVM(name, size string, disk string) error {
	dk, err := f.db.DiskByName(f.t.Context(), f.owner.ID, disk)
	if err != nil {
		return err
	}
	sz, _ := hangar.SizeByName(size)
	v := VM{VM: hangar.VM{Name: name, Image: "img@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1",
		Size: sz, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
		Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}}, TenantID: f.owner.ID, DiskIDs: []string{dk.ID}}
	return f.db.CreateVM(f.t.Context(), &v)
}

func (f quotaFixture) newImage(name, version, disk string) error {
	req := hangar.ImageCreate{Name: name, Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: version, OSDisk: disk}
	if err := req.Normalize(); err != nil {
		f.t.Fatal(err)
	}
	_, err := f.db.CreateImageVersion(f.t.Context(), f.owner.ID, &req)
	return err
}

func (f quotaFixture) newUpload(name string, size int64) (hangar.Upload, error) {
	u := hangar.Upload{Name: name, VirtualSize: size, SourceFormat: "raw"}
	return u, f.db.CreateUpload(f.t.Context(), f.owner.ID, &u)
}

func (f quotaFixture) usage() hangar.Resources {
	f.t.Helper()
	_, use, _, err := f.db.TenantQuota(f.t.Context(), f.owner.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return use
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestQuotas runs, on every database, requests that reach a limit: each last
// request must be refused with QuotaExceeded, with a message naming the limit, and
// change nothing that a quota counts.
func TestQuotas(t *testing.T) {
	const mib = 1 << 20
	d := chunks.Sum([]byte("one chunk"))
	tests := []struct {
		name   string
		limits map[string]int64
		setup  func(f quotaFixture)
		last   func(f quotaFixture) error
		want   string // in the refusal's message
	}{
		{"disks", map[string]int64{"disks": 2},
			func(f quotaFixture) {
				must(f.t, f.commit("a", manifest(4*mib, d, 0)))
				must(f.t, f.commit("b", manifest(4*mib, d, 0)))
			},
			func(f quotaFixture) error { return f.commit("c", manifest(4*mib, d, 0)) },
			"the limit of disks for tenant owner is 2, and it holds 2; this request would add 1"},
		{"stored bytes count a repeated chunk at every offset", map[string]int64{"storedBytes": 8 * mib},
			func(f quotaFixture) { must(f.t, f.commit("twice", manifest(64*mib, d, 0, 1))) },
			func(f quotaFixture) error { return f.commit("repeated", manifest(1<<30, d, 0, 1, 2, 3, 4, 5, 6, 7)) },
			"the limit of stored bytes for tenant owner is 8.0 MiB, and it holds 8.0 MiB; this request would add 32.0 MiB"},
		{"virtual size counts VM disks", map[string]int64{"totalVirtualSize": 16 * mib},
			func(f quotaFixture) {
				must(f.t, f.commit("os", manifest(8*mib, d, 0)))
				must(f.t, f.newVM("vm1", "small", "os"))
			},
			func(f quotaFixture) error { return f.commit("more", manifest(512, d)) },
			"the limit of total virtual size of disks and VM disks for tenant owner is 16.0 MiB,"},
		{"images count images, not versions", map[string]int64{"images": 1},
			func(f quotaFixture) {
				must(f.t, f.commit("os", manifest(4*mib, d, 0)))
				must(f.t, f.newImage("first", "1.0.0", "os"))
				must(f.t, f.newImage("first", "1.0.1", "os"))
			},
			func(f quotaFixture) error { return f.newImage("second", "1.0.0", "os") },
			"the limit of images for tenant owner is 1, and it holds 1"},
		{"VMs", map[string]int64{"vms": 1},
			func(f quotaFixture) {
				must(f.t, f.commit("os", manifest(4*mib, d, 0)))
				must(f.t, f.newVM("vm1", "small", "os"))
			},
			func(f quotaFixture) error { return f.newVM("vm2", "small", "os") },
			"the limit of VMs for tenant owner is 1,"},
		{"vCPUs", map[string]int64{"vcpus": 2},
			func(f quotaFixture) {
				must(f.t, f.commit("os", manifest(4*mib, d, 0)))
				must(f.t, f.newVM("vm1", "small", "os"))
			},
			func(f quotaFixture) error { return f.newVM("vm2", "medium", "os") },
			"the limit of vCPUs for tenant owner is 2, and it holds 1; this request would add 2"},
		{"memory", map[string]int64{"memoryMiB": 1024},
			func(f quotaFixture) {
				must(f.t, f.commit("os", manifest(4*mib, d, 0)))
				must(f.t, f.newVM("vm1", "small", "os"))
			},
			func(f quotaFixture) error { return f.newVM("vm2", "medium", "os") },
			"the limit of memory for tenant owner is 1.0 GiB, and it holds 512.0 MiB; this request would add 1.0 GiB"},
		{"uploads in progress", map[string]int64{"uploads": 1},
			func(f quotaFixture) {
				u, err := f.newUpload("a", 4*mib)
				must(f.t, err)
				must(f.t, f.db.DeleteUpload(f.t.Context(), f.owner.ID, u.ID)) // a cancelled upload frees its place
				_, err = f.newUpload("b", 4*mib)
				must(f.t, err)
			},
			func(f quotaFixture) error { _, err := f.newUpload("c", 4*mib); return err },
			"the limit of uploads in progress for tenant owner is 1,"},
		{"an upload whose disk would not fit is refused at its start", map[string]int64{"totalVirtualSize": 8 * mib},
			func(f quotaFixture) { must(f.t, f.commit("a", manifest(4*mib, d, 0))) },
			func(f quotaFixture) error { _, err := f.newUpload("big", 8*mib); return err },
			"this request would add 8.0 MiB"},
		{"a limit lowered below the use refuses more and takes nothing away", map[string]int64{"disks": 1},
			func(f quotaFixture) {
				f.limit(map[string]int64{"disks": 3})
				must(f.t, f.commit("a", manifest(4*mib, d, 0)))
				must(f.t, f.commit("b", manifest(4*mib, d, 0)))
				f.limit(map[string]int64{"disks": 1})
				must(f.t, f.db.DeleteDisk(f.t.Context(), f.owner.ID, "b", hangar.Precondition{}))
			},
			func(f quotaFixture) error { return f.commit("c", manifest(4*mib, d, 0)) },
			"the limit of disks for tenant owner is 1, and it holds 1"},
		{"server defaults apply unless the tenant has its own", nil,
			func(f quotaFixture) {
				f.db.SetDefaultLimits(hangar.Resources{Disks: 1})
				f.limit(map[string]int64{"disks": hangar.Unlimited})
				must(f.t, f.commit("a", manifest(4*mib, d, 0)))
				must(f.t, f.commit("b", manifest(4*mib, d, 0)))
				f.limit(nil, "disks") // back to the default of 1
			},
			func(f quotaFixture) error { return f.commit("c", manifest(4*mib, d, 0)) },
			"the limit of disks for tenant owner is 1, and it holds 2"},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					f := quotaFixture{newRevisionFixture(t, freshDSN(t, kind)), t}
					if tt.limits != nil {
						f.limit(tt.limits)
					}
					tt.setup(f)
					before := f.usage()
					err := tt.last(f)
					if hangar.ErrorCode(err) != hangar.CodeQuotaExceeded || !strings.Contains(err.Error(), tt.want) {
						t.Fatalf("the request past the limit: %v\nwant QuotaExceeded saying %q", err, tt.want)
					}
					if !strings.Contains(err.Error(), "hangar tenant update owner --max-") {
						t.Errorf("the refusal does not say how to raise the limit: %v", err)
					}
					if after := f.usage(); after != before {
						t.Fatalf("a refused request changed the use: before %+v, after %+v", before, after)
					}
				})
			}
		})
	}
}

// freshDSN returns a new, empty database of the kind.
func freshDSN(t *testing.T, kind string) string {
	if kind == "postgres" {
		return pgtest.DSN(t)
	}
	return filepath.Join(t.TempDir(), "db")
}

// TestQuotaRace creates disks from several nodes at once (one store each, on one
// database) against a limit: exactly the limit's worth must pass, whatever the
// interleaving.
func TestQuotaRace(t *testing.T) {
	const limit, tries = 3, 12
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dsn := freshDSN(t, kind)
			f := quotaFixture{newRevisionFixture(t, dsn), t}
			f.limit(map[string]int64{"disks": limit})
			nodes := make([]*DB, 4)
			for i := range nodes {
				db, err := Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				nodes[i] = db
			}
			var wg sync.WaitGroup
			errs := make([]error, tries)
			for i := range tries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dk := hangar.Disk{Name: fmt.Sprint("d", i), SourceFormat: "raw"}
					errs[i] = nodes[i%len(nodes)].CommitDisk(t.Context(), f.owner.ID, "", &dk, manifest(chunks.ChunkSize, chunks.Sum([]byte{byte(i)}), 0))
				}()
			}
			wg.Wait()
			passed := 0
			for _, err := range errs {
				if err == nil {
					passed++
				} else if hangar.ErrorCode(err) != hangar.CodeQuotaExceeded {
					t.Fatalf("a racing create failed otherwise: %v", err)
				}
			}
			if use := f.usage(); passed != limit || use.Disks != limit {
				t.Fatalf("%d of %d racing creates passed a limit of %d; the tenant holds %d disks", passed, tries, limit, use.Disks)
			}
		})
	}
}

// TestTenantLimits shows limits as set, reset and defaulted.
func TestTenantLimits(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := quotaFixture{newRevisionFixture(t, freshDSN(t, kind)), t}
			f.db.SetDefaultLimits(hangar.Resources{VCPUs: 8, Disks: 0})
			f.limit(map[string]int64{"vcpus": 2, "storedBytes": 0, "uploads": 5})
			f.limit(map[string]int64{"uploads": 6})
			limits, _, custom, err := f.db.TenantQuota(t.Context(), f.owner.ID)
			want := hangar.NormalizeLimits(hangar.Resources{VCPUs: 2, Uploads: 6})
			if err != nil || limits != want || strings.Join(custom, ",") != "storedBytes,vcpus,uploads" {
				t.Fatalf("limits %+v (custom %v), %v; want %+v", limits, custom, err, want)
			}
			f.limit(nil, "vcpus")
			limits, _, custom, _ = f.db.TenantQuota(t.Context(), f.owner.ID)
			if limits.VCPUs != 8 || strings.Join(custom, ",") != "storedBytes,uploads" {
				t.Fatalf("after resetting vcpus: %+v (custom %v); want the default of 8", limits, custom)
			}
			// Another tenant has only the defaults.
			other, _, custom, _ := f.db.TenantQuota(t.Context(), f.friend.ID)
			if other != hangar.NormalizeLimits(hangar.Resources{VCPUs: 8}) || len(custom) != 0 {
				t.Fatalf("another tenant's limits: %+v (custom %v)", other, custom)
			}
		})
	}
}
