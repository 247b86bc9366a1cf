// Package compute runs VMs under QEMU.
//
// Vocabulary:
//   - base: a stored disk materialized once per host as an immutable sparse raw
//     file, named by the disk's ID (stored disks never change, so the ID is the
//     cache key). Every VM disk made from it is a qcow2 overlay on it: creating a
//     VM copies nothing.
//   - medium: the provisioning disc (package provision) a generalized image's VM
//     gets; deleted once the guest reported ready.
//   - agent channel: the virtio-serial port the guest agent reports on
//     (docs/guest-protocol.md).
//
// The QEMU command line is data built by a pure function (Args) with golden
// tests; the Manager starts, supervises and re-adopts processes. Every VM's files
// live under the data dir, in a directory named by the VM's ID, never at a path a
// tenant chose.
package compute
