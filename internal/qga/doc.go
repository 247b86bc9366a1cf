// Package qga speaks the QEMU guest agent protocol (qemu-ga, Debian's
// qemu-guest-agent): JSON commands and answers, one per line, over the
// virtio-serial port org.qemu.guest_agent.0, which QEMU exposes on the host as a
// unix socket chardev. Sources: QEMU's docs/interop/qemu-ga.rst and
// qga/qapi-schema.json (guest-sync-delimited, guest-exec, guest-exec-status), and
// the behaviour of qemu-ga 7.2 itself, which the tests drive.
//
// Vocabulary:
//   - command: {"execute": NAME, "arguments": {...}, "id": ID}; the agent answers
//     {"return": ...} or {"error": {"class", "desc"}}, with the same "id". The
//     agent runs one command at a time, in order.
//   - sync: the port is a byte stream that outlives any one host connection, so
//     it may hold a previous client's unread answers or half a line. The client
//     sends a 0xFF byte (the agent then drops what it had half read) and
//     guest-sync-delimited with a random number; the agent answers 0xFF followed
//     by that number. Everything before it is stale and skipped. The client syncs
//     on its first command and after any command that failed midway (a timeout,
//     an answer it could not read), as qemu-ga.rst asks.
//
// The guest is untrusted: every byte read from it is bounded (Options: a line's
// length, the bytes read for one command, the time one command may take), lines
// that are not one JSON answer with this client's id are skipped, and the
// guest's own words (error descriptions) are cut to a bound. A Client never
// blocks past its context or Options.Timeout.
package qga
