package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// leftovers lists the temp files WriteFile left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFileWritesWholeContentWithMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.id")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than one write syscall's worth on some systems
	if err := WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, want the %d written", len(got), len(data))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temp files left behind: %v", l)
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host.name")
	if err := WriteFile(path, []byte("old-host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "new-host\n" {
		t.Fatalf("content %q, want the new one", got)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
}

// A write that fails at the rename (the target is a non-empty directory) leaves
// the target as it was and no temp file: nothing partial is ever visible.
func TestWriteFileFailureLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "admin.key")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, []byte("hgr_secret\n"), 0o600); err == nil {
		t.Fatal("writing over a non-empty directory succeeded")
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		t.Fatalf("the target changed: %v %v", fi, err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temp files left behind after a failed write: %v", l)
	}
}

// A write into a missing directory fails before anything is created.
func TestWriteFileMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "nope", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temp files left behind: %v", l)
	}
}

func TestRenameMovesAcrossDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	from, to := filepath.Join(dir, "tmp", "x"), filepath.Join(dir, "x")
	if err := os.WriteFile(from, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(from, to); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(from); !os.IsNotExist(err) {
		t.Errorf("source still there: %v", err)
	}
	if got, _ := os.ReadFile(to); string(got) != "data" {
		t.Errorf("target holds %q", got)
	}
}

func TestMkdirAll(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")
	if err := MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Fatalf("not made: %v", err)
	}
	if err := MkdirAll(deep, 0o700); err != nil {
		t.Errorf("second call: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirAll(filepath.Join(file, "sub"), 0o700); err == nil {
		t.Error("made a directory under a file")
	}
	if err := MkdirAll(file, 0o700); err == nil {
		t.Error("MkdirAll of an existing file succeeded")
	}
}
