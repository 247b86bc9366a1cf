package hangar

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRef checks that any reference either fails with an InvalidArgument error
// or parses into a form whose canonical text parses back to the same reference.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"web", "web@1.2.3", "shared/alice/web@latest", "community/acme/web/1.0.0",
		"Canonical:Ubuntu:22_04:latest", "a:b:c:4294967295.0.0", "", "@", "community//", "x@01.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("ParseRef(%q): error without InvalidArgument code: %v", s, err)
			}
			return
		}
		canon := r.String()
		r2, err := ParseRef(canon)
		if err != nil || r2.String() != canon {
			t.Fatalf("canonical form %q of %q does not parse back: %v", canon, s, err)
		}
		if !utf8.ValidString(canon) || strings.ContainsAny(canon, " \t\n\x00\\") {
			t.Fatalf("canonical form %q holds characters names may not", canon)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "4294967295.4294967295.4294967295", "1.0", "01.0.0", "-1.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("ParseVersion(%q) = %v: accepted a non-canonical version", s, v)
		}
	})
}
