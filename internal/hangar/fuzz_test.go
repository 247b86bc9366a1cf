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

// FuzzParseIfMatch checks that any If-Match header either fails with InvalidArgument
// or parses into a precondition that reads back as itself and asks a revision of no
// resource it does not name.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{"", "*", `"3-abc"`, `W/"3-abc"`, `"3-abc", "4-abc"`, `"-"`, `"9223372036854775808-abc"`, `"01-abc"`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIfMatch(s)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("ParseIfMatch(%q): error without InvalidArgument code: %v", s, err)
			}
			return
		}
		if p2, err := ParseIfMatch(p.String()); err != nil || p2 != p {
			t.Fatalf("ParseIfMatch(%q) = %q does not parse back: %v", s, p, err)
		}
		if rev, ok := p.Revision("abc"); ok && rev != 0 && p.String() != ETag("abc", rev) {
			t.Fatalf("%q asks for revision %d of a resource it does not name", s, rev)
		}
	})
}
