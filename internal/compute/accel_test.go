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

// TestProbeSectorRunsUnderTCG boots the probe sector under TCG: it must print OK,
// or the KVM probe could never succeed.
func TestProbeSectorRunsUnderTCG(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	img := filepath.Join(t.TempDir(), "probe.img")
	os.WriteFile(img, probeSector, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "pc,accel=tcg", "-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio", "-drive", "file="+img+",format=raw,if=ide", "-m", "16")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for !bytes.Contains(out.Bytes(), []byte("OK")) {
		if ctx.Err() != nil {
			t.Fatalf("the probe sector printed %q, not OK", out.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
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
