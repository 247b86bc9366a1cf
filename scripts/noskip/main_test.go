package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ev := func(action, test, output string) string {
		return `{"Action":"` + action + `","Package":"p","Test":"` + test + `","Output":` + quote(output) + "}\n"
	}
	tests := []struct {
		name          string
		stream        string
		allow         string
		failed, skips []string
	}{
		{"all pass", ev("run", "TestA", "") + ev("pass", "TestA", "") + ev("output", "", "ok  \tp\t0.1s\n") + ev("pass", "", ""), "", nil, nil},
		{"a failure", ev("output", "TestA", "boom\n") + ev("fail", "TestA", "") + ev("fail", "", ""), "", []string{"p TestA", "p"}, nil},
		{"a skip fails", ev("output", "TestA", "qemu-img not installed\n") + ev("skip", "TestA", "") + ev("pass", "", ""), "", nil, []string{"p TestA"}},
		{"a skipped subtest fails", ev("skip", "TestA/sub", "") + ev("pass", "TestA", "") + ev("pass", "", ""), "", nil, []string{"p TestA/sub"}},
		{"an allowed skip", ev("output", "TestVM", "HANGAR_E2E_SKIP_VMS: ran on the other pass\n") + ev("skip", "TestVM", "") + ev("pass", "", ""), "HANGAR_E2E_SKIP_VMS", nil, nil},
		{"another skip is not allowed", ev("output", "TestVM", "no QEMU\n") + ev("skip", "TestVM", "") + ev("pass", "", ""), "HANGAR_E2E_SKIP_VMS", nil, []string{"p TestVM"}},
		{"no test files is no skip", ev("output", "", "?   \tp\t[no test files]\n") + ev("skip", "", ""), "", nil, nil},
		{"a build failure", `{"Action":"build-fail","Package":"p"}` + "\n", "", []string{"p"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var allowed *regexp.Regexp
			if tt.allow != "" {
				allowed = regexp.MustCompile(tt.allow)
			}
			var out strings.Builder
			r := check(strings.NewReader(tt.stream), &out, allowed)
			if !slices.Equal(r.failed, tt.failed) || !slices.Equal(r.skipped, tt.skips) {
				t.Fatalf("failed %q skipped %q; want %q and %q\noutput:\n%s", r.failed, r.skipped, tt.failed, tt.skips, out.String())
			}
		})
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}
