package provision

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// azureClients returns a python3 and the environment under which it imports the
// client code of Debian's cloud-init and waagent packages, unpacked by
// scripts/deps.sh test into $HANGAR_AZURE_CLIENTS (or installed), or skips.
func azureClients(t *testing.T) (python string, env []string) {
	t.Helper()
	dir := os.Getenv("HANGAR_AZURE_CLIENTS")
	if dir == "" {
		dir = "/usr/local/lib/hangar/azure-clients"
	}
	env = os.Environ()
	if pkgs := filepath.Join(dir, "usr/lib/python3/dist-packages"); dirExists(pkgs) {
		env = append(env, "PYTHONPATH="+pkgs)
	}
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		cmd := exec.Command(path, "-c", "import cloudinit.sources.DataSourceAzure, azurelinuxagent.common.protocol.ovfenv")
		cmd.Env = env
		if cmd.Run() == nil {
			return path, env
		}
	}
	t.Skip("cloud-init's and waagent's client code is not importable by python3 (scripts/deps.sh test unpacks it)")
	return "", nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

type ovfRead struct {
	Errors    []string `json:"errors"`
	CloudInit struct {
		Hostname       string `json:"hostname"`
		Username       string `json:"username"`
		PasswordHashed bool   `json:"password_hashed"`
		LockPasswd     *bool  `json:"lock_passwd"`
		SSHPwauth      *bool  `json:"ssh_pwauth"`
		Pubkeys        []struct {
			Path, Value string
		} `json:"pubkeys"`
		UserData       string `json:"userdata"`
		Preprovisioned bool   `json:"preprovisioned"`
	} `json:"cloudinit"`
	WAAgent struct {
		Hostname               string  `json:"hostname"`
		Username               string  `json:"username"`
		Password               *string `json:"password"`
		CustomData             *string `json:"customdata"`
		DisableSSHPasswordAuth bool    `json:"disable_ssh_password_auth"`
		Pubkeys                []struct {
			Path, Fingerprint, Value string
		} `json:"pubkeys"`
		ProvisionGuestAgent string `json:"provision_guest_agent"`
	} `json:"waagent"`
}

// TestOVFEnvRealParsers: the ovf-env.xml of every Linux configuration is read
// by cloud-init's Azure datasource (DataSourceAzure.read_azure_ovf, OvfEnvXml)
// and by waagent (protocol/ovfenv.py: OvfEnv) as Debian 12 packages them, each
// finding the host name, the user, the password, the keys and the custom data.
func TestOVFEnvRealParsers(t *testing.T) {
	py, env := azureClients(t)
	cases := goldenCases(t)
	for _, name := range []string{"linux-keys", "linux-password", "linux-both"} {
		t.Run(name, func(t *testing.T) {
			c := cases[name]
			if name == "linux-password" {
				c.AdminPassword = testPassword // XML's special characters
			}
			var ovf []byte
			files, err := Files(&c)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if f.Path == FileOVFEnv {
					ovf = f.Data
				}
			}
			path := filepath.Join(t.TempDir(), FileOVFEnv)
			if err := os.WriteFile(path, ovf, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(py, "testdata/ovfenv.py", path)
			cmd.Env = env
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("ovfenv.py: %v", err)
			}
			var got ovfRead
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			for _, e := range got.Errors {
				t.Errorf("parser error: %s", e)
			}
			ci, wa := got.CloudInit, got.WAAgent
			if ci.Hostname != c.ComputerName || wa.Hostname != c.ComputerName {
				t.Errorf("host name: cloud-init %q, waagent %q", ci.Hostname, wa.Hostname)
			}
			if ci.Username != c.AdminUsername || wa.Username != c.AdminUsername {
				t.Errorf("user: cloud-init %q, waagent %q", ci.Username, wa.Username)
			}
			withPassword := c.AdminPassword != ""
			if ci.PasswordHashed != withPassword || (wa.Password != nil) != withPassword || (withPassword && *wa.Password != c.AdminPassword) {
				t.Errorf("password: cloud-init hashed %v, waagent %v", ci.PasswordHashed, wa.Password)
			}
			if ci.SSHPwauth == nil || *ci.SSHPwauth != withPassword || wa.DisableSSHPasswordAuth == withPassword {
				t.Errorf("ssh password auth: cloud-init %v, waagent disables %v", ci.SSHPwauth, wa.DisableSSHPasswordAuth)
			}
			if len(ci.Pubkeys) != len(c.SSHPublicKeys) || len(wa.Pubkeys) != len(c.SSHPublicKeys) {
				t.Fatalf("keys: cloud-init %d, waagent %d, want %d", len(ci.Pubkeys), len(wa.Pubkeys), len(c.SSHPublicKeys))
			}
			for i, k := range c.SSHPublicKeys {
				// waagent writes Value to Path, and only if it starts with "ssh-"
				// (osutil/default.py: deploy_ssh_pubkey).
				if ci.Pubkeys[i].Value != k || wa.Pubkeys[i].Value != k || wa.Pubkeys[i].Path != AuthorizedKeysPath(c.AdminUsername) || ci.Pubkeys[i].Path != wa.Pubkeys[i].Path {
					t.Errorf("key %d: cloud-init %+v, waagent %+v", i, ci.Pubkeys[i], wa.Pubkeys[i])
				}
			}
			if ci.UserData != string(c.CustomData) {
				t.Errorf("cloud-init's user data %q, want %q", ci.UserData, c.CustomData)
			}
			// waagent keeps custom data base64-encoded (Provisioning.DecodeCustomData=n).
			if (wa.CustomData != nil) != (len(c.CustomData) > 0) || (wa.CustomData != nil && *wa.CustomData != base64.StdEncoding.EncodeToString(c.CustomData)) {
				t.Errorf("waagent's custom data %v", wa.CustomData)
			}
			if wa.ProvisionGuestAgent != "true" || ci.Preprovisioned {
				t.Errorf("waagent ProvisionGuestAgent %q, cloud-init preprovisioned %v", wa.ProvisionGuestAgent, ci.Preprovisioned)
			}
		})
	}
}
