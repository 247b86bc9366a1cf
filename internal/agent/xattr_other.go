//go:build !linux

package agent

import "os"

func copyXattrs(string, *os.File) error { return nil }
