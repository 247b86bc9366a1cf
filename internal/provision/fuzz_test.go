package provision

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/agent/isofs"
)

// FuzzFiles renders arbitrary configurations: a Config that validates must give
// well-formed XML, a user-data without the plain password, and an ISO that the
// agent's reader reads back byte for byte.
func FuzzFiles(f *testing.F) {
	for _, c := range goldenCases(f) {
		f.Add(c.InstanceID, c.ComputerName, c.OSType, c.AdminUsername, c.AdminPassword, strings.Join(c.SSHPublicKeys, "\x1e"), c.CustomData)
	}
	f.Add("id", "h", "linux", "u", "Aa1<>&\"'é\u2028", "", []byte{0, 0xff})
	f.Fuzz(func(t *testing.T, id, host, os, user, password, keys string, custom []byte) {
		c := Config{InstanceID: id, ComputerName: host, OSType: os, AdminUsername: user, AdminPassword: password, CustomData: custom}
		if keys != "" {
			c.SSHPublicKeys = strings.Split(keys, "\x1e")
		}
		files, err := Files(&c)
		if err != nil {
			if c.Validate() == nil {
				t.Fatalf("Files failed on a valid config: %v", err)
			}
			return
		}
		for _, file := range files {
			if strings.HasSuffix(file.Path, ".xml") {
				d := xml.NewDecoder(bytes.NewReader(file.Data))
				for {
					if _, err := d.Token(); err != nil {
						if err.Error() != "EOF" {
							t.Fatalf("%s is not well-formed: %v\n%s", file.Path, err, file.Data)
						}
						break
					}
				}
			}
			if file.Path == FileUserData && password != "" {
				checkNoPassword(t, c, file.Data)
			}
		}
		var buf bytes.Buffer
		if err := WriteISO(&buf, files); err != nil {
			t.Fatal(err)
		}
		v, err := isofs.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			got, err := v.ReadFile(file.Path, 1<<20)
			if err != nil || !bytes.Equal(got, file.Data) {
				t.Fatalf("%s reads back as %q, %v", file.Path, got, err)
			}
		}
	})
}

// checkNoPassword renders c again with another password: the user-data must differ
// only in its passwd line, so the password is nowhere else.
func checkNoPassword(t *testing.T, c Config, userData []byte) {
	other := c
	other.AdminPassword = "Other-passw0rd"
	if c.OSType == OSWindows {
		return
	}
	files, err := Files(&other)
	if err != nil {
		t.Fatal(err)
	}
	mask := regexp.MustCompile(`(?m)^    passwd: .*$`)
	for _, f := range files {
		if f.Path == FileUserData && !bytes.Equal(mask.ReplaceAll(f.Data, nil), mask.ReplaceAll(userData, nil)) {
			t.Fatalf("user-data depends on the password beyond its hash:\n%s", userData)
		}
	}
}
