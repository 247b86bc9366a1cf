package compute

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/qga"
)

// Run-command in a guest without hangar-agent goes through qemu-guest-agent
// (package qga): guest-exec of a fixed shell wrapper, the script on its standard
// input, then guest-exec-status until it exited. The rules are hangar-agent's
// (docs/guest-protocol.md): the script runs as root with sh, in /, with the same
// environment and no standard input; each output keeps its last
// hangar.MaxRunOutput bytes.

// guestAgent is a machine's connection to qemu-guest-agent, made on first use
// and shared: QEMU serves one connection to a chardev at a time, and the agent
// runs one command at a time.
type guestAgent struct {
	mu     sync.Mutex
	client *qga.Client
}

// get returns the connection, connecting to path if there is none.
func (g *guestAgent) get(path string, exited <-chan struct{}) (*qga.Client, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil {
		return g.client, nil
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	// Answers hold two outputs of at most hangar.MaxRunOutput+1 bytes each, in
	// base64, with room to spare.
	c := qga.New(conn, qga.Options{MaxReply: maxAgentLine, Timeout: 30 * time.Second})
	go func() { <-exited; c.Close() }()
	g.client = c
	return c, nil
}

// drop closes c, after a failure that may have broken it; the next run connects
// again.
func (g *guestAgent) drop(c *qga.Client) {
	g.mu.Lock()
	if g.client == c {
		g.client = nil
	}
	g.mu.Unlock()
	c.Close()
}

// runWrapper runs the script it reads on its standard input. It never holds more
// than the last MaxRunOutput+1 bytes of an output (the host marks a longer output
// truncated): qemu-guest-agent keeps the first 16 MiB of an output, and the rule
// is its end. The script goes through a file, not "sh -c": an argument is limited
// to 128 KiB by Linux, a script to 256 KiB by Hangar. No word of it comes from
// the user. A script killed by signal N ends with 128+N, as shells report it.
var runWrapper = `d=$(mktemp -d) || exit 125
trap 'rm -rf "$d"' EXIT
{ cat >"$d/script" && mkfifo "$d/out" "$d/err"; } || { echo "hangar: cannot prepare the script in $d" >&2; exit 125; }
tail -c ` + strconv.Itoa(hangar.MaxRunOutput+1) + ` <"$d/out" & o=$!
tail -c ` + strconv.Itoa(hangar.MaxRunOutput+1) + ` <"$d/err" >&2 & e=$!
cd / && sh "$d/script" </dev/null >"$d/out" 2>"$d/err"
rc=$?
wait $o $e
exit $rc
`

// runEnv is the script's whole environment, hangar-agent's.
var runEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}

// errRunTimeout says that the script started and outlived its time.
var errRunTimeout = errors.New("the script did not finish in time")

// guestExec runs script through the guest agent c until it exits or ctx ends. An
// error is errRunTimeout, a *qga.Error (the agent refused), or the agent's
// silence or failure.
func guestExec(ctx context.Context, c *qga.Client, script string) (hangar.RunCommandResult, error) {
	pid, err := c.Exec(ctx, qga.Exec{Path: "/bin/sh", Args: []string{"-c", runWrapper, "hangar-run"}, Env: runEnv,
		Input: []byte(script), CaptureOutput: true})
	if err != nil {
		return hangar.RunCommandResult{}, err
	}
	st, err := c.Wait(ctx, pid)
	if err != nil {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			// The connection's deadline may pass before ctx's own timer fires.
			return hangar.RunCommandResult{}, errRunTimeout
		}
		return hangar.RunCommandResult{}, err
	}
	msg := agentMessage{ExitCode: st.ExitCode, StdoutBase64: st.Stdout, StderrBase64: st.Stderr,
		StdoutTruncated: st.StdoutTruncated, StderrTruncated: st.StderrTruncated}
	if msg.StdoutBase64 == nil {
		msg.StdoutBase64 = []byte{}
	}
	if msg.StderrBase64 == nil {
		msg.StderrBase64 = []byte{}
	}
	if st.Signal != 0 {
		msg.ExitCode = -1 // as hangar-agent says it
	}
	return msg.result(), nil
}
