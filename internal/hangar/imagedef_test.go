package hangar

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestValidateProperties(t *testing.T) {
	many := Properties{}
	for i := range MaxProperties + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for _, tc := range []struct {
		name string
		p    Properties
		want string // "" valid, else part of the message
	}{
		{"none", nil, ""},
		{"glance's", Properties{"os_distro": "ubuntu", "os_version": "24.04", "hw_disk_bus": ""}, ""},
		{"too many", many, "at most 100"},
		{"empty key", Properties{"": "x"}, "1 to 255"},
		{"long key", Properties{strings.Repeat("k", MaxPropertyKeyLen+1): "x"}, "1 to 255"},
		{"= in key", Properties{"a=b": "x"}, "'='"},
		{"control in key", Properties{"a\nb": "x"}, "control"},
		{"long value", Properties{"k": strings.Repeat("v", MaxPropertyValueLen+1)}, "at most 1024"},
		{"control in value", Properties{"k": "a\x00"}, "control"},
	} {
		err := ValidateProperties(tc.p)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	p, err := ParseProperties([]string{"os_distro=ubuntu", "note=a=b", "flag"})
	if err != nil || p["os_distro"] != "ubuntu" || p["note"] != "a=b" || p["flag"] != "" || len(p) != 3 {
		t.Errorf("ParseProperties: %v %v", p, err)
	}
}

func TestRequirementsNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    ImageRequirements
		gen  string
		want string // "" valid, else part of the message
		then func(ImageRequirements) bool
	}{
		{name: "none", gen: "V1"},
		{name: "trusted launch on V2", q: ImageRequirements{Features: Features{"securitytype": "x"}}, gen: "V2"}, // unknown names are kept as given
		{name: "trusted launch on V2, any case", q: ImageRequirements{Features: Features{"SecurityType": "trustedlaunch"}}, gen: "V2",
			then: func(q ImageRequirements) bool { return q.Features["SecurityType"] == "TrustedLaunch" }},
		{name: "trusted launch on V1", q: ImageRequirements{Features: Features{"SecurityType": "TrustedLaunch"}}, gen: "V1", want: "needs Hyper-V generation V2"},
		{name: "confidential on V1", q: ImageRequirements{Features: Features{"SecurityType": "ConfidentialVM"}}, gen: "V1", want: "needs Hyper-V generation V2"},
		{name: "supported on V1", q: ImageRequirements{Features: Features{"SecurityType": "TrustedLaunchSupported"}}, gen: "V1"},
		{name: "unknown security type", q: ImageRequirements{Features: Features{"SecurityType": "Fortress"}}, gen: "V2", want: "SecurityType \"Fortress\" is not valid"},
		{name: "accelerated networking", q: ImageRequirements{Features: Features{"IsAcceleratedNetworkSupported": "TRUE"}}, gen: "V1",
			then: func(q ImageRequirements) bool { return q.Features["IsAcceleratedNetworkSupported"] == "true" }},
		{name: "accelerated networking, not a bool", q: ImageRequirements{Features: Features{"IsAcceleratedNetworkSupported": "yes please"}}, gen: "V1", want: "true or false"},
		{name: "feature name with a space", q: ImageRequirements{Features: Features{"a b": "c"}}, gen: "V1", want: "without spaces"},
		{name: "range", q: ImageRequirements{Recommended: &Recommended{VCPUs: &Range{Min: 2, Max: 4}, MemoryGB: &Range{Min: 1}}}, gen: "V1"},
		{name: "min above max", q: ImageRequirements{Recommended: &Recommended{VCPUs: &Range{Min: 4, Max: 2}}}, gen: "V1", want: "min not above max"},
		{name: "negative", q: ImageRequirements{Recommended: &Recommended{MemoryGB: &Range{Min: -1}}}, gen: "V1", want: "min not above max"},
		{name: "empty ranges drop", q: ImageRequirements{Recommended: &Recommended{VCPUs: &Range{}}}, gen: "V1",
			then: func(q ImageRequirements) bool { return q.Recommended == nil && q.IsZero() }},
		{name: "disk types canonical, sorted, once", q: ImageRequirements{Disallowed: &Disallowed{DiskTypes: []string{"standard_lrs", "Premium_LRS", "STANDARD_LRS"}}}, gen: "V1",
			then: func(q ImageRequirements) bool {
				return strings.Join(q.Disallowed.DiskTypes, ",") == "Premium_LRS,Standard_LRS"
			}},
		{name: "unknown disk type", q: ImageRequirements{Disallowed: &Disallowed{DiskTypes: []string{"Floppy"}}}, gen: "V1", want: "disk type \"Floppy\" is not valid"},
		{name: "every disk type", q: ImageRequirements{Disallowed: &Disallowed{DiskTypes: StorageSKUs}}, gen: "V1", want: "every disk type"},
	} {
		err := tc.q.Normalize(tc.gen)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			continue
		}
		if tc.then != nil && !tc.then(tc.q) {
			t.Errorf("%s: normalized to %+v", tc.name, tc.q)
		}
	}
}

func TestRequirementsFit(t *testing.T) {
	small, medium, large := VMSizes[0], VMSizes[1], VMSizes[2]
	for _, tc := range []struct {
		name string
		rec  *Recommended
		size VMSize
		want string // "" fits, else part of the message
	}{
		{"no recommendation", nil, small, ""},
		{"2 vCPUs or more, small", &Recommended{VCPUs: &Range{Min: 2}}, small, "outside the image's recommended at least 2 vCPUs; sizes that fit: medium, large"},
		{"2 vCPUs or more, medium", &Recommended{VCPUs: &Range{Min: 2}}, medium, ""},
		{"at most 1 GiB, large", &Recommended{MemoryGB: &Range{Max: 1}}, large, "at most 1 GiB of memory; sizes that fit: small, medium"},
		{"2 GiB, medium", &Recommended{MemoryGB: &Range{Min: 2, Max: 2}}, medium, "sizes that fit: large"},
		{"both, large", &Recommended{VCPUs: &Range{Min: 1, Max: 2}, MemoryGB: &Range{Min: 2}}, large, ""},
		{"nothing fits", &Recommended{VCPUs: &Range{Min: 8}}, large, "no Hangar size fits it"},
	} {
		err := ImageRequirements{Recommended: tc.rec}.Fits(tc.size)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || ErrorCode(err) != CodeInvalid) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRequirementsDiskTypes(t *testing.T) {
	q := ImageRequirements{Disallowed: &Disallowed{DiskTypes: []string{"Premium_LRS", "StandardSSD_LRS"}}}
	if got := q.DefaultStorageSKU(); got != "Standard_LRS" {
		t.Errorf("default disk type: %s, want Standard_LRS (the first not disallowed)", got)
	}
	if got := (ImageRequirements{}).DefaultStorageSKU(); got != StorageSKUs[0] {
		t.Errorf("default disk type with none disallowed: %s", got)
	}
	err := q.Allows("Premium_LRS")
	if err == nil || !strings.Contains(err.Error(), "disallows disk type Premium_LRS") || !strings.Contains(err.Error(), "e.g. Standard_LRS") {
		t.Errorf("Premium_LRS: %v", err)
	}
	if err := q.Allows("Standard_LRS"); err != nil {
		t.Errorf("Standard_LRS: %v", err)
	}
	if sku, err := ParseStorageSKU("premium_lrs"); err != nil || sku != "Premium_LRS" {
		t.Errorf("ParseStorageSKU: %s %v", sku, err)
	}
	if _, err := ParseStorageSKU("Floppy"); err == nil {
		t.Error("ParseStorageSKU accepted Floppy")
	}
}

func TestParseFeatures(t *testing.T) {
	f, err := ParseFeatures([]string{"SecurityType=TrustedLaunch IsAcceleratedNetworkSupported=true", "IsHibernateSupported=false"})
	if err != nil || len(f) != 3 || f["SecurityType"] != "TrustedLaunch" || f["IsHibernateSupported"] != "false" {
		t.Errorf("ParseFeatures: %v %v", f, err)
	}
	for _, bad := range []string{"SecurityType", "=x", "SecurityType="} {
		if _, err := ParseFeatures([]string{bad}); err == nil {
			t.Errorf("ParseFeatures(%q) accepted", bad)
		}
	}
}

func TestResourceGroups(t *testing.T) {
	for _, tc := range []struct {
		group string
		ok    bool
	}{{"rg1", true}, {"My.Group_(1)-x", true}, {"", false}, {"ends.", false}, {"a/b", false}, {strings.Repeat("g", 91), false}} {
		if err := ValidateResourceGroup(tc.group); (err == nil) != tc.ok {
			t.Errorf("ValidateResourceGroup(%q): %v", tc.group, err)
		}
	}
	for _, tc := range []struct {
		group, filter string
		in            bool
	}{{"Prod", "prod", true}, {"prod", "", true}, {"prod", "dev", false}, {"", "hangar", false}, {"", "", true}} {
		if got := InResourceGroup(tc.group, tc.filter); got != tc.in {
			t.Errorf("InResourceGroup(%q, %q) = %v", tc.group, tc.filter, got)
		}
	}
}

// FuzzImageRequirements: any JSON of an image's definition fields (a /v1 body's)
// is refused with InvalidArgument or normalized into a form that normalizes to
// itself, whose disallowed disk types leave some disk type to use.
func FuzzImageRequirements(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"recommended":{"vCPUs":{"min":2,"max":4},"memory":{"min":1}},"features":{"SecurityType":"trustedlaunch"},"disallowed":{"diskTypes":["standard_lrs"]}}`,
		`{"features":{"IsAcceleratedNetworkSupported":"1","a b":"c"}}`,
		`{"recommended":{"vCPUs":{"min":5,"max":1}}}`,
		`{"disallowed":{"diskTypes":["Premium_LRS","StandardSSD_LRS","Standard_LRS","UltraSSD_LRS","Premium_ZRS","StandardSSD_ZRS","PremiumV2_LRS"]}}`,
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, doc string, v2 bool) {
		var q ImageRequirements
		if json.Unmarshal([]byte(doc), &q) != nil {
			return
		}
		gen := "V1"
		if v2 {
			gen = "V2"
		}
		if err := q.Normalize(gen); err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("Normalize(%s): error without InvalidArgument code: %v", doc, err)
			}
			return
		}
		again := q
		again.Features = maps.Clone(q.Features)
		if err := again.Normalize(gen); err != nil || !again.Same(q) {
			t.Fatalf("normalized %+v does not normalize to itself: %+v, %v", q, again, err)
		}
		if err := q.Allows(q.DefaultStorageSKU()); err != nil {
			t.Fatalf("%+v: the default disk type is disallowed: %v", q, err)
		}
	})
}
