package hangar

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is an image version, Major.Minor.Patch, each part a 32-bit unsigned integer.
type Version struct {
	Major, Minor, Patch uint32
}

// Latest is the version word that resolves to the highest version not excluded from latest.
const Latest = "latest"

// ParseVersion parses "Major.Minor.Patch".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, Errorf(CodeInvalid, "version %q must have the form Major.Minor.Patch, for example 1.0.0", s)
	}
	var n [3]uint32
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, Errorf(CodeInvalid, "version %q: part %q is not a decimal number without leading zeros", s, p)
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return Version{}, Errorf(CodeInvalid, "version %q: part %q is out of range (each part is at most 4294967295)", s, p)
		}
		n[i] = uint32(v)
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Compare orders versions numerically: -1 if v < w, 0 if equal, +1 if v > w.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	return cmp.Compare(v.Patch, w.Patch)
}

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, strictly.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
