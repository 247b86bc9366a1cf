package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

// TestReplaceFileKeepsXattrs: a rewritten file keeps its extended attributes
// (an SELinux label on /etc/shadow must survive deprovisioning).
func TestReplaceFileKeepsXattrs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.note", []byte("kept"), 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", filepath.Dir(p), err)
	}
	if err := replaceFile(p, []byte("new"), 0o600, rootOwner); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := unix.Getxattr(p, "user.note", buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("user.note after replaceFile: %q, %v", buf[:n], err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
}

// TestRemoveTreeDeeperThanPathMax: a guest's /tmp may hold a tree whose paths are
// longer than PATH_MAX; deprovisioning removes it all the same.
func TestRemoveTreeDeeperThanPathMax(t *testing.T) {
	top := filepath.Join(t.TempDir(), "tmp", "deep")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	gentest.DeepTree(t, top, 40, strings.Repeat("d", 250), "leaf")
	if err := removeTree(top); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(top); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
}
