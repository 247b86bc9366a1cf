package hangar

import (
	"strconv"
	"strings"
)

// ETag returns the entity tag of revision rev of the resource with the given ID: a
// strong tag, "REV-ID" in double quotes. The ID is part of it so that a tag read
// before a resource was deleted and created again under the same name (revision 1
// again) never matches the new resource.
func ETag(id string, rev int64) string {
	return `"` + strconv.FormatInt(rev, 10) + "-" + id + `"`
}

// Precondition is what a change requires of the resource it changes: the request's
// If-Match. Several API nodes share one database, so two clients may change the
// same resource at once; with a precondition, the one whose view is stale fails
// with CodePreconditionFailed instead of silently overwriting the other's change.
// The zero value requires nothing.
type Precondition struct {
	tag string // "*", one strong or weak entity tag, or "" for none
}

// IfMatch returns the precondition that the resource still has entity tag etag, or
// with "*" only that it exists. The tag may be given without its double quotes.
// An empty etag requires nothing.
func IfMatch(etag string) Precondition {
	etag = strings.TrimSpace(etag)
	if etag != "" && etag != "*" && !strings.HasPrefix(etag, `"`) && !strings.HasPrefix(etag, `W/`) {
		etag = `"` + etag + `"`
	}
	return Precondition{tag: etag}
}

// ParseIfMatch reads an If-Match header value: "*" or one entity tag. A weak tag
// (W/"...") is accepted but never matches, as If-Match compares strongly.
func ParseIfMatch(h string) (Precondition, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return Precondition{tag: h}, nil
	}
	opaque := strings.TrimPrefix(h, "W/")
	if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' || strings.Contains(opaque[1:len(opaque)-1], `"`) {
		if strings.Contains(h, ",") {
			return Precondition{}, Errorf(CodeInvalid, "If-Match takes one entity tag or *, not a list")
		}
		return Precondition{}, Errorf(CodeInvalid, "If-Match must be an entity tag in double quotes, as in a resource's etag field (e.g. If-Match: \"3-...\"), or *")
	}
	return Precondition{tag: h}, nil
}

// IsZero reports whether p requires nothing.
func (p Precondition) IsZero() bool { return p.tag == "" }

// String returns p as an If-Match header value ("" for none).
func (p Precondition) String() string { return p.tag }

// Revision returns the revision the resource with the given ID must have for p to
// hold. ok is false when p requires no particular revision (none, or "*", which a
// resource that was found satisfies). A tag of another resource, or a weak or
// foreign one, asks for revision 0, which no resource ever has.
func (p Precondition) Revision(id string) (rev int64, ok bool) {
	if p.tag == "" || p.tag == "*" {
		return 0, false
	}
	inner := strings.Trim(p.tag, `"`)
	revText, tagID, found := strings.Cut(inner, "-")
	if !found || tagID != id || strings.HasPrefix(p.tag, "W/") {
		return 0, true
	}
	rev, err := strconv.ParseInt(revText, 10, 64)
	if err != nil || rev < 1 || strconv.FormatInt(rev, 10) != revText { // only the tags ETag makes
		return 0, true
	}
	return rev, true
}

// Check returns nil if p holds for a resource whose entity tag is current, else the
// PreconditionFailed error; what names the resource for the message (`VM "web1"`).
func (p Precondition) Check(what, current string) error {
	if p.tag == "" || p.tag == "*" || p.tag == current {
		return nil
	}
	return p.Failed(what, current)
}

// Failed is the error for a change refused because the resource's entity tag is
// now current, not the one p asked for.
func (p Precondition) Failed(what, current string) error {
	return Errorf(CodePreconditionFailed, "%s changed since it was read: its ETag is now %s, the request's If-Match was %s; read it again and retry with the new ETag if the change still applies", what, current, p.tag)
}
