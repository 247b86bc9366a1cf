package catalog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestAmplifiedCommitIsRefused is the quota-amplification attack: a tenant uploads
// one 4 MiB chunk and commits a disk that lists it at every offset. Stored once, it
// would be written out whole by every materialization: as a VM's base, or for
// generalize. The commit must be refused as over quota, under the server's default
// limits (a disk of the largest virtual size, 4 TiB) as under a limit an admin set,
// and change nothing: no disk, and the upload still there.
func TestAmplifiedCommitIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		limit map[string]int64
		size  int64
		want  string
	}{
		{"server defaults", nil, DefaultMaxVirtualSize,
			"the limit of stored bytes for tenant mallory is 1.0 TiB, and it holds 0 B; this request would add 4.0 TiB"},
		{"a limit the admin set", map[string]int64{"storedBytes": 64 << 20}, 1 << 30,
			"the limit of stored bytes for tenant mallory is 64.0 MiB, and it holds 0 B; this request would add 1.0 GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, admin := newService(t)
			ctx := t.Context()
			mallory := newTenant(t, s, admin, "mallory")
			if tt.limit != nil {
				if _, err := s.UpdateTenant(ctx, admin, "mallory", hangar.TenantUpdate{Set: tt.limit}); err != nil {
					t.Fatal(err)
				}
			}
			u, err := s.CreateUpload(ctx, mallory, hangar.UploadCreate{Name: "amplified", VirtualSize: tt.size, SourceFormat: "raw"})
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, chunks.ChunkSize)
			for i := range data {
				data[i] = byte(i%251) | 1
			}
			d := chunks.Sum(data)
			if err := s.PutChunk(ctx, mallory, u.ID, d, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			extents := make([]chunks.Extent, 0, tt.size/chunks.ChunkSize)
			for off := int64(0); off < tt.size; off += chunks.ChunkSize {
				extents = append(extents, chunks.Extent{Offset: off, Length: chunks.ChunkSize, Digest: d})
			}
			_, err = s.CommitUpload(ctx, mallory, u.ID, hangar.UploadCommit{Extents: extents})
			if hangar.ErrorCode(err) != hangar.CodeQuotaExceeded || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("a commit of one chunk repeated over %d bytes: %v; want QuotaExceeded saying %q", tt.size, err, tt.want)
			}
			if disks, _ := s.ListDisks(ctx, mallory); len(disks) != 0 {
				t.Fatalf("the refused commit left disks: %+v", disks)
			}
			if _, err := s.Upload(ctx, mallory, u.ID); err != nil {
				t.Fatalf("the refused commit dropped the upload: %v", err)
			}
		})
	}
}

// TestTenantQuotaVisibility: a tenant sees its own limits and use, not another's
// (which answers as a tenant that does not exist), and only an admin changes them.
func TestTenantQuotaVisibility(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	alice, bob := newTenant(t, s, admin, "alice"), newTenant(t, s, admin, "bob")
	u, d := upload(t, s, alice, "d1", bytes.Repeat([]byte{7}, chunks.ChunkSize))
	if _, err := s.CommitUpload(ctx, alice, u.ID, hangar.UploadCommit{Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}); err != nil {
		t.Fatal(err)
	}
	own, err := s.Tenant(ctx, alice, "alice")
	if err != nil || own.Usage.Disks != 1 || own.Usage.StoredBytes != chunks.ChunkSize || own.Usage.TotalVirtualSize != chunks.ChunkSize ||
		own.Limits.Disks != DefaultLimits.Disks || len(own.Custom) != 0 {
		t.Fatalf("alice's own quota: %+v, %v", own, err)
	}
	if _, err := s.Tenant(ctx, bob, "alice"); hangar.ErrorCode(err) != hangar.CodeTenantNotFound {
		t.Fatalf("bob asked for alice's limits: %v", err)
	}
	if _, err := s.UpdateTenant(ctx, alice, "alice", hangar.TenantUpdate{Set: map[string]int64{"disks": 1 << 30}}); hangar.ErrorCode(err) != hangar.CodeForbidden {
		t.Fatalf("alice raised her own limit: %v", err)
	}
	got, err := s.UpdateTenant(ctx, admin, "alice", hangar.TenantUpdate{Set: map[string]int64{"disks": 1, "vcpus": -1}})
	if err != nil || got.Limits.Disks != 1 || got.Limits.VCPUs != hangar.Unlimited || strings.Join(got.Custom, ",") != "disks,vcpus" {
		t.Fatalf("the admin's update: %+v, %v", got, err)
	}
	// At her limit, alice is refused a second disk before anything is sent.
	if _, err := s.CreateUpload(ctx, alice, hangar.UploadCreate{Name: "d2", VirtualSize: chunks.ChunkSize, SourceFormat: "raw"}); hangar.ErrorCode(err) != hangar.CodeQuotaExceeded {
		t.Fatalf("an upload past the disk limit: %v", err)
	}
	if _, err := s.ImportDisk(ctx, alice, "d3", bytes.NewReader(make([]byte, 1<<20))); hangar.ErrorCode(err) != hangar.CodeQuotaExceeded {
		t.Fatalf("an import past the disk limit: %v", err)
	}
	if _, err := s.UpdateTenant(ctx, admin, "alice", hangar.TenantUpdate{Set: map[string]int64{"nonsense": 1}}); hangar.ErrorCode(err) != hangar.CodeInvalid {
		t.Fatalf("an unknown quota: %v", err)
	}
}

// TestUploadHoldsNoMoreChunksThanPlaces: an upload that is never committed must not
// become storage no quota counts; it takes at most as many distinct chunks as its
// disk has places for, and a chunk sent again is still welcome.
func TestUploadHoldsNoMoreChunksThanPlaces(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	alice := newTenant(t, s, admin, "alice")
	first := []byte("the one chunk this disk has room for")
	u, d := upload(t, s, alice, "one-place", first)
	if err := s.PutChunk(ctx, alice, u.ID, d, bytes.NewReader(first)); err != nil {
		t.Fatalf("the same chunk sent again: %v", err)
	}
	other := []byte("a second chunk")
	if err := s.PutChunk(ctx, alice, u.ID, chunks.Sum(other), bytes.NewReader(other)); hangar.ErrorCode(err) != hangar.CodeTooLarge {
		t.Fatalf("a chunk beyond the upload's places: %v", err)
	}
	if ok, _ := s.chunks.Has(ctx, chunks.Sum(other)); ok {
		t.Fatal("the refused chunk was stored")
	}
}
