package syndicate

import (
	"fmt"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Pattern names what to pull: PUBLISHER:OFFER[:SKU[:VERSION]]. Names match
// case-insensitively, as URNs do; a version is exact.
type Pattern struct {
	Publisher, Offer, SKU string
	Version               *hangar.Version
}

// ParsePattern parses PUBLISHER:OFFER[:SKU[:VERSION]].
func ParsePattern(s string) (Pattern, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return Pattern{}, hangar.Errorf(hangar.CodeInvalid, "%q: name what to pull as PUBLISHER:OFFER[:SKU[:VERSION]]", s)
	}
	var p Pattern
	for i, kind := range []string{"publisher", "offer", "sku"} {
		if i >= len(parts) {
			break
		}
		if err := hangar.ValidateName(kind, parts[i]); err != nil {
			return Pattern{}, err
		}
	}
	p.Publisher, p.Offer = parts[0], parts[1]
	if len(parts) > 2 {
		p.SKU = parts[2]
	}
	if len(parts) > 3 {
		v, err := hangar.ParseVersion(parts[3])
		if err != nil {
			return Pattern{}, fmt.Errorf("%q: %w", s, err)
		}
		p.Version = &v
	}
	return p, nil
}

// Filter is the marketplace filter that narrows an upstream's catalog to p.
func (p Pattern) Filter() hangar.MarketplaceFilter {
	return hangar.MarketplaceFilter{Publisher: p.Publisher, Offer: p.Offer, SKU: p.SKU, All: true}
}

// Matches reports whether an exact URN falls under p.
func (p Pattern) Matches(u hangar.URN) bool {
	switch {
	case !strings.EqualFold(u.Publisher, p.Publisher), !strings.EqualFold(u.Offer, p.Offer):
		return false
	case p.SKU != "" && !strings.EqualFold(u.SKU, p.SKU):
		return false
	case p.Version != nil && (u.Version == nil || *u.Version != *p.Version):
		return false
	}
	return true
}
