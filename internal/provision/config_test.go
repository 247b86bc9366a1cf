package provision

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKey returns a deterministic ed25519 public key line from seed.
func testKey(t testing.TB, seed byte, comment string) string {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

func validLinux(t testing.TB) Config {
	return Config{
		InstanceID:    "6f1c2a3e-0d4b-4c5a-9e8f-1a2b3c4d5e6f",
		ComputerName:  "web-1",
		OSType:        OSLinux,
		AdminUsername: "alice",
		SSHPublicKeys: []string{testKey(t, 1, "alice@laptop")},
	}
}

func TestValidate(t *testing.T) {
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, _ := ssh.NewPublicKey(&weakRSA.PublicKey)
	weakLine := string(ssh.MarshalAuthorizedKey(weakPub))

	tests := []struct {
		name   string
		edit   func(c *Config)
		field  string // "" means valid
		wantIn string
	}{
		{"valid keys only", func(c *Config) {}, "", ""},
		{"valid password only", func(c *Config) { c.SSHPublicKeys = nil; c.AdminPassword = "Secr3t-pass" }, "", ""},
		{"valid windows", func(c *Config) {
			c.OSType, c.SSHPublicKeys, c.AdminPassword, c.AdminUsername = OSWindows, nil, "Secr3t-pass", "Alice.Smith"
		}, "", ""},
		{"valid 64-char host", func(c *Config) { c.ComputerName = strings.Repeat("a", 64) }, "", ""},
		{"no instance id", func(c *Config) { c.InstanceID = "" }, "InstanceID", "instance-id is required"},
		{"bad instance id", func(c *Config) { c.InstanceID = "a b" }, "InstanceID", "may hold only"},
		{"no os", func(c *Config) { c.OSType = "" }, "OSType", "OS type is required"},
		{"bad os", func(c *Config) { c.OSType = "bsd" }, "OSType", `OS type "bsd"`},
		{"no host", func(c *Config) { c.ComputerName = "" }, "ComputerName", "computer name is required"},
		{"long linux host", func(c *Config) { c.ComputerName = strings.Repeat("a", 65) }, "ComputerName", "at most 64"},
		{"long windows host", func(c *Config) {
			c.OSType, c.SSHPublicKeys, c.AdminPassword, c.ComputerName = OSWindows, nil, "Secr3t-pass", "abcdefghijklmnop"
		}, "ComputerName", "at most 15"},
		{"host digits", func(c *Config) { c.ComputerName = "12345" }, "ComputerName", "only digits"},
		{"host leading dash", func(c *Config) { c.ComputerName = "-web" }, "ComputerName", "start or end with '-'"},
		{"host trailing dash", func(c *Config) { c.ComputerName = "web-" }, "ComputerName", "start or end with '-'"},
		{"host dot", func(c *Config) { c.ComputerName = "web.example" }, "ComputerName", "letters, digits and '-'"},
		{"no user", func(c *Config) { c.AdminUsername = "" }, "AdminUsername", "admin user name is required"},
		{"root", func(c *Config) { c.AdminUsername = "root" }, "AdminUsername", `user name "root" is reserved`},
		{"Administrator", func(c *Config) { c.AdminUsername = "Administrator" }, "AdminUsername", "is reserved"},
		{"guest", func(c *Config) { c.AdminUsername = "guest" }, "AdminUsername", "is reserved"},
		{"linux system user", func(c *Config) { c.AdminUsername = "daemon" }, "AdminUsername", "is reserved"},
		{"upper linux user", func(c *Config) { c.AdminUsername = "Alice" }, "AdminUsername", "not a Linux user name"},
		{"digit-first linux user", func(c *Config) { c.AdminUsername = "1alice" }, "AdminUsername", "not a Linux user name"},
		{"long linux user", func(c *Config) { c.AdminUsername = strings.Repeat("a", 33) }, "AdminUsername", "at most 32"},
		{"windows user dot", func(c *Config) {
			c.OSType, c.SSHPublicKeys, c.AdminPassword, c.AdminUsername = OSWindows, nil, "Secr3t-pass", "alice."
		}, "AdminUsername", "end with '.'"},
		{"windows user bad char", func(c *Config) {
			c.OSType, c.SSHPublicKeys, c.AdminPassword, c.AdminUsername = OSWindows, nil, "Secr3t-pass", "al@ce"
		}, "AdminUsername", "may not hold"},
		{"linux no credentials", func(c *Config) { c.SSHPublicKeys = nil }, "AdminPassword", "admin password or at least one SSH public key"},
		{"windows no password", func(c *Config) { c.OSType, c.SSHPublicKeys = OSWindows, nil }, "AdminPassword", "required for Windows"},
		{"short password", func(c *Config) { c.AdminPassword = "Ab1!" }, "AdminPassword", "needs 6 to 72"},
		{"short windows password", func(c *Config) {
			c.OSType, c.SSHPublicKeys, c.AdminPassword = OSWindows, nil, "Ab1!xyz"
		}, "AdminPassword", "needs 8 to 123"},
		{"simple password", func(c *Config) { c.AdminPassword = "alllowercase" }, "AdminPassword", "three of"},
		{"well-known password", func(c *Config) { c.AdminPassword = "P@ssw0rd" }, "AdminPassword", "well-known"},
		{"control char password", func(c *Config) { c.AdminPassword = "Secr3t\npass" }, "AdminPassword", "control characters"},
		{"garbage key", func(c *Config) { c.SSHPublicKeys = []string{"hello world"} }, "SSHPublicKeys", "SSH public key 1 is not an OpenSSH public key"},
		{"empty key", func(c *Config) { c.SSHPublicKeys = []string{testKey(t, 1, ""), " "} }, "SSHPublicKeys", "SSH public key 2 is empty"},
		{"private key", func(c *Config) {
			c.SSHPublicKeys = []string{"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"}
		}, "SSHPublicKeys", "is a private key"},
		{"two keys in one", func(c *Config) {
			c.SSHPublicKeys = []string{testKey(t, 1, "") + "\n" + testKey(t, 2, "")}
		}, "SSHPublicKeys", "more than one key"},
		{"key options", func(c *Config) { c.SSHPublicKeys = []string{`command="ls" ` + testKey(t, 1, "")} }, "SSHPublicKeys", "options"},
		{"weak rsa", func(c *Config) { c.SSHPublicKeys = []string{weakLine} }, "SSHPublicKeys", "1024 bits is too weak"},
		{"windows keys", func(c *Config) { c.OSType, c.AdminPassword = OSWindows, "Secr3t-pass" }, "SSHPublicKeys", "for Linux VMs"},
		{"custom data too big", func(c *Config) { c.CustomData = make([]byte, MaxCustomData+1) }, "CustomData", "at most 65536"},
		{"custom data max", func(c *Config) { c.CustomData = make([]byte, MaxCustomData) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validLinux(t)
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want a *ConfigError", err)
			}
			if ce.Field != tt.field || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Validate() = %s (field %s), want field %s and %q", err, ce.Field, tt.field, tt.wantIn)
			}
		})
	}
}
