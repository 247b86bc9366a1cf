package fabric

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a guest may send.
const (
	// MaxHealthReport bounds a health report's body. waagent trims the
	// description to 3686 characters before escaping (wire.py:
	// _build_health_report, "The max description that can be sent to WireServer
	// is 4096 bytes"); cloud-init to 512 (helpers/azure.py:
	// GoalStateHealthReporter.HEALTH_REPORT_DESCRIPTION_TRIM_LEN). Escaped and in
	// UTF-8, 3686 characters stay well under this.
	MaxHealthReport = 64 << 10
	// MaxDescription bounds the description kept from a report, in bytes, as the
	// WireServer's own limit does.
	MaxDescription = 4096
	// MaxSubStatus bounds the substatus kept from a report, in bytes.
	MaxSubStatus = 64
)

// ErrBadHealthReport is wrapped by every error of ParseHealth.
var ErrBadHealthReport = errors.New("fabric: bad health report")

// HealthReport is a parsed health report: the ids it names and its Health.
type HealthReport struct {
	Incarnation string
	ContainerID string
	InstanceID  string
	Health      Health
}

// healthXML mirrors the document both agents send (wire.py: _build_health_report;
// helpers/azure.py: GoalStateHealthReporter.HEALTH_REPORT_XML_TEMPLATE).
type healthXML struct {
	XMLName     xml.Name `xml:"Health"`
	Incarnation string   `xml:"GoalStateIncarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Roles       []struct {
			InstanceID string `xml:"InstanceId"`
			Health     struct {
				State   string `xml:"State"`
				Details *struct {
					SubStatus   string `xml:"SubStatus"`
					Description string `xml:"Description"`
				} `xml:"Details"`
			} `xml:"Health"`
		} `xml:"RoleInstanceList>Role"`
	} `xml:"Container"`
}

// ParseHealth parses a health report: at most MaxHealthReport bytes of XML with
// exactly one role, whose State is Ready or NotReady. Description and SubStatus
// come back cleaned (see Clean).
func ParseHealth(b []byte) (HealthReport, error) {
	if len(b) > MaxHealthReport {
		return HealthReport{}, fmt.Errorf("%w: %d bytes, more than %d", ErrBadHealthReport, len(b), MaxHealthReport)
	}
	var doc healthXML
	// A failing script's output in the description may carry control characters
	// that XML 1.0 forbids; cloud-init and waagent escape only &, < and >. They are
	// dropped before parsing so that the agent's words still reach the user. In
	// UTF-8 they are single bytes that never occur inside a longer character.
	b = bytes.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return r
	}, b)
	// Agents send UTF-8 and say so; a document declaring another charset is
	// refused (no CharsetReader).
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&doc); err != nil {
		return HealthReport{}, fmt.Errorf("%w: %v", ErrBadHealthReport, err)
	}
	if len(doc.Container.Roles) != 1 {
		return HealthReport{}, fmt.Errorf("%w: %d roles, want 1", ErrBadHealthReport, len(doc.Container.Roles))
	}
	role := doc.Container.Roles[0]
	r := HealthReport{
		Incarnation: strings.TrimSpace(doc.Incarnation),
		ContainerID: strings.TrimSpace(doc.Container.ContainerID),
		InstanceID:  strings.TrimSpace(role.InstanceID),
		Health:      Health{State: strings.TrimSpace(role.Health.State)},
	}
	if r.Health.State != HealthReady && r.Health.State != HealthNotReady {
		return HealthReport{}, fmt.Errorf("%w: state %.32q is neither %s nor %s", ErrBadHealthReport, r.Health.State, HealthReady, HealthNotReady)
	}
	if det := role.Health.Details; det != nil {
		r.Health.SubStatus = Clean(det.SubStatus, MaxSubStatus)
		r.Health.Description = Clean(det.Description, MaxDescription)
	}
	return r, nil
}

// Clean makes s, a guest's words, safe to show: invalid UTF-8 becomes U+FFFD,
// line breaks and tabs become spaces, other control characters and the Unicode
// format characters (bidirectional overrides, zero-width characters) are dropped,
// spaces are trimmed at both ends, and the result is cut to at most max bytes on a
// character boundary.
func Clean(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
