package agent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/provision"
)

func TestFindMedium(t *testing.T) {
	e := newEnv(t)
	if m, err := FindMedium(e.sys, e.dev); m != nil || err != nil {
		t.Fatalf("FindMedium without a medium = %+v, %v", m, err)
	}
	e.attach(keyConfig(t, "i-1"))
	m, err := FindMedium(e.sys, e.dev)
	if err != nil || m == nil {
		t.Fatalf("FindMedium = %+v, %v", m, err)
	}
	if m.InstanceID != "i-1" || m.Hostname != "vm1" || m.Device != filepath.Join(e.dev, "vdc") || !bytes.Contains(m.OVFEnv, []byte("<UserName>alice</UserName>")) {
		t.Errorf("medium %+v", m)
	}
	// A disc labelled CIDATA is one too; one labelled otherwise is not.
	iso, _ := os.ReadFile(filepath.Join(e.dev, "vdc"))
	for label, found := range map[string]bool{"CIDATA": true, "OTHER ": false} {
		b := bytes.Clone(iso)
		copy(b[16*2048+40:], label)
		e.addDevice("vdc", b)
		if m, err := FindMedium(e.sys, e.dev); (m != nil) != found || err != nil {
			t.Errorf("label %q: FindMedium = %+v, %v", label, m, err)
		}
	}
	if m, err := FindMedium(filepath.Join(e.sys, "nope"), e.dev); m != nil || err != nil {
		t.Errorf("FindMedium without sysfs = %+v, %v", m, err)
	}
}

func TestFindMediumBroken(t *testing.T) {
	e := newEnv(t)
	e.attachFiles([]provision.File{{Path: "meta-data", Data: []byte("{}")}})
	if _, err := FindMedium(e.sys, e.dev); err == nil || !strings.Contains(err.Error(), "no instance-id") {
		t.Errorf("FindMedium on a medium without instance-id = %v", err)
	}
	e.attachFiles([]provision.File{{Path: "user-data", Data: []byte("#cloud-config")}})
	m, err := FindMedium(e.sys, e.dev)
	if err == nil {
		t.Fatalf("FindMedium on a medium without meta-data = %+v", m)
	}
	if got := e.agent().Boot(); got.Type != TypeFailure || !strings.Contains(got.Reason, "meta-data") {
		t.Errorf("Boot() = %s", show(got))
	}
}

func TestParseOVFEnv(t *testing.T) {
	data, err := os.ReadFile("testdata/ovf-env-azure.xml")
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseOVFEnv(data)
	if err != nil {
		t.Fatal(err)
	}
	if env.Windows || env.HostName != "myhost" || env.UserName != "azureuser" || env.UserPassword != "Pa55-w<rd" ||
		env.DisableSSHPasswordAuthentication || len(env.PublicKeys) != 1 || string(env.CustomData) != "#cloud-config\n" {
		t.Errorf("parsed %+v", env)
	}
	if k := env.PublicKeys[0]; k.Fingerprint != "EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62" || !strings.HasPrefix(k.Value, "ssh-ed25519 ") {
		t.Errorf("key %+v", k)
	}
	if err := env.Config("i-1").Validate(); err != nil {
		t.Errorf("Azure sample does not validate: %v", err)
	}
	masked, err := MaskOVFEnv(data)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(data), "<![CDATA[Pa55-w<rd]]>", "*", 1)
	if string(masked) != want {
		t.Errorf("masked:\n%s", masked)
	}
	win, _ := os.ReadFile("testdata/ovf-env-windows.xml")
	if env, err := ParseOVFEnv(win); err != nil || !env.Windows {
		t.Errorf("windows ovf-env: %+v, %v", env, err)
	}
	if masked, _ := MaskOVFEnv(win); !bytes.Contains(masked, []byte("<AdminPassword>*</AdminPassword>")) || bytes.Contains(masked, []byte("Secr3t")) {
		t.Errorf("windows masked:\n%s", masked)
	}
	for _, bad := range []string{
		"", "<x/>", "<Environment/>",
		`<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"><ProvisioningSection xmlns="http://schemas.microsoft.com/windowsazure"/></Environment>`,
		strings.Replace(string(data), "False", "maybe", 1),
		strings.Replace(string(data), "I2Nsb3VkLWNvbmZpZwo=", "!!!", 1),
		strings.Replace(string(data), "wa:ProvisioningSection", "ProvisioningSection", 2), // wrong namespace
	} {
		if _, err := ParseOVFEnv([]byte(bad)); !errors.Is(err, ErrOVFEnv) {
			t.Errorf("ParseOVFEnv accepted %.60q: %v", bad, err)
		}
	}
}

// TestParseSavedOVFEnv: the copies of Azure's ovf-env.xml that waagent and
// cloud-init save after provisioning (testdata made from ovf-env-azure.xml by
// their own code: waagent's regular expression, cloud-init's ElementTree) parse,
// their masked password as it is.
func TestParseSavedOVFEnv(t *testing.T) {
	for _, tt := range []struct{ file, password string }{
		{waagentSaved, "*"},
		{cloudInitSaved, "REDACTED"},
	} {
		env, err := ParseOVFEnv([]byte(readTestdata(t, tt.file)))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if env.Windows || env.HostName != "myhost" || env.UserName != "azureuser" || env.UserPassword != tt.password ||
			env.DisableSSHPasswordAuthentication || string(env.CustomData) != "#cloud-config\n" || len(env.PublicKeys) != 1 {
			t.Errorf("%s: parsed %+v", tt.file, env)
			continue
		}
		if k := env.PublicKeys[0]; k.Path != "$HOME/azureuser/.ssh/authorized_keys" || !strings.HasPrefix(k.Value, "ssh-ed25519 AAAAC3") {
			t.Errorf("%s: key %+v", tt.file, k)
		}
	}
}

// TestMediumRoundTrip: what provision.Files writes, ParseOVFEnv reads back as the
// same Config.
func TestMediumRoundTrip(t *testing.T) {
	c := keyConfig(t, "i-1")
	c.AdminPassword = testPassword
	c.SSHPublicKeys = append(c.SSHPublicKeys, testKey(t, 2))
	files, err := provision.Files(&c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	provision.WriteISO(&buf, files)
	m, err := ReadMedium(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseOVFEnv(m.OVFEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := env.Config(m.InstanceID)
	if got.InstanceID != c.InstanceID || got.ComputerName != c.ComputerName || got.AdminUsername != c.AdminUsername ||
		got.AdminPassword != c.AdminPassword || strings.Join(got.SSHPublicKeys, "|") != strings.Join(c.SSHPublicKeys, "|") ||
		!bytes.Equal(got.CustomData, c.CustomData) || got.OSType != c.OSType {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

func TestParseMetaData(t *testing.T) {
	for file, want := range map[string]MetaData{
		"testdata/meta-data.json": {InstanceID: "6f1c2a3e", LocalHostname: "web-1"},
		"testdata/meta-data.yaml": {InstanceID: "iid-local01", LocalHostname: "cloudimg"},
	} {
		data, _ := os.ReadFile(file)
		got, err := ParseMetaData(data)
		if err != nil || *got != want {
			t.Errorf("%s: %+v, %v", file, got, err)
		}
	}
	if _, err := ParseMetaData([]byte("local-hostname: x\n")); err == nil {
		t.Error("meta-data without instance-id accepted")
	}
}

func TestColonFile(t *testing.T) {
	f := parseColonFile([]byte("a:x:1:1::/:/bin/sh\nb:x:1000:1000::/home/b:/bin/sh"))
	if string(f.bytes()) != "a:x:1:1::/:/bin/sh\nb:x:1000:1000::/home/b:/bin/sh\n" {
		t.Errorf("bytes %q", f.bytes())
	}
	if id, _ := freeID(f.ids(2), 0); id != 1001 {
		t.Errorf("freeID = %d", id)
	}
	if id, _ := freeID(f.ids(2), 1005); id != 1005 {
		t.Errorf("freeID prefer = %d", id)
	}
	if id, _ := freeID(map[int]bool{65534: true}, 0); id != 1000 {
		t.Errorf("freeID on empty range = %d", id)
	}
}
