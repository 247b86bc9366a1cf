package hangar

import (
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		pairs []string
		ok    bool
	}{
		{[]string{"env=prod", "team=payments"}, true},
		{[]string{"flag"}, true}, // a key with an empty value
		{[]string{"url=https://example.com/a?b=c"}, true},
		{[]string{"=prod"}, false},
		{[]string{"a/b=c"}, false},
		{[]string{"a%b=c"}, false},
		{[]string{"k=line\nbreak"}, false},
		{[]string{strings.Repeat("k", MaxTagKeyLen+1) + "=v"}, false},
		{[]string{"k=" + strings.Repeat("v", MaxTagValueLen+1)}, false},
	} {
		if _, err := ParseTags(tc.pairs); (err == nil) != tc.ok {
			t.Errorf("ParseTags(%q): %v", tc.pairs, err)
		}
	}
	var many []string
	for i := range MaxTags + 1 {
		many = append(many, "k"+strings.Repeat("x", i)+"=v")
	}
	if _, err := ParseTags(many); err == nil {
		t.Error("51 tags accepted")
	}
	tags := Tags{"env": "prod", "team": "payments", "flag": ""}
	for _, tc := range []struct {
		filter []string
		match  bool
	}{
		{nil, true},
		{[]string{"env"}, true},
		{[]string{"env=prod"}, true},
		{[]string{"env=dev"}, false},
		{[]string{"env=prod", "team=payments"}, true},
		{[]string{"env=prod", "team=web"}, false},
		{[]string{"flag="}, true},
		{[]string{"missing"}, false},
	} {
		f, err := ParseTagFilter(tc.filter)
		if err != nil || f.Match(tags) != tc.match {
			t.Errorf("filter %q on %v: %v, %v", tc.filter, tags, f.Match(tags), err)
		}
	}
	if _, err := ParseTagFilter([]string{"=x"}); err == nil {
		t.Error("a filter term without a key accepted")
	}
	// The attack: a list asked with 100,000 terms, each matched against every
	// resource listed.
	terms := make([]string, 100_000)
	for i := range terms {
		terms[i] = "k"
	}
	if _, err := ParseTagFilter(terms); ErrorCode(err) != CodeInvalid {
		t.Errorf("a filter of %d terms: %v, want refused as invalid", len(terms), err)
	}
	if _, err := ParseTagFilter(terms[:MaxTags]); err != nil {
		t.Errorf("a filter of %d terms: %v", MaxTags, err)
	}
	if got := tags.String(); got != "env=prod flag= team=payments" {
		t.Errorf("String() = %q", got)
	}
}
