package provision

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hangarvm/hangar/internal/shacrypt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const testPassword = "Secr3t-pass<&>\"'"

// goldenCases are the configurations whose media are kept in testdata/NAME.golden.
func goldenCases(t testing.TB) map[string]Config {
	keys := validLinux(t)
	password := keys
	password.SSHPublicKeys, password.AdminPassword = nil, testPassword
	both := keys
	both.AdminPassword = "Secr3t-pass"
	both.SSHPublicKeys = append(both.SSHPublicKeys, testKey(t, 2, ""))
	both.CustomData = []byte("#!/bin/sh\necho hello > /tmp/hello\n")
	windows := Config{
		InstanceID: "win-0001", ComputerName: "WIN-1", OSType: OSWindows,
		AdminUsername: "Alice", AdminPassword: "Secr3t-pass<&>", CustomData: []byte("custom"),
	}
	return map[string]Config{
		"linux-keys": keys, "linux-password": password, "linux-both": both, "windows": windows,
	}
}

// render joins the files of a medium into one text: "==> path <==" then the content.
func render(files []File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "==> %s <==\n%s", f.Path, f.Data)
		if !bytes.HasSuffix(f.Data, []byte("\n")) {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func TestFilesGolden(t *testing.T) {
	for name, c := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			files, err := Files(&c)
			if err != nil {
				t.Fatal(err)
			}
			got := render(files)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
			}
			again, _ := Files(&c)
			if !bytes.Equal(render(again), got) {
				t.Error("Files is not deterministic")
			}
		})
	}
}

func fileMap(t *testing.T, c Config) map[string]string {
	t.Helper()
	files, err := Files(&c)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	var paths []string
	for _, f := range files {
		m[f.Path] = string(f.Data)
		paths = append(paths, f.Path)
	}
	want := []string{FileMetaData, FileOVFEnv, FileUserData}
	if c.OSType == OSWindows {
		want = []string{FileUnattend, FileMetaData, FileOVFEnv, FileUserData}
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", paths, want)
	}
	return m
}

// ovfEnv mirrors what the tests check in ovf-env.xml, with full namespaces.
type ovfEnv struct {
	XMLName      xml.Name `xml:"http://schemas.dmtf.org/ovf/environment/1 Environment"`
	Provisioning struct {
		Version string `xml:"http://schemas.microsoft.com/windowsazure Version"`
		Linux   *struct {
			Type       string                                      `xml:"http://schemas.microsoft.com/windowsazure ConfigurationSetType"`
			HostName   string                                      `xml:"http://schemas.microsoft.com/windowsazure HostName"`
			UserName   string                                      `xml:"http://schemas.microsoft.com/windowsazure UserName"`
			Password   string                                      `xml:"http://schemas.microsoft.com/windowsazure UserPassword"`
			DisableSSH string                                      `xml:"http://schemas.microsoft.com/windowsazure DisableSshPasswordAuthentication"`
			PublicKeys []struct{ Fingerprint, Path, Value string } `xml:"http://schemas.microsoft.com/windowsazure SSH>PublicKeys>PublicKey"`
			CustomData string                                      `xml:"http://schemas.microsoft.com/windowsazure CustomData"`
		} `xml:"http://schemas.microsoft.com/windowsazure LinuxProvisioningConfigurationSet"`
		Windows *struct {
			ComputerName, AdminUsername, AdminPassword, CustomData string
		} `xml:"http://schemas.microsoft.com/windowsazure WindowsProvisioningConfigurationSet"`
	} `xml:"http://schemas.microsoft.com/windowsazure ProvisioningSection"`
	ProvisionGuestAgent string `xml:"http://schemas.microsoft.com/windowsazure PlatformSettingsSection>PlatformSettings>ProvisionGuestAgent"`
}

func parseOVF(t *testing.T, s string) ovfEnv {
	t.Helper()
	var env ovfEnv
	if err := xml.Unmarshal([]byte(s), &env); err != nil {
		t.Fatalf("ovf-env.xml: %v\n%s", err, s)
	}
	return env
}

func TestOVFEnvLinux(t *testing.T) {
	cases := goldenCases(t)
	for _, name := range []string{"linux-keys", "linux-password", "linux-both"} {
		c := cases[name]
		env := parseOVF(t, fileMap(t, c)[FileOVFEnv])
		l := env.Provisioning.Linux
		if l == nil || env.Provisioning.Windows != nil || env.Provisioning.Version != "1.0" {
			t.Fatalf("%s: provisioning section %+v", name, env.Provisioning)
		}
		if l.Type != "LinuxProvisioningConfiguration" || l.HostName != c.ComputerName || l.UserName != c.AdminUsername {
			t.Errorf("%s: %+v", name, l)
		}
		if l.Password != c.AdminPassword {
			t.Errorf("%s: UserPassword %q, want %q", name, l.Password, c.AdminPassword)
		}
		wantDisable := fmt.Sprint(c.AdminPassword == "")
		if l.DisableSSH != wantDisable {
			t.Errorf("%s: DisableSshPasswordAuthentication %s, want %s", name, l.DisableSSH, wantDisable)
		}
		if len(l.PublicKeys) != len(c.SSHPublicKeys) {
			t.Fatalf("%s: %d keys, want %d", name, len(l.PublicKeys), len(c.SSHPublicKeys))
		}
		for i, k := range l.PublicKeys {
			if k.Value != c.SSHPublicKeys[i] || k.Path != "/home/alice/.ssh/authorized_keys" || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
				t.Errorf("%s: key %d = %+v", name, i, k)
			}
		}
		if got, _ := base64.StdEncoding.DecodeString(l.CustomData); string(got) != string(c.CustomData) {
			t.Errorf("%s: CustomData %q decodes to %q", name, l.CustomData, got)
		}
		if env.ProvisionGuestAgent != "true" {
			t.Errorf("%s: ProvisionGuestAgent %q", name, env.ProvisionGuestAgent)
		}
	}
}

func TestOVFEnvAndUnattendWindows(t *testing.T) {
	c := goldenCases(t)["windows"]
	m := fileMap(t, c)
	env := parseOVF(t, m[FileOVFEnv])
	w := env.Provisioning.Windows
	if w == nil || env.Provisioning.Linux != nil || w.ComputerName != "WIN-1" || w.AdminUsername != "Alice" || w.AdminPassword != c.AdminPassword {
		t.Fatalf("windows provisioning set %+v", w)
	}
	var u struct {
		Settings []struct {
			Pass      string `xml:"pass,attr"`
			Component struct {
				ComputerName string
				Accounts     []struct {
					Name, Group string
					Password    struct{ Value, PlainText string }
				} `xml:"UserAccounts>LocalAccounts>LocalAccount"`
			} `xml:"component"`
		} `xml:"urn:schemas-microsoft-com:unattend settings"`
	}
	if err := xml.Unmarshal([]byte(m[FileUnattend]), &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Settings) != 2 || u.Settings[0].Pass != "specialize" || u.Settings[0].Component.ComputerName != "WIN-1" {
		t.Fatalf("Unattend specialize pass: %+v", u.Settings)
	}
	acc := u.Settings[1].Component.Accounts
	if u.Settings[1].Pass != "oobeSystem" || len(acc) != 1 || acc[0].Name != "Alice" || acc[0].Group != "Administrators" ||
		acc[0].Password.Value != c.AdminPassword || acc[0].Password.PlainText != "true" {
		t.Fatalf("Unattend oobeSystem pass: %+v", u.Settings[1])
	}
	if strings.Contains(m[FileUserData], "passwd") || strings.Contains(m[FileUserData], c.AdminPassword) {
		t.Errorf("windows user-data holds account data:\n%s", m[FileUserData])
	}
}

var passwdLine = regexp.MustCompile(`(?m)^    passwd: "(.*)"$`)

func TestUserData(t *testing.T) {
	cases := goldenCases(t)
	for _, name := range []string{"linux-keys", "linux-password", "linux-both"} {
		c := cases[name]
		ud, custom := userDataParts(t, fileMap(t, c)[FileUserData])
		if !bytes.Equal(custom, c.CustomData) {
			t.Errorf("%s: user-data carries custom data %q, want %q", name, custom, c.CustomData)
		}
		if !strings.HasPrefix(ud, "#cloud-config\n") {
			t.Errorf("%s: user-data does not start with #cloud-config", name)
		}
		if c.AdminPassword != "" && strings.Contains(ud, c.AdminPassword) {
			t.Errorf("%s: user-data holds the plain password", name)
		}
		m := passwdLine.FindStringSubmatch(ud)
		if c.AdminPassword == "" {
			if m != nil || !strings.Contains(ud, "lock_passwd: true") || !strings.Contains(ud, `sudo: "`+SudoWithoutPassword+`"`) {
				t.Errorf("%s: key-only user-data:\n%s", name, ud)
			}
			continue
		}
		if m == nil || !strings.Contains(ud, "lock_passwd: false") || !strings.Contains(ud, `sudo: "`+SudoWithPassword+`"`) {
			t.Fatalf("%s: user-data with password:\n%s", name, ud)
		}
		hash := strings.ReplaceAll(m[1], `\"`, `"`)
		if !shacrypt.Verify(hash, c.AdminPassword) {
			t.Errorf("%s: passwd %q is not a SHA-512 crypt hash of the password", name, hash)
		}
	}
}

// userDataParts splits a user-data into Hangar's cloud-config and the custom data,
// reading a MIME multipart archive the way cloud-init does (Python's email parser:
// each part's Content-Transfer-Encoding decoded).
func userDataParts(t *testing.T, ud string) (string, []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(ud))
	if err != nil || !strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/") {
		return ud, nil // no custom data: the cloud-config alone
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var parts [][]byte
	var types []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("user-data's MIME parts: %v", err)
		}
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			body = base64.NewDecoder(base64.StdEncoding, p)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		parts, types = append(parts, data), append(types, p.Header.Get("Content-Type"))
	}
	if len(parts) != 2 || !strings.HasPrefix(types[0], "text/cloud-config") || types[1] != "text/plain" {
		t.Fatalf("user-data with custom data: parts %q, want the cloud-config then the custom data as text/plain", types)
	}
	return string(parts[0]), parts[1]
}

func TestMetaData(t *testing.T) {
	c := validLinux(t)
	if got := fileMap(t, c)[FileMetaData]; got != "{\n  \"instance-id\": \"6f1c2a3e-0d4b-4c5a-9e8f-1a2b3c4d5e6f\",\n  \"local-hostname\": \"web-1\"\n}\n" {
		t.Errorf("meta-data = %q", got)
	}
}

func TestFilesRefusesInvalid(t *testing.T) {
	c := validLinux(t)
	c.AdminUsername = "root"
	if _, err := Files(&c); err == nil || err.Error() != `user name "root" is reserved` {
		t.Fatalf("Files = %v", err)
	}
}

func TestSaltDependsOnInstance(t *testing.T) {
	a := validLinux(t)
	b := a
	b.InstanceID = "another"
	if salt(&a) == salt(&b) {
		t.Error("two instances share a salt")
	}
}

// TestSpecializedFiles: a specialized VM's NoCloud disc names its instance and
// tells cloud-init, in YAML it can read, to keep the host name and host keys and
// add no user.
func TestSpecializedFiles(t *testing.T) {
	files, err := SpecializedFiles("i-spec")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	var meta MetaData
	if err := json.Unmarshal([]byte(got[FileMetaData]), &meta); err != nil || meta.InstanceID != "i-spec" || meta.LocalHostname != "" {
		t.Errorf("meta-data %q: %v", got[FileMetaData], err)
	}
	var ud map[string]any
	if err := yaml.Unmarshal([]byte(got[FileUserData]), &ud); err != nil || !strings.HasPrefix(got[FileUserData], "#cloud-config\n") {
		t.Fatalf("user-data %q: %v", got[FileUserData], err)
	}
	want := map[string]any{"preserve_hostname": true, "users": []any{}, "ssh_deletekeys": false, "ssh_genkeytypes": []any{}}
	if !reflect.DeepEqual(ud, want) {
		t.Errorf("user-data = %v, want %v", ud, want)
	}
}
