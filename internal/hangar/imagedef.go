package hangar

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Properties are free-form KEY=VALUE metadata on an image version, as Glance's
// image properties (os_distro, os_version, ...): shown to everyone who may use the
// image, and never interpreted by Hangar.
type Properties map[string]string

// Property limits.
const (
	MaxProperties       = 100
	MaxPropertyKeyLen   = 255
	MaxPropertyValueLen = 1024
)

// ValidateProperties checks properties: at most MaxProperties; keys non-empty,
// without '=' or control characters; values without control characters; both
// within their lengths.
func ValidateProperties(p Properties) error {
	if len(p) > MaxProperties {
		return Errorf(CodeInvalid, "%d properties: at most %d", len(p), MaxProperties)
	}
	for k, v := range p {
		switch {
		case k == "" || len(k) > MaxPropertyKeyLen:
			return Errorf(CodeInvalid, "property key %.40q: use 1 to %d characters", k, MaxPropertyKeyLen)
		case strings.Contains(k, "=") || hasControl(k):
			return Errorf(CodeInvalid, "property key %.40q: '=' and control characters are not allowed in a key", k)
		case len(v) > MaxPropertyValueLen || hasControl(v):
			return Errorf(CodeInvalid, "property %.40q: its value must be at most %d characters, without control characters", k, MaxPropertyValueLen)
		}
	}
	return nil
}

// ParseProperties reads KEY=VALUE pairs (a pair without '=' is a key with an
// empty value).
func ParseProperties(pairs []string) (Properties, error) {
	p := Properties{}
	for _, pair := range pairs {
		k, v, _ := strings.Cut(pair, "=")
		p[k] = v
	}
	return p, ValidateProperties(p)
}

// String writes properties as KEY=VALUE pairs, sorted, separated by spaces.
func (p Properties) String() string { return Tags(p).String() }

// PropertiesUpdate replaces all the properties of an image version (none: removes
// them).
type PropertiesUpdate struct {
	Properties Properties `json:"properties"`
}

// ImageRequirements are the fields of Azure's image definitions that say which VMs
// fit an image: recommended vCPUs and memory, features, disallowed disk types. Like
// the rest of a definition they are fixed when the image is made.
type ImageRequirements struct {
	Recommended *Recommended `json:"recommended,omitempty"`
	// Features are Azure's gallery image features (SecurityType,
	// IsAcceleratedNetworkSupported, ...), by name.
	Features   Features    `json:"features,omitempty"`
	Disallowed *Disallowed `json:"disallowed,omitempty"`
}

// Recommended is the range of VM shapes an image is made for (Azure's
// recommended.vCPUs and recommended.memory, memory in GiB). Hangar refuses a VM
// outside it.
type Recommended struct {
	VCPUs    *Range `json:"vCPUs,omitempty"`
	MemoryGB *Range `json:"memory,omitempty"`
}

// Range is an inclusive range; a zero bound is no bound.
type Range struct {
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
}

func (r *Range) String() string {
	switch {
	case r.Min > 0 && r.Max > 0:
		return fmt.Sprintf("%d to %d", r.Min, r.Max)
	case r.Min > 0:
		return fmt.Sprintf("at least %d", r.Min)
	}
	return fmt.Sprintf("at most %d", r.Max)
}

// holds says whether n (in the range's unit, times scale) is within the range.
func (r *Range) holds(n, scale int) bool {
	return r == nil || (r.Min == 0 || n >= r.Min*scale) && (r.Max == 0 || n <= r.Max*scale)
}

// Features are Azure's image definition features, by name.
type Features map[string]string

// Known features and the values Hangar accepts for them. Others are kept as given.
const (
	FeatureSecurityType        = "SecurityType"
	FeatureAcceleratedNetwork  = "IsAcceleratedNetworkSupported"
	FeatureHibernate           = "IsHibernateSupported"
	FeatureDiskControllerTypes = "DiskControllerTypes"
)

// SecurityTypes are the values of the SecurityType feature, as Azure's.
var SecurityTypes = []string{"Standard", "TrustedLaunch", "TrustedLaunchSupported", "ConfidentialVM", "ConfidentialVMSupported", "TrustedLaunchAndConfidentialVMSupported"}

// String writes features as NAME=VALUE pairs, sorted, separated by spaces.
func (f Features) String() string { return Tags(f).String() }

// ParseFeatures reads NAME=VALUE pairs; each argument may hold several, separated
// by spaces, as az's --features "SecurityType=TrustedLaunch IsAcceleratedNetworkSupported=true".
func ParseFeatures(args []string) (Features, error) {
	f := Features{}
	for _, arg := range args {
		for _, pair := range strings.Fields(arg) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || k == "" || v == "" {
				return nil, Errorf(CodeInvalid, "feature %q: use NAME=VALUE, as SecurityType=TrustedLaunch", pair)
			}
			f[k] = v
		}
	}
	return f, nil
}

// Disallowed says what an image may not be used with.
type Disallowed struct {
	// DiskTypes are storage SKUs (StorageSKUs) a VM of the image may not have.
	DiskTypes []string `json:"diskTypes,omitempty"`
}

// StorageSKUs are the disk types a VM's disks can have, as Azure's storage account
// types. Hangar's disks are all the same overlays on the same store: the type is a
// label a VM carries (its images may disallow some), not a different medium.
var StorageSKUs = []string{"Premium_LRS", "StandardSSD_LRS", "Standard_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS"}

// ParseStorageSKU checks a storage SKU, in any case, and returns it as Azure
// spells it.
func ParseStorageSKU(s string) (string, error) {
	for _, sku := range StorageSKUs {
		if strings.EqualFold(s, sku) {
			return sku, nil
		}
	}
	return "", Errorf(CodeInvalid, "disk type %q is not valid: use one of %s", s, strings.Join(StorageSKUs, ", "))
}

// Normalize checks the requirements of an image of a Hyper-V generation and puts
// them in their canonical form (names as Azure spells them, sorted, empty parts
// dropped).
func (q *ImageRequirements) Normalize(hyperVGeneration string) error {
	if r := q.Recommended; r != nil {
		for _, x := range []struct {
			name string
			r    *Range
		}{{"recommended vCPUs", r.VCPUs}, {"recommended memory (GiB)", r.MemoryGB}} {
			if x.r != nil && (x.r.Min < 0 || x.r.Max < 0 || x.r.Max > 0 && x.r.Min > x.r.Max) {
				return Errorf(CodeInvalid, "%s: min %d and max %d: use bounds of 0 (none) or more, min not above max", x.name, x.r.Min, x.r.Max)
			}
		}
		if r.VCPUs != nil && *r.VCPUs == (Range{}) {
			r.VCPUs = nil
		}
		if r.MemoryGB != nil && *r.MemoryGB == (Range{}) {
			r.MemoryGB = nil
		}
		if r.VCPUs == nil && r.MemoryGB == nil {
			q.Recommended = nil
		}
	}
	if len(q.Features) > MaxTags {
		return Errorf(CodeInvalid, "%d features: at most %d", len(q.Features), MaxTags)
	}
	for k, v := range q.Features {
		if err := ValidateText("feature name", k, 64); err != nil || k == "" || strings.ContainsAny(k, "= ") {
			return Errorf(CodeInvalid, "feature name %.40q: use 1 to 64 characters without spaces or '='", k)
		}
		if err := ValidateText("feature "+k, v, 256); err != nil {
			return err
		}
	}
	if st, ok := q.Features[FeatureSecurityType]; ok {
		i := slices.IndexFunc(SecurityTypes, func(s string) bool { return strings.EqualFold(s, st) })
		if i < 0 {
			return Errorf(CodeInvalid, "SecurityType %q is not valid: use one of %s", st, strings.Join(SecurityTypes, ", "))
		}
		st = SecurityTypes[i]
		q.Features[FeatureSecurityType] = st
		if (st == "TrustedLaunch" || st == "ConfidentialVM") && hyperVGeneration != "V2" {
			return Errorf(CodeInvalid, "SecurityType %s needs Hyper-V generation V2 (UEFI) and the image is %s: pass --hyper-v-generation V2", st, hyperVGeneration)
		}
	}
	for _, k := range []string{FeatureAcceleratedNetwork, FeatureHibernate} {
		if v, ok := q.Features[k]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Errorf(CodeInvalid, "feature %s=%q: use true or false", k, v)
			}
			q.Features[k] = strconv.FormatBool(b)
		}
	}
	if len(q.Features) == 0 {
		q.Features = nil
	}
	if d := q.Disallowed; d != nil {
		var types []string
		for _, t := range d.DiskTypes {
			sku, err := ParseStorageSKU(t)
			if err != nil {
				return err
			}
			if !slices.Contains(types, sku) {
				types = append(types, sku)
			}
		}
		if len(types) == len(StorageSKUs) {
			return Errorf(CodeInvalid, "an image cannot disallow every disk type: no VM could be made from it")
		}
		sort.Strings(types)
		q.Disallowed = &Disallowed{DiskTypes: types}
		if len(types) == 0 {
			q.Disallowed = nil
		}
	}
	return nil
}

// IsZero says whether no requirement is set.
func (q ImageRequirements) IsZero() bool {
	return q.Recommended == nil && len(q.Features) == 0 && q.Disallowed == nil
}

// Fits says whether a VM of a size fits the image; if not, the error names the
// range and the sizes that fit.
func (q ImageRequirements) Fits(size VMSize) error {
	r := q.Recommended
	if r == nil || r.VCPUs.holds(size.VCPUs, 1) && r.MemoryGB.holds(size.MemoryMiB, 1024) {
		return nil
	}
	var want, fit []string
	if r.VCPUs != nil {
		want = append(want, r.VCPUs.String()+" vCPUs")
	}
	if r.MemoryGB != nil {
		want = append(want, r.MemoryGB.String()+" GiB of memory")
	}
	for _, s := range VMSizes {
		if r.VCPUs.holds(s.VCPUs, 1) && r.MemoryGB.holds(s.MemoryMiB, 1024) {
			fit = append(fit, s.Name)
		}
	}
	hint := "no Hangar size fits it"
	if len(fit) > 0 {
		hint = "sizes that fit: " + strings.Join(fit, ", ")
	}
	return Errorf(CodeInvalid, "size %s (%d vCPU, %d MiB) is outside the image's recommended %s; %s",
		size.Name, size.VCPUs, size.MemoryMiB, strings.Join(want, " and "), hint)
}

// Allows says whether the image allows a disk type.
func (q ImageRequirements) Allows(sku string) error {
	if q.Disallowed == nil || !slices.Contains(q.Disallowed.DiskTypes, sku) {
		return nil
	}
	return Errorf(CodeInvalid, "the image disallows disk type %s (it disallows %s): choose another with --storage-sku, e.g. %s",
		sku, strings.Join(q.Disallowed.DiskTypes, ", "), q.DefaultStorageSKU())
}

// DefaultStorageSKU is the disk type of a VM created without one: the first of
// StorageSKUs the image allows.
func (q ImageRequirements) DefaultStorageSKU() string {
	for _, sku := range StorageSKUs {
		if q.Disallowed == nil || !slices.Contains(q.Disallowed.DiskTypes, sku) {
			return sku
		}
	}
	return StorageSKUs[0] // unreachable: an image cannot disallow them all
}

// Same says whether two requirements are the same (both normalized).
func (q ImageRequirements) Same(o ImageRequirements) bool {
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}
