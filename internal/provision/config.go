package provision

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Operating system types of a Config.
const (
	OSLinux   = "linux"
	OSWindows = "windows"
)

// Limits of a Config, as Azure sets them.
const (
	MaxCustomData       = 64 << 10 // bytes, decoded
	MaxInstanceID       = 128
	MaxLinuxHostName    = 64
	MaxWindowsHostName  = 15
	MaxLinuxUserName    = 32 // what useradd accepts (Azure allows 64)
	MaxWindowsUserName  = 20
	MinLinuxPassword    = 6
	MaxLinuxPassword    = 72
	MinWindowsPassword  = 8
	MaxWindowsPassword  = 123
	MinSSHRSAKeyBits    = 2048
	maxSSHPublicKeys    = 32
	maxSSHPublicKeySize = 16 << 10
)

// Config is what a new VM is provisioned with.
type Config struct {
	InstanceID    string   // required, new for every VM
	ComputerName  string   // host name
	OSType        string   // OSLinux or OSWindows
	AdminUsername string   // the admin account created in the guest
	AdminPassword string   // optional for Linux when SSH keys are given
	SSHPublicKeys []string // optional, Linux only; one OpenSSH public key each
	CustomData    []byte   // optional, at most MaxCustomData bytes
}

// ErrInvalidConfig is wrapped by every error of Validate.
var ErrInvalidConfig = errors.New("invalid provisioning configuration")

// ConfigError says which field of a Config is wrong and how to fix it. Its message
// reads well on its own, for example `user name "root" is reserved`.
type ConfigError struct {
	Field string // the Config field, such as "AdminUsername"
	Msg   string
}

func (e *ConfigError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func invalid(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks c against Azure's rules and returns the first problem as a
// *ConfigError, or nil.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.validateInstanceID, c.validateOSType, c.validateComputerName,
		c.validateUserName, c.validatePassword, c.validateSSHKeys, c.validateCustomData,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateInstanceID() error {
	id := c.InstanceID
	if id == "" {
		return invalid("InstanceID", "instance-id is required")
	}
	if len(id) > MaxInstanceID {
		return invalid("InstanceID", "instance-id is %d characters long; at most %d are allowed", len(id), MaxInstanceID)
	}
	for _, r := range id {
		if !isASCIILetterOrDigit(r) && !strings.ContainsRune("-_.:", r) {
			return invalid("InstanceID", "instance-id %q may hold only letters, digits, '-', '_', '.' and ':'", id)
		}
	}
	return nil
}

func (c *Config) validateOSType() error {
	switch c.OSType {
	case OSLinux, OSWindows:
		return nil
	case "":
		return invalid("OSType", "OS type is required: %q or %q", OSLinux, OSWindows)
	}
	return invalid("OSType", "OS type %q is not %q or %q", c.OSType, OSLinux, OSWindows)
}

// validateComputerName applies Azure's host name rules: letters, digits and '-', not
// all digits, no '-' first or last; 1-64 characters for Linux, 1-15 for Windows.
func (c *Config) validateComputerName() error {
	name, limit := c.ComputerName, MaxLinuxHostName
	if c.OSType == OSWindows {
		limit = MaxWindowsHostName
	}
	switch {
	case name == "":
		return invalid("ComputerName", "computer name is required")
	case len(name) > limit:
		return invalid("ComputerName", "computer name %q is %d characters long; %s allows at most %d", name, len(name), c.OSType, limit)
	case name[0] == '-' || name[len(name)-1] == '-':
		return invalid("ComputerName", "computer name %q may not start or end with '-'", name)
	case strings.Trim(name, "0123456789") == "":
		return invalid("ComputerName", "computer name %q may not be only digits", name)
	}
	for _, r := range name {
		if !isASCIILetterOrDigit(r) && r != '-' {
			return invalid("ComputerName", "computer name %q may hold only letters, digits and '-'", name)
		}
	}
	return nil
}

// reservedUserNames are the admin user names Azure refuses for every OS.
var reservedUserNames = []string{
	"1", "123", "a", "actuser", "adm", "admin", "admin1", "admin2", "administrator",
	"aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server",
	"sql", "support", "support_388945a0", "sys", "test", "test1", "test2", "test3",
	"user", "user1", "user2", "user3", "user4", "user5",
}

// linuxSystemNames are accounts and groups that Linux distributions ship; Azure's
// "Selecting user names for Linux" asks not to use them for the admin user.
var linuxSystemNames = []string{
	"audio", "bin", "cdrom", "crontab", "daemon", "dialout", "dip", "disk", "docker",
	"fax", "floppy", "ftp", "fuse", "games", "gnats", "halt", "input", "irc", "kmem",
	"kvm", "landscape", "libuuid", "list", "lp", "lxd", "mail", "man", "messagebus",
	"netdev", "news", "nobody", "nogroup", "operator", "plugdev", "polkitd", "proxy",
	"render", "sasl", "shadow", "shutdown", "src", "ssh", "sshd", "staff", "sudo", "sync",
	"syslog", "systemd-journal", "systemd-network", "systemd-resolve", "tape", "tty",
	"users", "utmp", "uucp", "video", "voice", "wheel", "www-data",
}

func (c *Config) validateUserName() error {
	name := c.AdminUsername
	if name == "" {
		return invalid("AdminUsername", "admin user name is required")
	}
	lower := strings.ToLower(name)
	if slices.Contains(reservedUserNames, lower) || (c.OSType == OSLinux && slices.Contains(linuxSystemNames, lower)) {
		return invalid("AdminUsername", "user name %q is reserved", name)
	}
	if c.OSType == OSWindows {
		return validateWindowsUserName(name)
	}
	return validateLinuxUserName(name)
}

// validateLinuxUserName applies useradd's portable rule: a lower-case letter or '_',
// then lower-case letters, digits, '_' or '-', at most 32 characters.
func validateLinuxUserName(name string) error {
	if len(name) > MaxLinuxUserName {
		return invalid("AdminUsername", "user name %q is %d characters long; Linux allows at most %d", name, len(name), MaxLinuxUserName)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '-')
		if !ok {
			return invalid("AdminUsername", "user name %q is not a Linux user name: use lower-case letters, digits, '_' and '-', starting with a letter or '_'", name)
		}
	}
	return nil
}

// validateWindowsUserName applies Windows' rule: at most 20 characters, none of
// "/\[]:;|=,+*?<>@ or control characters, not ending in '.'.
func validateWindowsUserName(name string) error {
	if n := utf8.RuneCountInString(name); n > MaxWindowsUserName {
		return invalid("AdminUsername", "user name %q is %d characters long; Windows allows at most %d", name, n, MaxWindowsUserName)
	}
	if strings.HasSuffix(name, ".") {
		return invalid("AdminUsername", "user name %q may not end with '.'", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r) || !utf8.ValidRune(r) {
			return invalid("AdminUsername", "user name %q may not hold %q", name, r)
		}
	}
	if strings.TrimSpace(name) != name || strings.Trim(name, ". ") == "" {
		return invalid("AdminUsername", "user name %q may not start or end with spaces or be only dots and spaces", name)
	}
	return nil
}

// disallowedPasswords are passwords Azure refuses whatever their complexity.
var disallowedPasswords = []string{
	"abc@123", "P@$$w0rd", "P@ssw0rd", "P@ssword123", "Pa$$word", "pass@word1",
	"Password!", "Password1", "Password22", "iloveyou!",
}

// validatePassword applies Azure's rules: 6-72 characters for Linux, 8-123 for
// Windows, three of lower case, upper case, digit and special character.
func (c *Config) validatePassword() error {
	pw := c.AdminPassword
	if pw == "" {
		if c.OSType == OSWindows {
			return invalid("AdminPassword", "an admin password is required for Windows")
		}
		if len(c.SSHPublicKeys) == 0 {
			return invalid("AdminPassword", "give an admin password or at least one SSH public key")
		}
		return nil
	}
	lo, hi := MinLinuxPassword, MaxLinuxPassword
	if c.OSType == OSWindows {
		lo, hi = MinWindowsPassword, MaxWindowsPassword
	}
	if !utf8.ValidString(pw) {
		return invalid("AdminPassword", "the admin password is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < lo || n > hi {
		return invalid("AdminPassword", "the admin password has %d characters; %s needs %d to %d", n, c.OSType, lo, hi)
	}
	var lower, upper, digit, special int
	for _, r := range pw {
		switch {
		case unicode.IsControl(r):
			return invalid("AdminPassword", "the admin password may not hold control characters")
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			special = 1
		}
	}
	if lower+upper+digit+special < 3 {
		return invalid("AdminPassword", "the admin password needs three of: a lower-case letter, an upper-case letter, a digit, a special character")
	}
	if slices.Contains(disallowedPasswords, pw) {
		return invalid("AdminPassword", "the admin password is a well-known one; choose another")
	}
	return nil
}

func (c *Config) validateSSHKeys() error {
	if len(c.SSHPublicKeys) > 0 && c.OSType == OSWindows {
		return invalid("SSHPublicKeys", "SSH public keys are for Linux VMs; Windows VMs take an admin password")
	}
	if len(c.SSHPublicKeys) > maxSSHPublicKeys {
		return invalid("SSHPublicKeys", "%d SSH public keys given; at most %d are allowed", len(c.SSHPublicKeys), maxSSHPublicKeys)
	}
	for i := range c.SSHPublicKeys {
		if _, err := parseSSHKey(c.SSHPublicKeys, i); err != nil {
			return err
		}
	}
	return nil
}

// sshKey is a parsed public key and its authorized_keys line without options.
type sshKey struct {
	key  ssh.PublicKey
	line string // "type base64 [comment]"
}

// parseSSHKey parses keys[i], which must hold exactly one OpenSSH public key line.
func parseSSHKey(keys []string, i int) (sshKey, error) {
	text := strings.TrimSpace(keys[i])
	field := "SSHPublicKeys"
	n := i + 1
	if text == "" {
		return sshKey{}, invalid(field, "SSH public key %d is empty", n)
	}
	if len(text) > maxSSHPublicKeySize {
		return sshKey{}, invalid(field, "SSH public key %d is %d bytes long; at most %d are allowed", n, len(text), maxSSHPublicKeySize)
	}
	if strings.Contains(text, "PRIVATE KEY") {
		return sshKey{}, invalid(field, "SSH public key %d is a private key: give the public key (the .pub file) and keep the private key secret", n)
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return sshKey{}, invalid(field, "SSH public key %d is not an OpenSSH public key (expected one line such as \"ssh-ed25519 AAAA... me@laptop\", as in ~/.ssh/id_ed25519.pub)", n)
	}
	if len(options) > 0 {
		return sshKey{}, invalid(field, "SSH public key %d has authorized_keys options (%s); give the bare key", n, strings.Join(options, ","))
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return sshKey{}, invalid(field, "SSH public key %d holds more than one key; give one key per entry", n)
	}
	if err := checkKeyStrength(pub); err != nil {
		return sshKey{}, invalid(field, "SSH public key %d: %v", n, err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return sshKey{key: pub, line: line}, nil
}

func checkKeyStrength(pub ssh.PublicKey) error {
	switch pub.Type() {
	case "ssh-dss": // DSA; not ssh.KeyAlgoDSA, which is deprecated
		return errors.New("DSA keys are refused by current OpenSSH; use an ed25519 or RSA key")
	case ssh.KeyAlgoRSA:
		ck, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return nil
		}
		if k, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && k.N.BitLen() < MinSSHRSAKeyBits {
			return fmt.Errorf("RSA key of %d bits is too weak; use at least %d bits or an ed25519 key", k.N.BitLen(), MinSSHRSAKeyBits)
		}
	}
	return nil
}

func (c *Config) validateCustomData() error {
	if len(c.CustomData) > MaxCustomData {
		return invalid("CustomData", "custom data is %d bytes; at most %d (64 KiB) are allowed", len(c.CustomData), MaxCustomData)
	}
	return nil
}

func isASCIILetterOrDigit(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
