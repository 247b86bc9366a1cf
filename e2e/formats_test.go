package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUploadEveryFormat converts one sparse disk with qemu-img into every format it
// writes, uploads each (chunked, and as one stream), downloads the stored disk and
// has qemu-img compare it with the source.
func TestUploadEveryFormat(t *testing.T) {
	needQemuImg(t)
	s := startServer(t)
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 30 << 20
	writeDisk(t, src, size, 11, map[int64]int64{512: 70000, 6<<20 + 999: 2 << 20, 17 << 20: 4096, size - 512: 512})
	formats := []struct {
		name, qemuFormat string
		opts             []string
	}{
		{"vpc-fixed", "vpc", []string{"-o", "subformat=fixed,force_size"}},
		{"vpc-dynamic", "vpc", []string{"-o", "subformat=dynamic,force_size"}},
		{"vhdx", "vhdx", nil},
		{"qcow2", "qcow2", nil},
		{"qcow2-zlib", "qcow2", []string{"-c"}},
		{"qcow2-v2", "qcow2", []string{"-o", "compat=0.10"}},
		{"vmdk-sparse", "vmdk", []string{"-o", "subformat=monolithicSparse"}},
		{"vmdk-stream", "vmdk", []string{"-o", "subformat=streamOptimized"}},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			img := filepath.Join(dir, f.name+".img")
			args := append([]string{"convert", "-f", "raw", "-O", f.qemuFormat}, f.opts...)
			qemuImg(t, append(args, src, img)...)
			var d diskJSON
			s.json(alice, &d, "disk", "upload", img, "--name", f.name)
			if d.VirtualSize < size {
				t.Fatalf("virtual size %d, want at least %d", d.VirtualSize, size)
			}
			out := filepath.Join(dir, f.name+".raw")
			s.ok(alice, "disk", "download", f.name, "--format", "raw", "--file", out)
			qemuImg(t, "compare", "-f", "raw", "-F", "raw", src, out)

			body, _ := os.Open(img)
			defer body.Close()
			if r := s.api(alice, "PUT", "/v1/disks/"+f.name+"-stream", body); r.status != 201 {
				t.Fatalf("stream upload: %d %s", r.status, r.body)
			}
			out2 := filepath.Join(dir, f.name+"-stream.raw")
			s.ok(alice, "disk", "download", f.name+"-stream", "--format", "raw", "--file", out2)
			qemuImg(t, "compare", "-f", "raw", "-F", "raw", src, out2)
		})
	}
}

// TestLocalInspectAndConvert drives the server-less commands.
func TestLocalInspectAndConvert(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeDisk(t, src, 21<<20+512, 12, map[int64]int64{0: 5000, 20 << 20: 8192})
	s := &server{t: t, home: t.TempDir()} // no server: these commands work locally

	var in struct {
		Format       string `json:"format"`
		VirtualSize  int64  `json:"virtualSize"`
		AzureReady   bool   `json:"azureReady"`
		AzureProblem string `json:"azureProblem"`
	}
	s.json("", &in, "disk", "inspect", src)
	if in.Format != "raw" || in.VirtualSize != 21<<20+512 || in.AzureReady || !strings.Contains(in.AzureProblem, "fixed vhd") {
		t.Fatalf("inspect raw: %+v", in)
	}
	vhd := filepath.Join(dir, "out.vhd")
	out := s.ok("", "disk", "convert", src, vhd, "--format", "vhd")
	if !strings.Contains(out, "Azure would refuse it") || !strings.Contains(out, "whole number of MiB") {
		t.Fatalf("convert to a non-MiB VHD did not warn: %s", out)
	}
	s.ok("", "disk", "convert", src, vhd, "--format", "vhd", "--resize-to-mib", "22")
	s.json("", &in, "disk", "inspect", vhd)
	if in.Format != "vhd-fixed" || in.VirtualSize != 22<<20 || !in.AzureReady {
		t.Fatalf("inspect of the resized VHD: %+v", in)
	}
	if got := qemuInfo(t, "vpc", vhd); got != 22<<20 {
		t.Fatalf("qemu-img sees %d bytes", got)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "vpc", src, vhd) // the grown tail reads as zeros
	for _, f := range []struct{ format, qemu string }{{"qcow2", "qcow2"}, {"vhd-dynamic", "vpc"}, {"raw", "raw"}} {
		o := filepath.Join(dir, "out."+f.format)
		s.ok("", "disk", "convert", vhd, o, "--format", f.format)
		qemuImg(t, "compare", "-f", "vpc", "-F", f.qemu, vhd, o)
	}
	if msg := s.fails("", "disk", "convert", src, vhd, "--format", "vhd", "--resize-to-mib", "1"); !strings.Contains(msg, "cannot shrink") {
		t.Fatalf("shrinking over data: %s", msg)
	}
	bad := filepath.Join(dir, "bad.qcow2")
	os.WriteFile(bad, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1000)...), 0o644)
	if msg := s.fails("", "disk", "inspect", bad); !strings.Contains(msg, "cluster bits") {
		t.Fatalf("inspect of a broken qcow2: %s", msg)
	}
	if msg := s.fails("", "disk", "convert", bad, filepath.Join(dir, "never.vhd")); msg == "" {
		t.Fatal("no message converting a broken file")
	}
	if _, err := os.Stat(filepath.Join(dir, "never.vhd")); !os.IsNotExist(err) {
		t.Fatal("a failed conversion left an output file")
	}
}
