package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/buildinfo"
)

// TestVersion: hangar version and --version need no server and name the build.
func TestVersion(t *testing.T) {
	res := runCLI(t, newGlobals(), nil, "", "version", "-o", "json")
	var v buildinfo.Info
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &v) != nil || v.Version == "" || v.Go != runtime.Version() {
		t.Fatalf("hangar version -o json: %+v", res)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		res := runCLI(t, newGlobals(), nil, "", args...)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "hangar "+v.Version) || !strings.Contains(res.stdout, runtime.Version()) {
			t.Errorf("hangar %v: %+v", args, res)
		}
	}
}
