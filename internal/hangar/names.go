package hangar

import (
	"net/mail"
	"net/url"
	"strings"
)

// MaxNameLen bounds every user-chosen name.
const MaxNameLen = 80

// ValidateName checks a user-chosen name (tenant, disk, image, community public name,
// marketplace publisher, offer or SKU). Names start with a letter or digit and contain
// only letters, digits, '.', '_' and '-': no path separators, no control characters, no
// spaces, so a name is always safe in a URL path, a reference and a file name.
func ValidateName(kind, name string) error {
	if name == "" {
		return Errorf(CodeInvalid, "%s name must not be empty", kind)
	}
	if len(name) > MaxNameLen {
		return Errorf(CodeInvalid, "%s name %.20q... is longer than %d characters", kind, name, MaxNameLen)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return Errorf(CodeInvalid, "%s name %q is not valid: use letters, digits, '.', '_' and '-', starting with a letter or digit", kind, name)
		}
	}
	return nil
}

// ValidateEmail checks a contact e-mail address.
func ValidateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return Errorf(CodeInvalid, "%q is not a valid e-mail address", s)
	}
	return nil
}

// ValidateURL checks an http(s) URL such as a publisher URI or a EULA link.
func ValidateURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return Errorf(CodeInvalid, "%s %q must be an http or https URL", field, s)
	}
	return nil
}

// ValidateText checks a free-text field (description, EULA text): bounded, no control
// characters other than newline and tab.
func ValidateText(field, s string, max int) error {
	if len(s) > max {
		return Errorf(CodeInvalid, "%s is longer than %d bytes", field, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(CodeInvalid, "%s contains a control character", field)
		}
	}
	return nil
}

// AsUUID writes a 128-bit ID in hex (what store.NewID makes) as a UUID. A VM's ID
// written so is its SMBIOS system UUID, IMDS vmId and ARM vmId: cloud-init and
// waagent take it as the instance's identity, so every VM has its own (a VM from a
// captured image is a new instance to them). A tenant's is the subscription ID
// its VMs' IMDS shows. Any other string is returned as it is.
func AsUUID(id string) string {
	if len(id) != 32 {
		return id
	}
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}
