package appliance

import (
	"context"
	"os"

	"github.com/hangarvm/hangar/internal/diskfmt"
)

// copyImage copies the raw image src of size bytes into dst: a reflink (instant,
// sharing blocks until written) where the file system supports it, else a sparse
// copy of the allocated ranges.
func copyImage(ctx context.Context, dst, src *os.File, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cloneFile(dst, src) == nil {
		return nil
	}
	d, err := diskfmt.Open(src, size, diskfmt.Options{MaxVirtualSize: 1 << 62})
	if err != nil {
		return err
	}
	if _, err := dst.Seek(0, 0); err != nil {
		return err
	}
	if err := dst.Truncate(0); err != nil {
		return err
	}
	_, err = diskfmt.WriteRaw(dst, d, diskfmt.WriteOptions{Sparse: true})
	return err
}
