package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hangarvm/hangar/internal/agent/isofs"
	"github.com/hangarvm/hangar/internal/provision"
)

// Limits on the files read from a medium.
const (
	maxMetaData = 64 << 10
	maxOVFEnv   = 1 << 20
)

// Medium is a provisioning medium found on a block device.
type Medium struct {
	Device     string // the device file it was read from
	InstanceID string
	Hostname   string // local-hostname of meta-data
	OVFEnv     []byte // ovf-env.xml as read; nil when the medium has none
}

// FindMedium scans the block devices listed in sysDir/class/block for an ISO 9660
// volume labelled "cidata" or "CIDATA", opening each as devDir/NAME read-only, and
// reads the first one found (in name order). It returns nil, nil when there is none.
// A medium that is found but cannot be read is an error.
func FindMedium(sysDir, devDir string) (*Medium, error) {
	entries, err := os.ReadDir(filepath.Join(sysDir, "class", "block"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		size, err := os.ReadFile(filepath.Join(sysDir, "class", "block", name, "size"))
		if err != nil || strings.TrimSpace(string(size)) == "0" {
			continue // gone, or an empty drive
		}
		m, err := readMedium(filepath.Join(devDir, name))
		if err != nil || m != nil {
			return m, err
		}
	}
	return nil, nil
}

// readMedium returns the medium on device, nil if it is not one.
func readMedium(device string) (*Medium, error) {
	f, err := os.Open(device)
	if err != nil {
		return nil, nil // no medium in the drive, or no such node: not ours
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, nil
	}
	label, err := isofs.Label(f, size)
	if err != nil || (label != provision.VolumeLabel && label != strings.ToUpper(provision.VolumeLabel)) {
		return nil, nil
	}
	m, err := ReadMedium(f, size)
	if err != nil {
		return nil, fmt.Errorf("provisioning medium %s: %w", device, err)
	}
	m.Device = device
	return m, nil
}

// ReadMedium reads meta-data and ovf-env.xml from the ISO image r of size bytes.
func ReadMedium(r io.ReaderAt, size int64) (*Medium, error) {
	v, err := isofs.Open(r, size)
	if err != nil {
		return nil, err
	}
	meta, err := v.ReadFile(provision.FileMetaData, maxMetaData)
	if err != nil {
		return nil, err
	}
	md, err := ParseMetaData(meta)
	if err != nil {
		return nil, err
	}
	m := &Medium{InstanceID: md.InstanceID, Hostname: md.LocalHostname}
	m.OVFEnv, err = v.ReadFile(provision.FileOVFEnv, maxOVFEnv)
	if err != nil && !errors.Is(err, isofs.ErrNotFound) {
		return nil, err
	}
	return m, nil
}
