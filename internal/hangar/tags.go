package hangar

import (
	"sort"
	"strings"
)

// Tags are KEY=VALUE labels a tenant puts on its disks, images, image versions and
// VMs to find them again, as on Azure (with Azure's limits).
type Tags map[string]string

// Tag limits, Azure's.
const (
	MaxTags        = 50
	MaxTagKeyLen   = 512
	MaxTagValueLen = 256
)

// ValidateTags checks tags: at most MaxTags; keys non-empty, without the
// characters Azure refuses in keys (< > % & \ ? /) or control characters; values
// without control characters; both within their lengths.
func ValidateTags(t Tags) error {
	if len(t) > MaxTags {
		return Errorf(CodeInvalid, "%d tags: at most %d", len(t), MaxTags)
	}
	for k, v := range t {
		switch {
		case k == "" || len(k) > MaxTagKeyLen:
			return Errorf(CodeInvalid, "tag key %.40q: use 1 to %d characters", k, MaxTagKeyLen)
		case strings.ContainsAny(k, `<>%&\?/=`) || hasControl(k):
			return Errorf(CodeInvalid, "tag key %.40q: these characters are not allowed in a key: < > %% & \\ ? / = and control characters", k)
		case len(v) > MaxTagValueLen || hasControl(v):
			return Errorf(CodeInvalid, "tag %q: its value must be at most %d characters, without control characters", k, MaxTagValueLen)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// TagsUpdate replaces all the tags of a resource (none: removes them).
type TagsUpdate struct {
	Tags Tags `json:"tags"`
}

// ParseTags reads KEY=VALUE pairs (a pair without '=' is a key with an empty value).
func ParseTags(pairs []string) (Tags, error) {
	t := Tags{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		t[k] = v
	}
	return t, ValidateTags(t)
}

// String writes tags as KEY=VALUE pairs, sorted, separated by spaces.
func (t Tags) String() string {
	var pairs []string
	for k, v := range t {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, " ")
}

// TagFilter selects resources by their tags: each term is KEY (the resource has
// the tag) or KEY=VALUE (it has it with that value); all terms must hold.
type TagFilter []string

// ParseTagFilter checks the terms of a filter (?tag=KEY[=VALUE], repeatable).
// More terms than a resource may carry tags are refused: each term is matched
// against every listed resource, and a URL of a megabyte holds a hundred
// thousand of them.
func ParseTagFilter(terms []string) (TagFilter, error) {
	if len(terms) > MaxTags {
		return nil, Errorf(CodeInvalid, "%d tag filter terms: at most %d, as a resource carries at most %d tags", len(terms), MaxTags, MaxTags)
	}
	for _, term := range terms {
		if k, _, _ := strings.Cut(term, "="); k == "" {
			return nil, Errorf(CodeInvalid, "tag filter %q: use KEY or KEY=VALUE", term)
		}
	}
	return TagFilter(terms), nil
}

// Match says whether tags satisfy every term of the filter.
func (f TagFilter) Match(t Tags) bool {
	for _, term := range f {
		k, v, exact := strings.Cut(term, "=")
		got, ok := t[k]
		if !ok || exact && got != v {
			return false
		}
	}
	return true
}

// FilterByTags keeps the items whose tags match f.
func FilterByTags[T any](items []T, f TagFilter, tags func(T) Tags) []T {
	if len(f) == 0 {
		return items
	}
	out := []T{}
	for _, it := range items {
		if f.Match(tags(it)) {
			out = append(out, it)
		}
	}
	return out
}
