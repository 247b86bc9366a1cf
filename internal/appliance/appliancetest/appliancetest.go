// Package appliancetest gives tests a built appliance: the one $HANGAR_APPLIANCE
// names (make test builds it once), else one built from this tree, once per test
// binary, with images/appliance/build.sh.
package appliancetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once     sync.Once
	dir      string
	buildErr string
)

// Dir returns the directory holding the appliance's vmlinuz and initrd.img.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("HANGAR_APPLIANCE"); d != "" {
		return d
	}
	once.Do(build)
	if buildErr != "" {
		t.Fatalf("building the appliance: %s", buildErr)
	}
	return dir
}

func build() {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..")
	tmp, err := os.MkdirTemp("", "hangar-appliance-test-")
	if err != nil {
		buildErr = err.Error()
		return
	}
	agent := filepath.Join(tmp, "hangar-agent")
	steps := []*exec.Cmd{
		exec.Command("go", "build", "-o", agent, "./cmd/hangar-agent"),
		exec.Command(filepath.Join(repo, "images", "appliance", "build.sh"), "--agent", agent, "--out", filepath.Join(tmp, "appliance")),
	}
	for _, cmd := range steps {
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err.Error() + "\n" + string(out)
			return
		}
	}
	dir = filepath.Join(tmp, "appliance")
}
