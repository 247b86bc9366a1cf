// Package agent is hangar-agent, the guest side of docs/guest-protocol.md: it finds
// the provisioning medium, provisions the guest once per instance, and reports to the
// host over the agent channel.
//
// Vocabulary:
//   - medium: the read-only ISO 9660 disc labelled "cidata" (package provision writes
//     it); the agent reads its meta-data (instance-id) and ovf-env.xml (everything
//     else) with its own reader, package isofs, without mounting anything.
//   - instance-id: new for every VM. The one last provisioned is recorded in
//     /var/lib/hangar-agent/instance-id: present means the disk is specialized,
//     absent means generalized.
//   - report: the status line sent to the host, ready, failure or waiting (Message).
//   - channel: the virtio-serial port org.hangar.agent.0, JSON lines both ways; the
//     core logic sees it as an io.ReadWriter (Serve), so tests use pipes.
//   - root: the root filesystem, Options.Root; "/" in the guest, a temp directory in
//     tests. Block devices and ports are found under Options.SysDir and DevDir.
//
// Invariants: every file operation goes through Options.Root; every file the agent
// changes is replaced atomically (temp file, fsync, rename, fsync of the directory),
// keeping the mode and owner of account databases; the plain password is never
// written anywhere (/etc/shadow gets a SHA-512-crypt hash, the saved ovf-env.xml has
// it masked as "*"); the instance-id is recorded last, so a failed provisioning is
// tried again on the next boot, and a medium whose instance-id is the recorded one
// changes nothing.
//
// Provisioning, in order: host name (/etc/hostname, /etc/hosts' 127.0.1.1 line,
// sethostname); the admin user (/etc/passwd, /etc/group, /etc/gshadow, /etc/shadow,
// a home from /etc/skel, ~/.ssh/authorized_keys, /etc/sudoers.d/hangar-USER); sshd's
// password login (/etc/ssh/sshd_config.d/00-hangar.conf); custom data; fresh SSH host
// keys; /etc/machine-id when systemd will not make one; then the record.
//
// Deprovisioning (`hangar-agent deprovision[+user]`) is Deprovision in deprovision.go; its
// policy, PlanDeprovision, is shared with package generalize (offline).
package agent
