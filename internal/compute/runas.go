package compute

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// VMs' QEMU processes run as Config.QEMUUser (-runas) when it is set: QEMU opens
// its disks, firmware, sockets and serial log as hangar serve's user, then drops
// to that user. Afterwards it still creates files, only in the VM's own directory
// (drive-backup targets for a backup or capture of a running VM, a new serial log
// when it is rotated), so that directory belongs to the QEMU user, and the
// directories above it are traversable but not listable (0711). A backup target
// names the VM's base as its backing file, which QEMU opens again: the bases the
// VM uses, and their directory, are readable by the QEMU user's group. Nothing
// else of the data dir is open to it: the chunks, keys and the database keep
// mode 0700/0600.

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
	// The directories above the data dir are the operator's: if one keeps the
	// QEMU user out, VMs keep this process's user (saying which directory and
	// what to do) rather than fail on their first backup while running.
	abs, err := filepath.Abs(filepath.Dir(m.cfg.Dir))
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !searchable(fi.Mode(), st, m.qemuUID, m.qemuGID) {
			m.log.Warn(fmt.Sprintf("VMs' QEMU keeps this process's user: --qemu-user %s cannot reach the data dir, "+
				"%s is not searchable by it (mode %v); run chmod o+x %s or choose another --data-dir",
				m.cfg.QEMUUser, dir, fi.Mode().Perm(), dir))
			m.cfg.QEMUUser = ""
			return nil
		}
		if dir == "/" {
			return nil
		}
	}
}

// searchable reports whether uid:gid may pass through a directory of mode and owner st.
func searchable(mode os.FileMode, st *syscall.Stat_t, uid, gid int) bool {
	switch {
	case int(st.Uid) == uid:
		return mode&0o100 != 0
	case int(st.Gid) == gid:
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// giveToQEMU makes the VM directory dir, and its serial log, the QEMU user's,
// and lets its group read the bases.
func (m *Manager) giveToQEMU(dir string, bases []string) error {
	if m.cfg.QEMUUser == "" {
		return nil
	}
	for _, b := range append([]string{m.bases.dir}, bases...) {
		mode := os.FileMode(0o640)
		if b == m.bases.dir {
			mode = 0o710
		}
		if err := os.Chown(b, -1, m.qemuGID); err != nil {
			return fmt.Errorf("letting --qemu-user %s read %s: %w", m.cfg.QEMUUser, b, err)
		}
		if err := os.Chmod(b, mode); err != nil {
			return err
		}
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
