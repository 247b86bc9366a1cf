package dirstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/chunkstest"
)

func TestConformance(t *testing.T) {
	chunkstest.Run(t, func(t *testing.T) chunks.Backend {
		d, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestOpenRemovesTempFiles(t *testing.T) {
	root := t.TempDir()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(root, "tmp", "abc-123")
	if err := os.WriteFile(stray, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("temp file left by a crash survived Open: %v", err)
	}
}

func TestRejectsPathNames(t *testing.T) {
	d, _ := Open(t.TempDir())
	for _, name := range []string{"../x", "ab/cd", "..", "a"} {
		if err := d.Save(t.Context(), name, []byte("x")); err == nil {
			t.Errorf("Save(%q) accepted a name that is not a plain object name", name)
		}
	}
}

// Saves leave nothing in DIR/tmp and put each object in its fan-out directory,
// created by the first save that needs it.
func TestSaveLeavesNoTempFiles(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, name := range []string{"abc1", "abc2", "cde3"} {
		if err := d.Save(ctx, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(root, name[:2], name)); err != nil || string(got) != name {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "tmp")); len(entries) != 0 {
		t.Errorf("temp files left: %v", entries)
	}
}
