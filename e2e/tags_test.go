package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTags: tags on disks, images and image versions, set when made or later,
// found with list --tag, changed only by their owner (and only under If-Match when
// asked), and never shown to a tenant an image is shared with.
func TestTags(t *testing.T) {
	s := startServer(t)
	alice, bob := s.tenant("alice"), s.tenant("bob")
	src := filepath.Join(t.TempDir(), "web.raw")
	writeDisk(t, src, 8<<20, 3, map[int64]int64{0: 1 << 20})
	s.ok(alice, "disk", "upload", src, "--name", "web-os", "--tags", "env=prod", "--tags", "team=web")
	s.uploadDisk(alice, "db-os", 4)
	names := func(args ...string) string {
		t.Helper()
		var list []struct{ Name string }
		s.json(alice, &list, args...)
		var out []string
		for _, x := range list {
			out = append(out, x.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		filter []string
		want   string
	}{
		{nil, "db-os web-os"},
		{[]string{"--tag", "env=prod"}, "web-os"},
		{[]string{"--tag", "team"}, "web-os"},
		{[]string{"--tag", "env=prod", "--tag", "team=db"}, ""},
	} {
		if got := names(append([]string{"disk", "list"}, tc.filter...)...); got != tc.want {
			t.Errorf("disk list %v: %q, want %q", tc.filter, got, tc.want)
		}
	}

	osImage(s, alice, "web", "web-os", "--version", "1.0.0", "--tags", "tier=frontend")
	osImage(s, alice, "db", "db-os", "--version", "1.0.0")
	s.ok(alice, "image", "tag", "web", "--version", "1.0.0", "release=stable")
	if got := names("image", "list", "--tag", "tier=frontend"); got != "web" {
		t.Errorf("image list --tag tier=frontend: %q", got)
	}
	var im struct {
		Tags     map[string]string
		Versions []struct{ Tags map[string]string }
	}
	s.json(alice, &im, "image", "show", "web")
	if im.Tags["tier"] != "frontend" || len(im.Versions) != 1 || im.Versions[0].Tags["release"] != "stable" {
		t.Fatalf("image web as its owner sees it: %+v", im)
	}
	s.ok(alice, "image", "share", "web", "--tenant", "bob")
	im.Tags, im.Versions = nil, nil
	s.json(bob, &im, "image", "show", "shared/alice/web")
	if im.Tags != nil || len(im.Versions) != 1 || im.Versions[0].Tags != nil {
		t.Errorf("bob sees alice's tags on the image she shared: %+v", im)
	}

	// Only the owner tags; a bad tag is the command line's fault; If-Match holds.
	if msg := s.fails(bob, "disk", "tag", "web-os", "x=y"); !strings.Contains(msg, "not found") {
		t.Errorf("bob tagging alice's disk: %s", msg)
	}
	_, errOut, err := s.hangar(alice, "disk", "tag", "web-os", "a/b=c")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(errOut, "not allowed in a key") {
		t.Errorf("a key with a slash: %v, %s", err, errOut)
	}
	if r := s.request(alice, "PUT", "/v1/disks/web-os/tags", strings.NewReader(`{"tags":{"x":"y"}}`), map[string]string{"If-Match": `"stale"`}); r.status != 412 {
		t.Errorf("tags under a stale If-Match: %d %s", r.status, r.body)
	}
	s.ok(alice, "disk", "tag", "web-os") // no pairs: remove them all
	if got := names("disk", "list", "--tag", "env"); got != "" {
		t.Errorf("disk list --tag env after the tags were removed: %q", got)
	}
}
