package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hangarvm/hangar/internal/agent"
	"github.com/hangarvm/hangar/internal/generalize"
)

// The appliance's fixed layout (images/appliance): its one drive, and where the
// guest's file systems are mounted.
const (
	applianceDisk  = "/dev/vda"
	applianceMount = "/mnt/target"
)

// appliance runs `hangar-agent appliance`, the job of Hangar's appliance VM: it
// reads its job from the kernel command line, does it on the appliance's one
// drive and sends progress and the result to the host over the appliance port.
func appliance(ctx context.Context) int {
	port, err := waitFor(ctx, func() (string, error) { return agent.FindPort("/sys", "/dev", generalize.Port) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "hangar-agent appliance: %v\n", err)
		return 1
	}
	out, err := os.OpenFile(port, os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hangar-agent appliance: %v\n", err)
		return 1
	}
	defer out.Close()
	enc := json.NewEncoder(out)
	rep, err := runJob(ctx, &messageLog{enc: enc})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hangar-agent appliance: %v\n", err)
		enc.Encode(generalize.Message{Error: generalize.FailedOf(err)})
		return 1
	}
	if err := enc.Encode(generalize.Message{Report: rep}); err != nil {
		fmt.Fprintf(os.Stderr, "hangar-agent appliance: sending the report: %v\n", err)
		return 1
	}
	return 0
}

func runJob(ctx context.Context, log io.Writer) (*generalize.Report, error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, err
	}
	job, err := generalize.ParseJob(string(cmdline))
	if err != nil {
		return nil, err
	}
	// virtio_blk probes its disk asynchronously.
	if _, err := waitFor(ctx, func() (string, error) { return applianceDisk, statErr(applianceDisk) }); err != nil {
		return nil, fmt.Errorf("the disk never appeared: %w", err)
	}
	if err := os.MkdirAll(applianceMount, 0o700); err != nil {
		return nil, err
	}
	return generalize.Work(ctx, job, applianceDisk, applianceMount, log)
}

func statErr(p string) error { _, err := os.Stat(p); return err }

// waitFor retries find for up to 30 s while it reports a missing file.
func waitFor(ctx context.Context, find func() (string, error)) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := find()
		if err == nil || !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// messageLog sends each line written to it as a progress message.
type messageLog struct {
	enc  *json.Encoder
	part []byte
}

func (l *messageLog) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := l.enc.Encode(generalize.Message{Log: string(l.part[:i])}); err != nil {
			return 0, err
		}
		l.part = l.part[i+1:]
	}
}
