package provision

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"golang.org/x/crypto/ssh"

	"github.com/hangarvm/hangar/internal/shacrypt"
)

// Names of the files on the medium.
const (
	FileMetaData = "meta-data"
	FileUserData = "user-data"
	FileOVFEnv   = "ovf-env.xml"
	FileUnattend = "Unattend.xml"
)

// Namespaces of ovf-env.xml.
const (
	NamespaceOVF   = "http://schemas.dmtf.org/ovf/environment/1"
	NamespaceAzure = "http://schemas.microsoft.com/windowsazure"
)

// Sudo rules given to the admin user: without a password the user could not answer
// sudo's prompt.
const (
	SudoWithPassword    = "ALL=(ALL) ALL"
	SudoWithoutPassword = "ALL=(ALL) NOPASSWD:ALL"
)

// File is one file at the root of the medium.
type File struct {
	Path string
	Data []byte
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"xml":  xmlText,
	"yaml": yamlString,
}).ParseFS(templateFS, "templates/*.tmpl"))

// view is what the templates see.
type view struct {
	InstanceID         string
	Windows            bool
	HostName           string
	UserName           string
	Password           string // plain, for ovf-env.xml and Unattend.xml only
	PasswordHash       string // SHA-512 crypt, for user-data
	DisableSSHPassword bool
	Sudo               string
	KeyPath            string
	Keys               []viewKey
	CustomData         string // base64
}

type viewKey struct {
	Fingerprint string // OpenSSH SHA256 fingerprint
	Value       string // authorized_keys line
}

// Files validates c and renders the files of its medium, sorted by path: meta-data,
// user-data, ovf-env.xml and, for Windows, Unattend.xml.
func Files(c *Config) ([]File, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v, err := newView(c)
	if err != nil {
		return nil, err
	}
	meta, err := metaData(c)
	if err != nil {
		return nil, err
	}
	files := []File{{Path: FileMetaData, Data: meta}}
	names := map[string]string{FileUserData: "user-data.tmpl", FileOVFEnv: "ovf-env.xml.tmpl"}
	if v.Windows {
		names[FileUnattend] = "Unattend.xml.tmpl"
	}
	for path, tmpl := range names {
		var buf bytes.Buffer
		if err := templates.ExecuteTemplate(&buf, tmpl, v); err != nil {
			return nil, fmt.Errorf("provision: rendering %s: %w", path, err)
		}
		data := buf.Bytes()
		if path == FileUserData && len(c.CustomData) > 0 {
			data = withCustomData(data, c.CustomData)
		}
		files = append(files, File{Path: path, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// specializedUserData is the NoCloud user-data of a VM made from a specialized
// image. The disk comes from a machine cloud-init already set up, but the VM is a
// new instance to it, so without this its per-instance modules would run again:
// new SSH host keys and the distribution's default user. This keeps the machine as
// it was: its host name, its host keys, no user added.
const specializedUserData = `#cloud-config
# Written by Hangar: a VM from a specialized image is not provisioned.
preserve_hostname: true
users: []
ssh_deletekeys: false
ssh_genkeytypes: []
`

// SpecializedFiles renders the NoCloud medium of a VM made from a specialized
// image: its instance-id and a user-data that changes nothing (specializedUserData).
func SpecializedFiles(instanceID string) ([]File, error) {
	meta, err := json.MarshalIndent(struct {
		InstanceID string `json:"instance-id"`
	}{instanceID}, "", "  ")
	if err != nil {
		return nil, err
	}
	return []File{{Path: FileMetaData, Data: append(meta, '\n')}, {Path: FileUserData, Data: []byte(specializedUserData)}}, nil
}

func newView(c *Config) (*view, error) {
	v := &view{
		InstanceID:         c.InstanceID,
		Windows:            c.OSType == OSWindows,
		HostName:           c.ComputerName,
		UserName:           c.AdminUsername,
		Password:           c.AdminPassword,
		DisableSSHPassword: c.AdminPassword == "",
		Sudo:               SudoWithPassword,
		KeyPath:            AuthorizedKeysPath(c.AdminUsername),
	}
	if c.AdminPassword == "" {
		v.Sudo = SudoWithoutPassword
	} else if !v.Windows {
		h, err := shacrypt.Hash(c.AdminPassword, salt(c), 0)
		if err != nil {
			return nil, fmt.Errorf("provision: hashing the admin password: %w", err)
		}
		v.PasswordHash = h
	}
	for i := range c.SSHPublicKeys {
		k, err := parseSSHKey(c.SSHPublicKeys, i)
		if err != nil {
			return nil, err
		}
		v.Keys = append(v.Keys, viewKey{Fingerprint: ssh.FingerprintSHA256(k.key), Value: k.line})
	}
	if len(c.CustomData) > 0 {
		v.CustomData = base64.StdEncoding.EncodeToString(c.CustomData)
	}
	return v, nil
}

// customDataBoundary separates the parts of a user-data that carries custom data.
const customDataBoundary = "==hangar-user-data=="

// withCustomData makes user-data a MIME multipart archive of Hangar's cloud-config
// and the custom data, which cloud-init then handles as it handles custom data on
// Azure, where custom data is the user-data: a script runs, a cloud-config merges,
// a MIME archive or gzip is unpacked. The custom part goes as text/plain, the type
// cloud-init reads as "look at the first line" (its user_data.py, TYPE_NEEDED), in
// base64 so any bytes pass.
func withCustomData(cloudConfig, custom []byte) []byte {
	ctype := "text/plain"
	if bytes.HasPrefix(custom, []byte{0x1f, 0x8b}) {
		ctype = "application/gzip"
	}
	var b bytes.Buffer
	part := func(ctype, encoding, name string, body []byte) {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: %s\r\nContent-Disposition: attachment; filename=%q\r\n\r\n",
			customDataBoundary, ctype, encoding, name)
		b.Write(body)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\nMIME-Version: 1.0\r\n\r\n", customDataBoundary)
	part(`text/cloud-config; charset="utf-8"`, "7bit", "hangar.cfg", cloudConfig)
	enc := base64.StdEncoding.EncodeToString(custom)
	var lines []byte
	for len(enc) > 76 {
		lines = append(lines, enc[:76]+"\r\n"...)
		enc = enc[76:]
	}
	part(ctype, "base64", "custom-data", append(lines, enc...))
	fmt.Fprintf(&b, "--%s--\r\n", customDataBoundary)
	return b.Bytes()
}

// AuthorizedKeysPath is where the admin user's keys go in a Linux guest.
func AuthorizedKeysPath(user string) string {
	return "/home/" + user + "/.ssh/authorized_keys"
}

// salt derives the crypt salt of the password hash from the instance-id, new for
// every VM, and the user name: unique per VM and deterministic for golden tests.
func salt(c *Config) string {
	sum := sha256.Sum256([]byte("hangar provision salt\x00" + c.InstanceID + "\x00" + c.AdminUsername))
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [shacrypt.MaxSaltLen]byte
	for i := range b {
		b[i] = alphabet[sum[i]&0x3f]
	}
	return string(b[:])
}

// MetaData is the content of meta-data: JSON, which is also valid YAML.
type MetaData struct {
	InstanceID    string `json:"instance-id"`
	LocalHostname string `json:"local-hostname"`
}

func metaData(c *Config) ([]byte, error) {
	b, err := json.MarshalIndent(MetaData{InstanceID: c.InstanceID, LocalHostname: c.ComputerName}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// xmlText escapes s for XML character data.
func xmlText(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// yamlString quotes s as a YAML double-quoted scalar: a JSON string is one.
func yamlString(s string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
