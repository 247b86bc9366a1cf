// Package stockguest holds the checks of Hangar's stock test guests: raw
// disks built by build.sh in this directory (see README.md) from Debian 12
// packages only, with cloud-init, waagent and qemu-guest-agent as Debian
// ships them and no code of Hangar's, in three flavors that differ by
// configuration files only (azure, waagent, nocloud).
//
// The tests check the disks offline (layout, the flavors' files) and boot
// them under QEMU (TCG) when HANGAR_STOCKGUEST names the directory of the
// images, and skip otherwise. The nocloud flavor is provisioned from a
// NoCloud disc written by internal/provision, as Hangar writes it, and the
// result is read back through qemu-guest-agent.
package stockguest
