package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hangarvm/hangar/internal/agent"
)

// rootDir is the root filesystem deprovision works on; tests point it at a temp
// directory.
var rootDir = "/"

// deprovision runs `hangar-agent deprovision` or `deprovision+user`: it generalizes
// this machine before its disk is captured as an image. Run by a person at a
// terminal, it shows the changes and asks first unless --force (REFERENCE.md
// section 5: generalizing too easily by mistake); run by a script (the host's
// run-command, no terminal) it goes ahead.
func deprovision(name string, args []string, in io.Reader, interactive bool, out, errw io.Writer) int {
	removeUser := name == "deprovision+user"
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(errw)
	dryRun := flags.Bool("dry-run", false, "list what would be removed or changed, and change nothing")
	force := flags.Bool("force", false, "do not ask for confirmation on a terminal")
	flags.Usage = func() {
		fmt.Fprintf(errw, "usage: hangar-agent %s [--dry-run] [--force]\n\n", name)
		fmt.Fprintf(errw, "Generalizes this machine so that its disk can be captured as a generalized image\n"+
			"(each VM made from it is provisioned anew). It:\n")
		for _, line := range agent.DeprovisionPolicy(removeUser) {
			fmt.Fprintf(errw, "  - %s\n", line)
		}
		if !removeUser {
			fmt.Fprintf(errw, "The provisioned user stays; `hangar-agent deprovision+user` removes it too.\n")
		}
		fmt.Fprintf(errw, "\nThen shut the machine down and capture its disk. Options:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(errw, "hangar-agent %s: unexpected argument %q\n", name, flags.Arg(0))
		flags.Usage()
		return 2
	}
	a := agent.New(agent.Options{Root: rootDir})
	if !*dryRun && !*force && interactive {
		plan, err := a.Deprovision(agent.DeprovisionOptions{RemoveUser: removeUser, DryRun: true, Log: out})
		if err != nil {
			fmt.Fprintf(errw, "hangar-agent %s: %v\n", name, err)
			return 1
		}
		printNotes(out, plan)
		if len(plan.Changes) == 0 {
			fmt.Fprintln(out, "hangar-agent: nothing to change: this machine is already generalized")
			return 0
		}
		fmt.Fprintf(out, "WARNING: this machine will not be usable as it is after this (no host keys, "+
			"no identity%s). Generalize it? [y/N] ", map[bool]string{true: ", no provisioned user", false: ""}[removeUser])
		answer, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(out, "hangar-agent: cancelled, nothing changed")
			return 1
		}
	}
	plan, err := a.Deprovision(agent.DeprovisionOptions{RemoveUser: removeUser, DryRun: *dryRun, Log: out})
	if plan != nil {
		printNotes(out, plan)
	}
	if err != nil {
		fmt.Fprintf(errw, "hangar-agent %s: %v\n", name, err)
		if plan != nil {
			fmt.Fprintf(errw, "hangar-agent %s: the changes listed above were made; run it again to finish\n", name)
		}
		return 1
	}
	switch {
	case *dryRun:
		fmt.Fprintf(out, "hangar-agent: dry run: nothing changed (%d changes listed)\n", len(plan.Changes))
	case len(plan.Changes) == 0:
		fmt.Fprintln(out, "hangar-agent: nothing to change: this machine is already generalized")
	default:
		fmt.Fprintln(out, "hangar-agent: this machine is generalized. Shut it down now (poweroff) and capture its "+
			"disk as a generalized image; booted again without a provisioning medium, it waits for provisioning.")
	}
	return 0
}

func printNotes(w io.Writer, plan *agent.DeprovisionPlan) {
	for _, n := range plan.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
