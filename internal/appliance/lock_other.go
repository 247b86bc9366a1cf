//go:build !linux

package appliance

import (
	"errors"
	"os"
)

func lockImage(f *os.File, hold bool) error { return nil }

func cloneFile(dst, src *os.File) error { return errors.ErrUnsupported }
