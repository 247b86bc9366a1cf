package hangar

import "strings"

// RefKind says which source an image reference points into.
type RefKind int

// Reference kinds. The zero value is invalid.
const (
	RefInvalid RefKind = iota
	RefMarketplace
	RefCommunity
	RefOwn
	RefShared
)

func (k RefKind) String() string {
	switch k {
	case RefMarketplace:
		return "marketplace"
	case RefCommunity:
		return "community"
	case RefOwn:
		return "own"
	case RefShared:
		return "shared"
	}
	return "invalid"
}

// Ref is a parsed image reference. One of:
//
//	Publisher:Offer:Sku:Version              marketplace URN (Version may be "latest")
//	community/PUBLICNAME/IMAGE[/VERSION]     community repository
//	NAME[@VERSION]                           the tenant's own image
//	shared/OWNERTENANT/NAME[@VERSION]        an image shared with the tenant
//
// Version nil means latest.
type Ref struct {
	Kind RefKind
	// Marketplace parts.
	Publisher, Offer, SKU string
	// PublicName is the community gallery prefix; Owner the sharing tenant.
	PublicName, Owner string
	// Name is the image name (community, own, shared).
	Name    string
	Version *Version
}

// ParseRef parses an image reference, with a message that says which form was meant
// and what is wrong with it.
func ParseRef(s string) (Ref, error) {
	switch {
	case strings.Contains(s, ":"):
		u, err := ParseURN(s)
		if err != nil {
			return Ref{}, err
		}
		return u.Ref(), nil
	case strings.HasPrefix(s, "community/"):
		parts := strings.Split(s, "/")
		if len(parts) != 3 && len(parts) != 4 {
			return Ref{}, Errorf(CodeInvalid, "community reference %q must be community/PUBLICNAME/IMAGE or community/PUBLICNAME/IMAGE/VERSION", s)
		}
		r := Ref{Kind: RefCommunity, PublicName: parts[1], Name: parts[2]}
		if err := validateParts(&r, "community public", parts[1], parts[2]); err != nil {
			return Ref{}, err
		}
		if len(parts) == 4 {
			v, err := parseVersionOrLatest(parts[3])
			if err != nil {
				return Ref{}, err
			}
			r.Version = v
		}
		return r, nil
	case strings.HasPrefix(s, "shared/"):
		parts := strings.Split(s, "/")
		if len(parts) != 3 {
			return Ref{}, Errorf(CodeInvalid, "shared reference %q must be shared/OWNERTENANT/NAME[@VERSION]", s)
		}
		name, v, err := splitAt(parts[2])
		if err != nil {
			return Ref{}, err
		}
		r := Ref{Kind: RefShared, Owner: parts[1], Name: name, Version: v}
		return r, validateParts(&r, "tenant", parts[1], name)
	}
	name, v, err := splitAt(s)
	if err != nil {
		return Ref{}, err
	}
	if err := ValidateName("image", name); err != nil {
		return Ref{}, Errorf(CodeInvalid, "%q is not an image reference: use NAME[@VERSION], shared/TENANT/NAME, community/PUBLICNAME/IMAGE or PUBLISHER:OFFER:SKU:VERSION", s)
	}
	return Ref{Kind: RefOwn, Name: name, Version: v}, nil
}

func validateParts(r *Ref, prefixKind, prefix, name string) error {
	if err := ValidateName(prefixKind, prefix); err != nil {
		return err
	}
	return ValidateName("image", name)
}

func splitAt(s string) (string, *Version, error) {
	name, ver, found := strings.Cut(s, "@")
	if !found {
		return name, nil, nil
	}
	v, err := parseVersionOrLatest(ver)
	return name, v, err
}

func parseVersionOrLatest(s string) (*Version, error) {
	if strings.EqualFold(s, Latest) {
		return nil, nil
	}
	v, err := ParseVersion(s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// String gives the canonical text form of the reference.
func (r Ref) String() string {
	ver := Latest
	if r.Version != nil {
		ver = r.Version.String()
	}
	switch r.Kind {
	case RefMarketplace:
		return r.Publisher + ":" + r.Offer + ":" + r.SKU + ":" + ver
	case RefCommunity:
		return "community/" + r.PublicName + "/" + r.Name + "/" + ver
	case RefShared:
		return "shared/" + r.Owner + "/" + r.Name + "@" + ver
	case RefOwn:
		return r.Name + "@" + ver
	}
	return ""
}

// URN is a marketplace image URN, Publisher:Offer:Sku:Version.
type URN struct {
	Publisher, Offer, SKU string
	Version               *Version // nil means latest
}

// ParseURN parses a marketplace URN; the version may be "latest".
func ParseURN(s string) (URN, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return URN{}, Errorf(CodeInvalid, "URN %q has %d parts; a marketplace URN is PUBLISHER:OFFER:SKU:VERSION (VERSION may be latest)", s, len(parts))
	}
	for i, kind := range []string{"publisher", "offer", "sku"} {
		if err := ValidateName(kind, parts[i]); err != nil {
			return URN{}, err
		}
	}
	v, err := parseVersionOrLatest(parts[3])
	if err != nil {
		return URN{}, err
	}
	return URN{parts[0], parts[1], parts[2], v}, nil
}

// Ref returns the URN as a reference.
func (u URN) Ref() Ref {
	return Ref{Kind: RefMarketplace, Publisher: u.Publisher, Offer: u.Offer, SKU: u.SKU, Version: u.Version}
}

func (u URN) String() string { return u.Ref().String() }
