package store

import (
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestListImagesLatest: each listed image names the version that "latest" resolves
// to (the highest one not excluded from latest), or none when every version is
// excluded, exactly as Version finds it.
func TestListImagesLatest(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			im := f.image(t, "app") // 1.0.0
			f.image(t, "solo")      // 1.0.0, then excluded
			for _, v := range []string{"1.10.0", "1.2.0", "2.0.0"} {
				f.disk(t, "app-"+v)
				req := hangar.ImageCreate{Name: "app", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: v, OSDisk: "app-" + v}
				if err := req.Normalize(); err != nil {
					t.Fatal(err)
				}
				if _, err := f.db.CreateImageVersion(ctx, f.owner.ID, &req); err != nil {
					t.Fatal(err)
				}
			}
			exclude := true
			if err := f.db.UpdateVersion(ctx, &im, hangar.Version{Major: 2}, hangar.ImageVersionUpdate{ExcludeFromLatest: &exclude}, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			solo, _ := f.db.ImageByName(ctx, f.owner.ID, "solo")
			if err := f.db.UpdateVersion(ctx, &solo, hangar.Version{Major: 1}, hangar.ImageVersionUpdate{ExcludeFromLatest: &exclude}, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			list, err := f.db.ListImages(ctx, "own", f.owner.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range list {
				got[s.Name] = s.Latest
				if s.Name == "app" && s.Versions != 4 {
					t.Errorf("app has %d versions", s.Versions)
				}
			}
			if got["app"] != "1.10.0" || got["solo"] != "" {
				t.Fatalf("latest versions listed: %v (want app 1.10.0, solo none)", got)
			}
		})
	}
}
