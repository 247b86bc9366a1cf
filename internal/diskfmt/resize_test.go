package diskfmt

import (
	"bytes"
	"io"
	"testing"
)

func TestResize(t *testing.T) {
	img := make([]byte, 4096)
	img[10], img[4095] = 1, 2
	d, err := Open(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	big, err := Resize(d, 8192)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8192)
	if n, err := big.ReadAt(got, 0); n != 8192 || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !bytes.Equal(got[:4096], img) || !bytes.Equal(got[4096:], make([]byte, 4096)) {
		t.Fatal("grown disk does not read as the original followed by zeros")
	}
	if big.VirtualSize() != 8192 {
		t.Fatalf("VirtualSize = %d", big.VirtualSize())
	}
	if _, err := Resize(d, 2048); err == nil {
		t.Fatal("shrinking over allocated data was accepted")
	}
	if _, err := Resize(d, 1000); err == nil {
		t.Fatal("a size that is not whole sectors was accepted")
	}
}
