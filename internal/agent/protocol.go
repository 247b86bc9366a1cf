package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PortName is the name of the virtio-serial port of the agent channel.
const PortName = "org.hangar.agent.0"

// Message types of the agent channel (docs/guest-protocol.md).
const (
	TypeReady   = "ready"   // guest → host
	TypeFailure = "failure" // guest → host
	TypeWaiting = "waiting" // guest → host
	TypeResult  = "result"  // guest → host, answers a run
	TypeRun     = "run"     // host → guest
)

// WaitingReason is the reason of a waiting report: a generalized disk started
// without a provisioning medium.
const WaitingReason = "this disk is generalized and no provisioning medium is attached; was the image created as specialized?"

// Message is one line of the agent channel, either way. Which fields are set depends
// on Type; Provisioned and ExitCode are pointers so that false and 0 are written.
type Message struct {
	Type        string `json:"type"`
	ID          string `json:"id,omitempty"`          // run, result
	InstanceID  string `json:"instanceId,omitempty"`  // ready, failure
	Provisioned *bool  `json:"provisioned,omitempty"` // ready
	Hostname    string `json:"hostname,omitempty"`    // ready
	Reason      string `json:"reason,omitempty"`      // failure, waiting
	Script      string `json:"script,omitempty"`      // run
	ExitCode    *int   `json:"exitCode,omitempty"`    // result
	// A result's outputs, any bytes (base64 in JSON: a binary output costs 4/3 of
	// its size, where JSON string escapes could cost 6 times), each cut to its last
	// MaxOutput bytes, which the Truncated fields then say.
	Stdout          []byte `json:"stdoutBase64,omitempty"`
	Stderr          []byte `json:"stderrBase64,omitempty"`
	StdoutTruncated bool   `json:"stdoutTruncated,omitempty"`
	StderrTruncated bool   `json:"stderrTruncated,omitempty"`
}

// Ready, Failure and Waiting build the status reports.
func Ready(instanceID, hostname string, provisioned bool) Message {
	return Message{Type: TypeReady, InstanceID: instanceID, Hostname: hostname, Provisioned: &provisioned}
}

// Failure reports that provisioning failed and why.
func Failure(instanceID, reason string) Message {
	return Message{Type: TypeFailure, InstanceID: instanceID, Reason: reason}
}

// Waiting reports a generalized disk without a medium.
func Waiting() Message {
	return Message{Type: TypeWaiting, Reason: WaitingReason}
}

// ErrNoChannel reports that the guest has no virtio-serial port named PortName.
var ErrNoChannel = errors.New("no virtio-serial port named " + PortName)

// FindChannel returns the device file of the agent channel: the port whose
// sysDir/class/virtio-ports/*/name is PortName, as devDir/vportNpM.
func FindChannel(sysDir, devDir string) (string, error) {
	return FindPort(sysDir, devDir, PortName)
}

// FindPort returns the device file of the virtio-serial port named name, or
// an error wrapping fs.ErrNotExist.
func FindPort(sysDir, devDir, name string) (string, error) {
	dirs, err := filepath.Glob(filepath.Join(sysDir, "class", "virtio-ports", "*", "name"))
	if err != nil {
		return "", err
	}
	sort.Strings(dirs)
	for _, nameFile := range dirs {
		b, err := os.ReadFile(nameFile)
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(devDir, filepath.Base(filepath.Dir(nameFile))), nil
		}
	}
	if name == PortName {
		return "", ErrNoChannel
	}
	return "", fmt.Errorf("no virtio-serial port named %s: %w", name, fs.ErrNotExist)
}
