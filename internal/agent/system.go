package agent

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Guest paths the agent writes.
const (
	StateDir          = "/var/lib/hangar-agent"
	StateInstanceID   = StateDir + "/instance-id"
	StateOVFEnv       = StateDir + "/ovf-env.xml"
	StateCustomData   = StateDir + "/custom-data"
	SSHDConfigFile    = "/etc/ssh/sshd_config.d/00-hangar.conf"
	machineIDFile     = "/etc/machine-id"
	systemdRunDir     = "/run/systemd/system"
	uninitializedMark = "uninitialized"
)

// setHostname writes /etc/hostname, points the 127.0.1.1 line of /etc/hosts at the
// name (so sudo can resolve it) and sets the running system's name.
func (a *Agent) setHostname(name string) error {
	if err := replaceFile(a.path("/etc/hostname"), []byte(name+"\n"), 0o644, rootOwner); err != nil {
		return err
	}
	if err := a.updateHosts(name); err != nil {
		return fmt.Errorf("updating /etc/hosts: %w", err)
	}
	if a.opts.SetHostname != nil {
		return a.opts.SetHostname(name)
	}
	return nil
}

func (a *Agent) updateHosts(name string) error {
	p := a.path("/etc/hosts")
	data, err := readFileLimit(p, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	entry := "127.0.1.1\t" + name
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	found := false
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "127.0.1.1" {
			lines[i], found = entry, true
		}
	}
	if !found {
		lines = append(lines, entry)
	}
	return replaceFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644, rootOwner)
}

// writeSSHDConfig turns SSH password login off (keys only) or on, if the image has
// /etc/ssh. The file name sorts before the drop-ins of cloud images
// (50-cloud-init.conf, 60-cloudimg-settings.conf) because sshd keeps the first value
// it reads.
func (a *Agent) writeSSHDConfig(passwordLogin bool) error {
	if !isDir(a.path("/etc/ssh")) {
		return nil
	}
	if err := mkdirAllRoot(a.path(filepath.Dir(SSHDConfigFile)), 0o755); err != nil {
		return err
	}
	value := "no"
	if passwordLogin {
		value = "yes"
	}
	data := "# Written by hangar-agent.\nPasswordAuthentication " + value + "\n"
	return writeFile(a.path(SSHDConfigFile), []byte(data), 0o644, rootOwner)
}

// writeCustomData keeps the custom data (mode 0600), or removes a stale copy.
func (a *Agent) writeCustomData(data []byte) error {
	p := a.path(StateCustomData)
	if len(data) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeFile(p, data, 0o600, rootOwner)
}

// regenerateHostKeys removes every /etc/ssh/ssh_host_*_key and writes fresh ed25519
// and ECDSA P-256 keys in OpenSSH format, if the image has /etc/ssh. No RSA key:
// generating one takes seconds to tens of seconds on an emulated CPU, on the path to
// ready, and every current OpenSSH client prefers ed25519.
func (a *Agent) regenerateHostKeys(hostname string) error {
	dir := a.path("/etc/ssh")
	if !isDir(dir) {
		return nil
	}
	old, err := filepath.Glob(filepath.Join(dir, "ssh_host_*_key*"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	comment := "root@" + hostname
	for _, k := range []struct {
		name string
		key  any
	}{{"ed25519", edKey}, {"ecdsa", ecKey}} {
		if err := writeHostKey(filepath.Join(dir, "ssh_host_"+k.name+"_key"), k.key, comment); err != nil {
			return err
		}
	}
	return nil
}

func writeHostKey(path string, key any, comment string) error {
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return err
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + comment + "\n"
	if err := writeFile(path, pem.EncodeToMemory(block), 0o600, rootOwner); err != nil {
		return err
	}
	return writeFile(path+".pub", []byte(pub), 0o644, rootOwner)
}

// ensureMachineID writes a fresh /etc/machine-id when it is missing, empty or
// "uninitialized", unless systemd runs: systemd then makes one itself at boot.
func (a *Agent) ensureMachineID() error {
	if isDir(a.path(systemdRunDir)) {
		return nil
	}
	p := a.path(machineIDFile)
	data, err := readFileLimit(p, 4096)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s := strings.TrimSpace(string(data)); s != "" && s != uninitializedMark {
		return nil
	}
	id, err := newMachineID(rand.Reader)
	if err != nil {
		return err
	}
	return writeFile(p, []byte(id+"\n"), 0o444, rootOwner)
}

// newMachineID returns 32 lower-case hex digits, a version 4 UUID as systemd makes.
func newMachineID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:]), nil
}
