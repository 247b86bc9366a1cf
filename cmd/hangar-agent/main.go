// Command hangar-agent is Hangar's guest agent (docs/guest-protocol.md). Built
// static, without cgo:
//
//	CGO_ENABLED=0 go build -o hangar-agent ./cmd/hangar-agent
//
// Usage:
//
//	hangar-agent                    boot service: provision once, report, serve the channel
//	hangar-agent deprovision        generalize this machine before capturing its disk
//	hangar-agent deprovision+user   the same, and remove the last provisioned user
//	hangar-agent version            print the version
//	hangar-agent appliance          the job of Hangar's appliance VM (images/appliance)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/hangarvm/hangar/internal/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "hangar-agent: %v\n", err)
			return 1
		}
		return 0
	}
	switch args[0] {
	case "version", "--version":
		fmt.Println("hangar-agent", version)
		return 0
	case "help", "-h", "--help":
		usage()
		return 0
	case "appliance":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		return appliance(ctx)
	case "deprovision", "deprovision+user":
		return deprovision(args[0], args[1:], os.Stdin, term.IsTerminal(int(os.Stdin.Fd())), os.Stdout, os.Stderr)
	default:
		fmt.Fprintf(os.Stderr, "hangar-agent: unknown command %q\n", args[0])
		usage()
		return 2
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  hangar-agent                    boot service: provision once, report, serve the agent channel
  hangar-agent deprovision        generalize this machine before capturing its disk [--dry-run] [--force]
  hangar-agent deprovision+user   the same, and remove the last provisioned user [--dry-run] [--force]
  hangar-agent version            print the version
`)
}

// serve is the boot service: provision (or wait for a medium) while serving the
// channel, reopening it whenever the host goes away.
func serve(ctx context.Context) error {
	a := agent.New(agent.Options{
		Root:        "/",
		SysDir:      "/sys",
		DevDir:      "/dev",
		Console:     os.Stdout,
		SetHostname: setHostname,
	})
	fmt.Fprintf(os.Stdout, "hangar-agent: %s starting\n", version)
	go a.Run(ctx)
	return serveChannel(ctx, a)
}

// serveChannel finds the virtio-serial port and serves it. Writing to a port blocks
// until the host side is connected, and reading gives EOF while it is not, so after
// each EOF the port is reopened after a pause and the status sent again.
func serveChannel(ctx context.Context, a *agent.Agent) error {
	logged := false
	for {
		path, err := agent.FindChannel("/sys", "/dev")
		if err == nil {
			var f *os.File
			if f, err = os.OpenFile(path, os.O_RDWR, 0); err == nil {
				err = a.Serve(ctx, f)
				f.Close()
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !logged {
			fmt.Fprintf(os.Stdout, "hangar-agent: agent channel: %v (retrying)\n", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
