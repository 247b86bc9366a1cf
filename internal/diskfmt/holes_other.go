//go:build !linux && !freebsd && !darwin

package diskfmt

// Holes are not looked for on this system: a raw file is one extent.
const (
	seekData       = 0
	seekHole       = 0
	holesSupported = false
)
