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
//     (docs/guest-protocol.md). The guest is untrusted: the host reads it with
//     bounds (agentchan.go): lines of at most 4 MiB, malformed ones dropped, a
//     paced rate, reports coalesced into at most one database write a second.
//   - guest agent port: org.qemu.guest_agent.0, which qemu-guest-agent opens in
//     stock guests; run-command goes through it (guest-exec, package qga) when
//     the guest does not hold the agent channel open (guestexec.go).
//   - serial log: the guest's console, a file QEMU appends to; rotated past
//     Config.SerialLogMax by switching QEMU to a new file over QMP (serial.go).
//
// The QEMU command line is data built by a pure function (Args) with golden
// tests; the Manager starts, supervises and re-adopts processes. Every VM's files
// live under the data dir, in a directory named by the VM's ID, never at a path a
// tenant chose.
package compute
