package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hangarvm/hangar/internal/provision"
)

// OVFEnv is what the agent takes from ovf-env.xml.
type OVFEnv struct {
	Windows bool // a WindowsProvisioningConfigurationSet, not for this agent

	HostName                         string
	UserName                         string
	UserPassword                     string
	DisableSSHPasswordAuthentication bool
	PublicKeys                       []PublicKey
	CustomData                       []byte // decoded
}

// PublicKey is one SSH/PublicKeys/PublicKey of ovf-env.xml.
type PublicKey struct {
	Fingerprint string
	Path        string
	Value       string
}

// xmlOVFEnv mirrors ovf-env.xml; the namespaces are checked on the elements that
// carry them in Azure's documents.
type xmlOVFEnv struct {
	XMLName      xml.Name `xml:"http://schemas.dmtf.org/ovf/environment/1 Environment"`
	Provisioning struct {
		Linux   *xmlLinuxSet `xml:"http://schemas.microsoft.com/windowsazure LinuxProvisioningConfigurationSet"`
		Windows *struct{}    `xml:"http://schemas.microsoft.com/windowsazure WindowsProvisioningConfigurationSet"`
	} `xml:"http://schemas.microsoft.com/windowsazure ProvisioningSection"`
}

type xmlLinuxSet struct {
	HostName     string      `xml:"HostName"`
	UserName     string      `xml:"UserName"`
	UserPassword string      `xml:"UserPassword"`
	DisableSSH   string      `xml:"DisableSshPasswordAuthentication"`
	PublicKeys   []PublicKey `xml:"SSH>PublicKeys>PublicKey"`
	CustomData   string      `xml:"CustomData"`
}

// ErrOVFEnv is wrapped by the errors of ParseOVFEnv.
var ErrOVFEnv = errors.New("invalid ovf-env.xml")

// ParseOVFEnv parses an Azure ovf-env.xml (REFERENCE.md section 2).
func ParseOVFEnv(data []byte) (*OVFEnv, error) {
	var x xmlOVFEnv
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOVFEnv, err)
	}
	if x.Provisioning.Windows != nil {
		return &OVFEnv{Windows: true}, nil
	}
	l := x.Provisioning.Linux
	if l == nil {
		return nil, fmt.Errorf("%w: no LinuxProvisioningConfigurationSet in its ProvisioningSection", ErrOVFEnv)
	}
	env := &OVFEnv{
		HostName:     strings.TrimSpace(l.HostName),
		UserName:     strings.TrimSpace(l.UserName),
		UserPassword: l.UserPassword,
		PublicKeys:   l.PublicKeys,
	}
	switch strings.ToLower(strings.TrimSpace(l.DisableSSH)) {
	case "true":
		env.DisableSSHPasswordAuthentication = true
	case "false", "":
	default:
		return nil, fmt.Errorf("%w: DisableSshPasswordAuthentication %q is not true or false", ErrOVFEnv, l.DisableSSH)
	}
	if cd := strings.Join(strings.Fields(l.CustomData), ""); cd != "" {
		if base64.StdEncoding.DecodedLen(len(cd)) > provision.MaxCustomData+3 {
			return nil, fmt.Errorf("%w: CustomData is larger than %d bytes", ErrOVFEnv, provision.MaxCustomData)
		}
		b, err := base64.StdEncoding.DecodeString(cd)
		if err != nil {
			return nil, fmt.Errorf("%w: CustomData is not base64: %v", ErrOVFEnv, err)
		}
		env.CustomData = b
	}
	return env, nil
}

// Config turns env into the provisioning configuration it describes, for
// provision.Config.Validate to check with the host's rules.
func (env *OVFEnv) Config(instanceID string) *provision.Config {
	c := &provision.Config{
		InstanceID:    instanceID,
		ComputerName:  env.HostName,
		OSType:        provision.OSLinux,
		AdminUsername: env.UserName,
		AdminPassword: env.UserPassword,
		CustomData:    env.CustomData,
	}
	for _, k := range env.PublicKeys {
		c.SSHPublicKeys = append(c.SSHPublicKeys, strings.TrimSpace(k.Value))
	}
	return c
}

// passwordElements are the elements MaskOVFEnv masks, in any namespace.
var passwordElements = map[string]bool{"UserPassword": true, "AdminPassword": true}

// MaskOVFEnv returns data with the content of every non-empty UserPassword and
// AdminPassword element replaced by "*", the rest byte for byte as it was.
func MaskOVFEnv(data []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var spans [][2]int64
	var start int64
	depth := 0 // inside a password element: its nesting depth
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOVFEnv, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth > 0 {
				depth++
			} else if passwordElements[t.Name.Local] {
				depth, start = 1, d.InputOffset()
			}
		case xml.EndElement:
			if depth > 0 {
				if depth--; depth == 0 && before > start {
					spans = append(spans, [2]int64{start, before})
				}
			}
		}
	}
	var out bytes.Buffer
	last := int64(0)
	for _, s := range spans {
		out.Write(data[last:s[0]])
		out.WriteByte('*')
		last = s[1]
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

// MetaData is what the agent takes from meta-data.
type MetaData = provision.MetaData

// ParseMetaData parses meta-data: the JSON Hangar writes, or the simple YAML form
// "key: value" other NoCloud media use. instance-id is required.
func ParseMetaData(data []byte) (*MetaData, error) {
	var m MetaData
	if err := json.Unmarshal(data, &m); err != nil {
		m = MetaData{}
		for _, line := range strings.Split(string(data), "\n") {
			key, value, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			value = strings.Trim(strings.TrimSpace(value), `"'`)
			switch strings.TrimSpace(key) {
			case "instance-id":
				m.InstanceID = value
			case "local-hostname":
				m.LocalHostname = value
			}
		}
	}
	if m.InstanceID == "" {
		return nil, errors.New("meta-data has no instance-id")
	}
	return &m, nil
}
