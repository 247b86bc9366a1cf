//go:build darwin

package diskfmt

// lseek whence values that find data and holes in sparse files; macOS
// numbers them the other way round from Linux.
const (
	seekHole       = 3 // SEEK_HOLE
	seekData       = 4 // SEEK_DATA
	holesSupported = true
)
