package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/appliance/appliancetest"
	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

// TestGeneralizeRunsNothingOnHost: a tenant's disk whose file names were built to
// break out of the offline generalizer's tool script (the debugfs injection:
// docs/SECURITY.md) is generalized, locally and on the server, and no command of
// the guest's runs on the host.
func TestGeneralizeRunsNothingOnHost(t *testing.T) {
	needVMTools(t)
	t.Setenv("HANGAR_APPLIANCE", appliancetest.Dir(t))
	gentest.NeedTools(t, "mkfs.ext4", "sfdisk")
	home := t.TempDir()
	t.Setenv("HOME", home) // the server and the CLI run with it
	marker := fmt.Sprintf("hangar-pwned-%d", os.Getpid())
	tree := gentest.Tree(t, []gentest.Entry{
		{Path: "/etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/bin/sh\n"},
		{Path: "/etc/hostname", Mode: 0o644, Data: "victim\n"},
	})
	gentest.DebugfsInjection(t, tree, marker)
	disk := gentest.Disk(t, "gpt", false, gentest.Part{SizeMiB: 32, Type: gentest.LinuxRoot, Image: gentest.Ext4(t, tree, 32, "root", "")})

	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", disk, "--name", "hostile")
	var res struct {
		Disk    struct{ Name string } `json:"disk"`
		Changes []string              `json:"changes"`
	}
	s.json(alice, &res, "disk", "generalize", "hostile")
	if res.Disk.Name != "hostile-generalized" {
		t.Fatalf("server-side generalize: %+v", res)
	}
	s.ok(alice, "disk", "generalize", "--local", disk)
	cwd, _ := os.Getwd()
	for _, dir := range []string{home, cwd, "/root", "/"} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			os.Remove(filepath.Join(dir, marker))
			t.Fatalf("the guest's file name ran a command on the host: %s appeared in %s", marker, dir)
		}
	}
}
