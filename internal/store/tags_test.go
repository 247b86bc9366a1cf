package store

import (
	"reflect"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestTagsRoundTrip: tags set on a disk, an image, a version and a VM read back
// from every query that returns them, and each change moves the resource's ETag.
func TestTagsRoundTrip(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			tags := hangar.Tags{"env": "prod", "owner": "team a"}

			dk := f.disk(t, "d")
			if err := f.db.SetDiskTags(ctx, dk, tags, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			got, _ := f.db.DiskByName(ctx, f.owner.ID, "d")
			listed, _ := f.db.ListDisks(ctx, f.owner.ID)
			if !reflect.DeepEqual(got.Tags, tags) || got.ETag == dk.ETag || len(listed) != 1 || !reflect.DeepEqual(listed[0].Tags, tags) {
				t.Fatalf("disk: %+v, listed %+v", got, listed)
			}

			im := f.image(t, "i")
			v := hangar.Version{Major: 1}
			if err := f.db.SetImageTags(ctx, &im, nil, tags, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetImageTags(ctx, &im, &v, hangar.Tags{"release": "stable"}, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetImageTags(ctx, &im, &hangar.Version{Major: 9}, tags, hangar.Precondition{}); hangar.ErrorCode(err) != hangar.CodeImageNotFound {
				t.Fatalf("tags on a version that does not exist: %v", err)
			}
			again, _ := f.db.ImageByName(ctx, f.owner.ID, "i")
			versions, _ := f.db.Versions(ctx, im.ID)
			summaries, _ := f.db.ListImages(ctx, "own", f.owner.ID)
			if !reflect.DeepEqual(again.Tags, tags) || versions[0].Tags["release"] != "stable" || !reflect.DeepEqual(summaries[0].Tags, tags) {
				t.Fatalf("image %+v, versions %+v, listed %+v", again.Tags, versions, summaries)
			}

			vm := f.vm(t, "v")
			if err := f.db.SetVMTags(ctx, &vm, tags, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetVMTags(ctx, &vm, nil, hangar.IfMatch(vm.ETag)); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
				t.Fatalf("tags under a stale ETag: %v", err)
			}
			gotVM, _ := f.db.VMByName(ctx, f.owner.ID, "v")
			vms, _ := f.db.ListVMs(ctx, f.owner.ID)
			if !reflect.DeepEqual(gotVM.Tags, tags) || gotVM.ETag == vm.ETag || !reflect.DeepEqual(vms[0].Tags, tags) {
				t.Fatalf("VM %+v, listed %+v", gotVM.Tags, vms)
			}
		})
	}
}
