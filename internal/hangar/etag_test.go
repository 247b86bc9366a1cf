package hangar

import "testing"

func TestIfMatch(t *testing.T) {
	const id = "0123abcd"
	tests := []struct {
		header  string
		invalid bool
		rev     int64 // what Revision(id) asks for
		cond    bool  // whether it asks for one
	}{
		{header: ""},
		{header: "*"},
		{header: ETag(id, 3), rev: 3, cond: true},
		{header: ` "3-0123abcd" `, rev: 3, cond: true},
		{header: `"3-someoneelse"`, rev: 0, cond: true}, // another resource's tag never matches
		{header: `W/"3-0123abcd"`, rev: 0, cond: true},  // If-Match compares strongly
		{header: `"x-0123abcd"`, rev: 0, cond: true},
		{header: `"0-0123abcd"`, rev: 0, cond: true},
		{header: `"opaque"`, rev: 0, cond: true},
		{header: `3-0123abcd`, invalid: true},
		{header: `"3-0123abcd", "4-0123abcd"`, invalid: true},
		{header: `"a"b"`, invalid: true},
		{header: `"`, invalid: true},
	}
	for _, tt := range tests {
		p, err := ParseIfMatch(tt.header)
		if (err != nil) != tt.invalid {
			t.Errorf("ParseIfMatch(%q): %v, want invalid=%v", tt.header, err, tt.invalid)
			continue
		}
		if tt.invalid {
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("ParseIfMatch(%q): code %s", tt.header, ErrorCode(err))
			}
			continue
		}
		if rev, cond := p.Revision(id); rev != tt.rev || cond != tt.cond {
			t.Errorf("ParseIfMatch(%q).Revision = %d, %v; want %d, %v", tt.header, rev, cond, tt.rev, tt.cond)
		}
	}
	if IfMatch("3-"+id) != IfMatch(ETag(id, 3)) {
		t.Error("IfMatch without quotes differs from with them")
	}
	if err := IfMatch(ETag(id, 3)).Check("image \"x\"", ETag(id, 4)); ErrorCode(err) != CodePreconditionFailed {
		t.Errorf("Check of a stale tag: %v", err)
	}
	for _, p := range []Precondition{{}, IfMatch("*"), IfMatch(ETag(id, 4))} {
		if err := p.Check("image \"x\"", ETag(id, 4)); err != nil {
			t.Errorf("Check(%q): %v", p, err)
		}
	}
}
