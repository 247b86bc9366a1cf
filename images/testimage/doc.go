// Package testimage holds the checks of Hangar's tiny test guest image.
//
// The image itself is built by build.sh in this directory (see README.md):
// a raw GPT disk that boots with BIOS (syslinux) and with UEFI (a unified
// kernel image), with Debian's cloud kernel, a busybox initramfs and root,
// and optionally hangar-agent. The tests boot a built image under QEMU (TCG)
// when HANGAR_TESTIMAGE names it, and skip otherwise.
package testimage
