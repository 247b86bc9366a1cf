package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/appliance/appliancetest"
)

func TestDiskGeneralizeCmd(t *testing.T) {
	t.Setenv("HANGAR_APPLIANCE", appliancetest.Dir(t)) // --local boots it
	dir := t.TempDir()
	qcow := filepath.Join(dir, "d.qcow2")
	os.WriteFile(qcow, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 4096)...), 0o644)
	zeros := filepath.Join(dir, "zeros.raw")
	os.WriteFile(zeros, make([]byte, 1<<20), 0o644)
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{nil, "name a stored disk, or a local raw file with --local FILE"},
		{[]string{"--local", zeros, "web-os"}, "not both"},
		{[]string{"--local", qcow}, "is a qcow2 file; generalize edits raw disk images only: convert it first with `hangar disk convert " + qcow + " OUT.raw --format raw`"},
		{[]string{"--local", zeros, "--dry-run", "--accel", "tcg"}, "no partition table"},
	} {
		cmd := newDiskGeneralizeCmd(&globals{output: "table"})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: %v, want ...%s...", tt.args, err, tt.msg)
		}
	}
}
