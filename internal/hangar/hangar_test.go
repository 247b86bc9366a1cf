package hangar

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.0.0", Version{1, 0, 0}, true},
		{"4294967295.0.1", Version{4294967295, 0, 1}, true},
		{"4294967296.0.0", Version{}, false},
		{"1.0", Version{}, false},
		{"1.0.0.0", Version{}, false},
		{"01.0.0", Version{}, false},
		{"-1.0.0", Version{}, false},
		{"1.a.0", Version{}, false},
		{"", Version{}, false},
		{"1..0", Version{}, false},
		{"+1.0.0", Version{}, false},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if (Version{1, 10, 0}).Compare(Version{1, 9, 99}) != 1 {
		t.Error("versions must order numerically")
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		kind RefKind
		want string // canonical form; "" when invalid
	}{
		{"Canonical:Ubuntu:22_04-lts:latest", RefMarketplace, "Canonical:Ubuntu:22_04-lts:latest"},
		{"Canonical:Ubuntu:22_04-lts:1.2.3", RefMarketplace, "Canonical:Ubuntu:22_04-lts:1.2.3"},
		{"Canonical:Ubuntu:latest", RefInvalid, ""},
		{"a:b:c:d:e", RefInvalid, ""},
		{"a:b:c:1.2", RefInvalid, ""},
		{"community/acme/web", RefCommunity, "community/acme/web/latest"},
		{"community/acme/web/2.0.0", RefCommunity, "community/acme/web/2.0.0"},
		{"community/acme", RefInvalid, ""},
		{"community/../web", RefInvalid, ""},
		{"myimage", RefOwn, "myimage@latest"},
		{"myimage@1.0.0", RefOwn, "myimage@1.0.0"},
		{"myimage@latest", RefOwn, "myimage@latest"},
		{"myimage@1.0", RefInvalid, ""},
		{"shared/alice/web@1.0.0", RefShared, "shared/alice/web@1.0.0"},
		{"shared/alice", RefInvalid, ""},
		{"../etc/passwd", RefInvalid, ""},
		{"bad\x00name", RefInvalid, ""},
		{"", RefInvalid, ""},
	}
	for _, tt := range tests {
		r, err := ParseRef(tt.in)
		if tt.kind == RefInvalid {
			if err == nil {
				t.Errorf("ParseRef(%q) = %+v, want error", tt.in, r)
			} else if ErrorCode(err) != CodeInvalid {
				t.Errorf("ParseRef(%q) error code %s, want %s", tt.in, ErrorCode(err), CodeInvalid)
			}
			continue
		}
		if err != nil || r.Kind != tt.kind || r.String() != tt.want {
			t.Errorf("ParseRef(%q) = %v %q, %v; want %v %q", tt.in, r.Kind, r.String(), err, tt.kind, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "web-server_1.2", "A9"} {
		if err := ValidateName("disk", ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", `a\b`, "..", ".hidden", "-x", "a b", "a\nb", "a\x7fb", string(make([]byte, 81))} {
		if err := ValidateName("disk", bad); err == nil {
			t.Errorf("ValidateName(%q) accepted a bad name", bad)
		}
	}
}

func TestImageCreateNormalize(t *testing.T) {
	base := func() ImageCreate {
		return ImageCreate{Name: "img", Type: ImageTypeVM, OSType: OSLinux, OSState: Specialized, OSDisk: "os"}
	}
	tests := []struct {
		name string
		mod  func(*ImageCreate)
		ok   bool
	}{
		{"vm specialized", func(*ImageCreate) {}, true},
		{"vm with data disks", func(r *ImageCreate) { r.DataDisks = []DataDiskSpec{{1, "d1"}, {0, "d0"}} }, true},
		{"duplicate lun", func(r *ImageCreate) { r.DataDisks = []DataDiskSpec{{1, "d1"}, {1, "d0"}} }, false},
		{"lun out of range", func(r *ImageCreate) { r.DataDisks = []DataDiskSpec{{64, "d1"}} }, false},
		{"os generalized", func(r *ImageCreate) { r.Type, r.OSState = ImageTypeOS, Generalized }, true},
		{"os specialized", func(r *ImageCreate) { r.Type = ImageTypeOS }, false},
		{"os with data disk", func(r *ImageCreate) {
			r.Type, r.OSState, r.DataDisks = ImageTypeOS, Generalized, []DataDiskSpec{{0, "d"}}
		}, false},
		{"no os disk", func(r *ImageCreate) { r.OSDisk = "" }, false},
		{"bad generation", func(r *ImageCreate) { r.HyperVGeneration = "V3" }, false},
		{"bad version", func(r *ImageCreate) { r.Version = "1.2.99999999999" }, false},
		{"bad eol", func(r *ImageCreate) { r.EndOfLife = "next year" }, false},
	}
	for _, tt := range tests {
		r := base()
		tt.mod(&r)
		err := r.Normalize()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Normalize() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	r := base()
	r.DataDisks = []DataDiskSpec{{3, "c"}, {1, "a"}}
	r.Normalize()
	if r.DataDisks[0].LUN != 1 || r.HyperVGeneration != "V1" || r.Version != "1.0.0" {
		t.Errorf("defaults/sort not applied: %+v", r)
	}
}

// TestCodeOfStatus: reading a status back gives a code the server answers that
// status with, for every code, so the client and the server share one table.
func TestCodeOfStatus(t *testing.T) {
	all := []Code{CodeInvalid, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeDiskNotFound, CodeImageNotFound,
		CodeTenantNotFound, CodeUploadNotFound, CodeConflict, CodeInUse, CodePreconditionFailed, CodeTermsNotAccepted,
		CodeInvalidDisk, CodeTooLarge, CodeQuotaExceeded, CodeUnavailable, CodeUnsupportedMedia, CodeMethodNotAllowed, CodeInternal}
	for _, c := range all {
		back := CodeOfStatus(c.HTTPStatus())
		if back.HTTPStatus() != c.HTTPStatus() {
			t.Errorf("%s answers %d, read back as %s (%d)", c, c.HTTPStatus(), back, back.HTTPStatus())
		}
	}
	for status, want := range map[int]Code{404: CodeNotFound, 502: CodeUnavailable, 504: CodeUnavailable, 418: CodeInternal} {
		if got := CodeOfStatus(status); got != want {
			t.Errorf("CodeOfStatus(%d) = %s, want %s", status, got, want)
		}
	}
}
