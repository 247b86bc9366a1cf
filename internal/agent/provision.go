package agent

import (
	"errors"
	"fmt"

	"github.com/hangarvm/hangar/internal/provision"
	"github.com/hangarvm/hangar/internal/shacrypt"
)

// lockedPassword is the /etc/shadow password of an account without one: no password
// matches it, and key login still works.
const lockedPassword = "!"

// provision applies the medium m to the root filesystem and records its instance-id
// last, so that a failed attempt is tried again on the next boot. It returns the
// host name. Its errors are the reasons reported to the host.
func (a *Agent) provision(m *Medium) (string, error) {
	if m.OVFEnv == nil {
		return "", errors.New("the provisioning medium has no ovf-env.xml")
	}
	env, err := ParseOVFEnv(m.OVFEnv)
	if err != nil {
		return "", err
	}
	if env.Windows {
		return "", errors.New("the provisioning medium is for a Windows VM; this image runs Linux")
	}
	cfg := env.Config(m.InstanceID)
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	keyOnly := cfg.AdminPassword == ""
	for _, step := range []struct {
		what string
		do   func() error
	}{
		// The user first: its checks against the image's accounts fail before
		// anything is changed.
		{"creating the admin user", func() error { return a.provisionUser(cfg) }},
		{"setting the host name", func() error { return a.setHostname(cfg.ComputerName) }},
		{"configuring sshd", func() error {
			return a.writeSSHDConfig(!keyOnly && !env.DisableSSHPasswordAuthentication)
		}},
		{"creating " + StateDir, func() error { return mkdirAllRoot(a.path(StateDir), 0o700) }},
		{"saving the custom data", func() error { return a.writeCustomData(cfg.CustomData) }},
		{"making SSH host keys", func() error { return a.regenerateHostKeys(cfg.ComputerName) }},
		{"making a machine-id", a.ensureMachineID},
		{"recording the instance", func() error { return a.record(m) }},
	} {
		if err := step.do(); err != nil {
			return "", fmt.Errorf("%s: %w", step.what, err)
		}
	}
	return cfg.ComputerName, nil
}

// provisionUser creates or updates the admin user: password hash (or locked), home,
// authorized keys and sudo rights.
func (a *Agent) provisionUser(cfg *provision.Config) error {
	hash := lockedPassword
	rule := provision.SudoWithoutPassword
	if cfg.AdminPassword != "" {
		h, err := shacrypt.NewHash(cfg.AdminPassword)
		if err != nil {
			return err
		}
		hash, rule = h, provision.SudoWithPassword
	}
	days := a.opts.Now().Unix() / 86400
	u, err := a.ensureUser(cfg.AdminUsername, hash, days)
	if err != nil {
		return err
	}
	if err := a.setupHome(u, cfg.SSHPublicKeys); err != nil {
		return err
	}
	return a.writeSudoers(u.name, rule)
}

// record keeps the medium's ovf-env.xml with its password masked, then the
// instance-id.
func (a *Agent) record(m *Medium) error {
	masked, err := MaskOVFEnv(m.OVFEnv)
	if err != nil {
		return err
	}
	if err := writeFile(a.path(StateOVFEnv), masked, 0o600, rootOwner); err != nil {
		return err
	}
	return writeFile(a.path(StateInstanceID), []byte(m.InstanceID+"\n"), 0o644, rootOwner)
}
