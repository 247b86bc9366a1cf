package compute

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestProbeSectorRunsUnderTCG boots the probe sector under TCG with the probe's own
// code: it must print OK, or the KVM probe could never succeed.
func TestProbeSectorRunsUnderTCG(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	if !probeBoot(context.Background(), qemu, "tcg", 60*time.Second) {
		t.Fatal("the probe sector did not print OK under TCG")
	}
}

// TestProbeSectorMatchesSource re-assembles testdata/probe.S when binutils are there.
func TestProbeSectorMatchesSource(t *testing.T) {
	if _, err := exec.LookPath("as"); err != nil {
		t.Skip("binutils not installed")
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "probe.o"), filepath.Join(dir, "probe.bin")
	if out, err := exec.Command("as", "--32", "-o", obj, "testdata/probe.S").CombinedOutput(); err != nil {
		t.Fatalf("as: %v %s", err, out)
	}
	if out, err := exec.Command("ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", bin, obj).CombinedOutput(); err != nil {
		t.Fatalf("ld: %v %s", err, out)
	}
	got, _ := os.ReadFile(bin)
	if !bytes.Equal(got, probeSector) {
		t.Fatal("probeSector differs from testdata/probe.S; paste the new bytes into accel.go")
	}
}
