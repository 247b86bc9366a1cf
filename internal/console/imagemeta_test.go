package console

import (
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestImagePageShowsDefinitionFields: the image page says an image's recommended
// range, features and disallowed disk types.
func TestImagePageShowsDefinitionFields(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "os")
	s.image(t, "alice", hangar.ImageCreate{Name: "secure", OSDisk: "os", HyperVGeneration: "V2", ImageRequirements: hangar.ImageRequirements{
		Recommended: &hangar.Recommended{VCPUs: &hangar.Range{Min: 2, Max: 4}, MemoryGB: &hangar.Range{Min: 2}},
		Features:    hangar.Features{"SecurityType": "TrustedLaunch"},
		Disallowed:  &hangar.Disallowed{DiskTypes: []string{"Standard_LRS", "Premium_LRS"}},
	}})
	b := s.browser(t)
	b.signIn("alice")
	page := b.get("/console/images/secure")
	for _, want := range []string{"2 to 4 vCPUs", "at least 2 GiB of memory", "SecurityType=TrustedLaunch", "Premium_LRS, Standard_LRS"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the image page does not say %q:\n%s", want, page.body)
		}
	}
}
