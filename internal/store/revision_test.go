package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// revisionFixture is a database with a tenant, another tenant to share with, and
// helpers to make images, disks and VMs.
type revisionFixture struct {
	db     *DB
	owner  hangar.Tenant
	friend hangar.Tenant
}

func newRevisionFixture(t *testing.T, dsn string) *revisionFixture {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &revisionFixture{db: db, owner: hangar.Tenant{Name: "owner", Role: hangar.RoleUser}, friend: hangar.Tenant{Name: "friend", Role: hangar.RoleUser}}
	for i, tn := range []*hangar.Tenant{&f.owner, &f.friend} {
		if err := db.CreateTenant(t.Context(), tn, NewKey{Hash: fmt.Sprint("hash-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *revisionFixture) disk(t *testing.T, name string) hangar.Disk {
	t.Helper()
	dk := hangar.Disk{Name: name, SourceFormat: "raw"}
	if err := f.db.CommitDisk(t.Context(), f.owner.ID, "", &dk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
		t.Fatal(err)
	}
	return dk
}

// image makes image name with version 1.0.0 on a disk of its own.
func (f *revisionFixture) image(t *testing.T, name string) Image {
	t.Helper()
	f.disk(t, name+"-os")
	req := hangar.ImageCreate{Name: name, Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: "1.0.0", OSDisk: name + "-os"}
	if err := req.Normalize(); err != nil {
		t.Fatal(err)
	}
	im, err := f.db.CreateImageVersion(t.Context(), f.owner.ID, &req)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func (f *revisionFixture) vm(t *testing.T, name string) VM {
	t.Helper()
	dk := f.disk(t, name+"-os")
	v := VM{VM: hangar.VM{Name: name, Image: "img@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1",
		Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
		Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}}, TenantID: f.owner.ID, DiskIDs: []string{dk.ID}}
	if err := f.db.CreateVM(t.Context(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// state is everything a client sees of an image, its ETag included.
func (f *revisionFixture) state(t *testing.T, name string) string {
	t.Helper()
	ctx := t.Context()
	im, err := f.db.ImageByName(ctx, f.owner.ID, name)
	if err != nil {
		return "gone: " + err.Error()
	}
	vs, err1 := f.db.Versions(ctx, im.ID)
	shares, err2 := f.db.Shares(ctx, im.ID)
	c, err3 := f.db.Community(ctx, im.ID)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	out, _ := json.Marshal([]any{im, vs, shares, c})
	return string(out)
}

func TestRevisions(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) { revisions(t, dsn) })
	}
}

var community = hangar.Community{PublicName: "acme", PublisherURI: "https://acme.example", PublisherEmail: "a@acme.example", EULA: "https://acme.example/eula"}

// revisions checks every change of an image or disk: with a stale ETag it fails
// with PreconditionFailed and changes nothing; with the current one (or none) it
// applies and moves the ETag.
func revisions(t *testing.T, dsn string) {
	f := newRevisionFixture(t, dsn)
	ctx := t.Context()
	yes, eol := true, "2030-01-01"
	tests := []struct {
		name  string
		setup func(im *Image) // brings the image to where the change makes sense
		do    func(im *Image, pre hangar.Precondition) error
	}{
		{"update version", nil, func(im *Image, pre hangar.Precondition) error {
			return f.db.UpdateVersion(ctx, im, hangar.Version{Major: 1}, hangar.ImageVersionUpdate{ExcludeFromLatest: &yes, EndOfLife: &eol}, pre)
		}},
		{"share", nil, func(im *Image, pre hangar.Precondition) error { return f.db.Share(ctx, im, f.friend.ID, pre) }},
		{"unshare", func(im *Image) {
			if err := f.db.Share(ctx, im, f.friend.ID, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
		}, func(im *Image, pre hangar.Precondition) error { return f.db.Unshare(ctx, im, f.friend.ID, pre) }},
		{"publish community", nil, func(im *Image, pre hangar.Precondition) error {
			return f.db.PublishCommunity(ctx, im, &community, pre)
		}},
		{"unpublish community", func(im *Image) {
			if err := f.db.PublishCommunity(ctx, im, &community, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
		}, func(im *Image, pre hangar.Precondition) error { return f.db.UnpublishCommunity(ctx, im, pre) }},
		{"delete", nil, func(im *Image, pre hangar.Precondition) error { return f.db.DeleteImage(ctx, im, pre) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprint("img", i)
			im := f.image(t, name)
			if im.ETag != hangar.ETag(im.ID, 1) {
				t.Fatalf("a new image has ETag %s", im.ETag)
			}
			if tt.setup != nil {
				tt.setup(&im)
			}
			stale := im
			// Someone else adds a version meanwhile: the image moves on.
			f.disk(t, name+"-v2")
			req := hangar.ImageCreate{Name: name, Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: "2.0.0", OSDisk: name + "-v2"}
			req.Normalize()
			current, err := f.db.CreateImageVersion(ctx, f.owner.ID, &req)
			if err != nil {
				t.Fatal(err)
			}
			if current.ETag == stale.ETag {
				t.Fatalf("adding a version left the ETag at %s", current.ETag)
			}
			before := f.state(t, name)
			err = tt.do(&stale, hangar.IfMatch(stale.ETag))
			if hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
				t.Fatalf("with a stale ETag: %v, want PreconditionFailed", err)
			}
			if after := f.state(t, name); after != before {
				t.Fatalf("a failed precondition changed the image:\nbefore %s\nafter  %s", before, after)
			}
			if err := tt.do(&current, hangar.IfMatch(current.ETag)); err != nil {
				t.Fatalf("with the current ETag: %v", err)
			}
			if current.ETag == stale.ETag || f.state(t, name) == before {
				t.Fatalf("the change did not apply or did not move the ETag (%s)", current.ETag)
			}
		})
	}

	t.Run("no-op keeps the ETag", func(t *testing.T) {
		im := f.image(t, "noop")
		if err := f.db.Share(ctx, &im, f.friend.ID, hangar.Precondition{}); err != nil {
			t.Fatal(err)
		}
		shared := im.ETag
		if err := f.db.Share(ctx, &im, f.friend.ID, hangar.IfMatch(shared)); err != nil || im.ETag != shared {
			t.Fatalf("sharing again: %v, ETag %s -> %s", err, shared, im.ETag)
		}
		if got := mustImage(t, f, "noop").ETag; got != shared {
			t.Fatalf("sharing again moved the stored ETag from %s to %s", shared, got)
		}
	})

	t.Run("a recreated image does not match the old ETag", func(t *testing.T) {
		old := f.image(t, "again")
		if err := f.db.DeleteImage(ctx, &old, hangar.Precondition{}); err != nil {
			t.Fatal(err)
		}
		f.disk(t, "again-os2")
		req := hangar.ImageCreate{Name: "again", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: "1.0.0", OSDisk: "again-os2"}
		req.Normalize()
		im, err := f.db.CreateImageVersion(ctx, f.owner.ID, &req)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.db.DeleteImage(ctx, &im, hangar.IfMatch(hangar.ETag(old.ID, 1))); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
			t.Fatalf("the deleted image's ETag matched its successor: %v", err)
		}
		if err := f.db.DeleteImage(ctx, &im, hangar.IfMatch("*")); err != nil {
			t.Fatalf("If-Match * on an existing image: %v", err)
		}
	})

	t.Run("disk delete", func(t *testing.T) {
		dk := f.disk(t, "spare")
		if err := f.db.DeleteDisk(ctx, f.owner.ID, "spare", hangar.IfMatch(hangar.ETag(dk.ID, 2))); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
			t.Fatalf("deleting with a wrong ETag: %v", err)
		}
		if _, err := f.db.DiskByName(ctx, f.owner.ID, "spare"); err != nil {
			t.Fatalf("a failed conditional delete removed the disk: %v", err)
		}
		if err := f.db.DeleteDisk(ctx, f.owner.ID, "spare", hangar.IfMatch(dk.ETag)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("vm update", func(t *testing.T) {
		v := f.vm(t, "web1")
		running := hangar.PowerRunning
		if err := f.db.UpdateVM(ctx, v.ID, VMUpdate{PowerState: &running}); err != nil {
			t.Fatal(err)
		}
		stopping := hangar.PowerStopping
		err := f.db.UpdateVM(ctx, v.ID, VMUpdate{PowerState: &stopping, IfMatch: hangar.IfMatch(v.ETag)})
		if hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
			t.Fatalf("a stale VM update: %v", err)
		}
		got, _ := f.db.VMByName(ctx, f.owner.ID, "web1")
		if got.PowerState != hangar.PowerRunning || got.ETag != hangar.ETag(v.ID, 2) {
			t.Fatalf("after a refused update the VM is %s at %s", got.PowerState, got.ETag)
		}
		if err := f.db.UpdateVM(ctx, v.ID, VMUpdate{PowerState: &stopping, IfMatch: hangar.IfMatch(got.ETag)}); err != nil {
			t.Fatal(err)
		}
	})
}

func mustImage(t *testing.T, f *revisionFixture, name string) Image {
	t.Helper()
	im, err := f.db.ImageByName(t.Context(), f.owner.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestConcurrentConditionalUpdates(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) { concurrentConditionalUpdates(t, dsn) })
	}
}

// concurrentConditionalUpdates races writers that all read the same ETag, as
// clients of several nodes would: exactly one may win, on any database.
func concurrentConditionalUpdates(t *testing.T, dsn string) {
	f := newRevisionFixture(t, dsn)
	const writers = 8
	race := func(t *testing.T, do func(ctx context.Context, i int) error) (winner int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = do(t.Context(), i)
			}()
		}
		close(start)
		wg.Wait()
		winner = -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("writers %d and %d both won", winner, i)
			case err == nil:
				winner = i
			case hangar.ErrorCode(err) != hangar.CodePreconditionFailed:
				t.Fatalf("writer %d: %v, want PreconditionFailed", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		return winner
	}

	t.Run("image", func(t *testing.T) {
		im := f.image(t, "raced")
		read := im
		winner := race(t, func(ctx context.Context, i int) error {
			mine := read
			eol := fmt.Sprintf("2030-01-%02d", i+1)
			return f.db.UpdateVersion(ctx, &mine, hangar.Version{Major: 1}, hangar.ImageVersionUpdate{EndOfLife: &eol}, hangar.IfMatch(read.ETag))
		})
		v, err := f.db.Version(t.Context(), &im, &hangar.Version{Major: 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("2030-01-%02d", winner+1); v.EndOfLife != want {
			t.Fatalf("end of life %s, want the winner's %s", v.EndOfLife, want)
		}
		if got := mustImage(t, f, "raced").ETag; got != hangar.ETag(im.ID, 2) {
			t.Fatalf("after one winning change the ETag is %s", got)
		}
	})

	t.Run("vm", func(t *testing.T) {
		v := f.vm(t, "racedvm")
		race(t, func(ctx context.Context, i int) error {
			state := hangar.PowerStopping
			return f.db.UpdateVM(ctx, v.ID, VMUpdate{PowerState: &state, IfMatch: hangar.IfMatch(v.ETag)})
		})
	})

	t.Run("disk delete", func(t *testing.T) {
		dk := f.disk(t, "raceddisk")
		race(t, func(ctx context.Context, i int) error {
			err := f.db.DeleteDisk(ctx, f.owner.ID, "raceddisk", hangar.IfMatch(dk.ETag))
			if hangar.ErrorCode(err) == hangar.CodeDiskNotFound {
				// The loser looked the disk up after the winner deleted it: it
				// never got as far as a precondition.
				return hangar.Errorf(hangar.CodePreconditionFailed, "gone")
			}
			return err
		})
	})
}
