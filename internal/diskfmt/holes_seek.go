//go:build linux || freebsd

package diskfmt

// lseek whence values that find data and holes in sparse files.
const (
	seekData       = 3 // SEEK_DATA
	seekHole       = 4 // SEEK_HOLE
	holesSupported = true
)
