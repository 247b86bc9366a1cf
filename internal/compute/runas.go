package compute

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// VMs' QEMU processes run as Config.QEMUUser (-runas) when it is set: QEMU opens
// its disks, firmware, sockets and serial log as hangar serve's user, then drops
// to that user. Afterwards it still creates files, only in the VM's own directory
// (drive-backup targets for a backup or capture of a running VM, a new serial log
// when it is rotated), so that directory belongs to the QEMU user, and the
// directories above it are traversable but not listable (0711). Nothing else of
// the data dir is open to it: the chunks, bases, keys and the database keep mode
// 0700/0600.

// lookupQEMUUser resolves Config.QEMUUser and opens the way to the VM directories.
func (m *Manager) lookupQEMUUser() error {
	if m.cfg.QEMUUser == "" {
		return nil
	}
	u, err := user.Lookup(m.cfg.QEMUUser)
	if err != nil {
		return fmt.Errorf("--qemu-user %s: %w", m.cfg.QEMUUser, err)
	}
	if m.qemuUID, err = strconv.Atoi(u.Uid); err != nil {
		return fmt.Errorf("--qemu-user %s: uid %q: %w", m.cfg.QEMUUser, u.Uid, err)
	}
	if m.qemuGID, err = strconv.Atoi(u.Gid); err != nil {
		return fmt.Errorf("--qemu-user %s: gid %q: %w", m.cfg.QEMUUser, u.Gid, err)
	}
	vms := filepath.Join(m.cfg.Dir, "vms")
	for _, dir := range []string{filepath.Dir(m.cfg.Dir), m.cfg.Dir, vms} {
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
	}
	return nil
}

// giveToQEMU makes the VM directory dir, and its serial log, the QEMU user's.
func (m *Manager) giveToQEMU(dir string) error {
	if m.cfg.QEMUUser == "" {
		return nil
	}
	serial, err := os.OpenFile(filepath.Join(dir, serialLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	serial.Close()
	for _, p := range []string{dir, filepath.Join(dir, serialLog)} {
		if err := os.Chown(p, m.qemuUID, m.qemuGID); err != nil {
			return fmt.Errorf("giving %s to --qemu-user %s: %w", p, m.cfg.QEMUUser, err)
		}
	}
	return nil
}
