package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// yesFlag adds --yes (-y) to a command that destroys what cannot be had back, and
// returns the check its RunE makes before the call. The check asks when stdin is a
// terminal; otherwise it refuses, since nobody can answer: a script says --yes,
// so that a command pasted into one never deletes by default.
func yesFlag(cmd *cobra.Command, g *globals) func(action string) error {
	var yes bool
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (scripts, where stdin is not a terminal, must give it)")
	return func(action string) error {
		if yes {
			return nil
		}
		return g.confirm(cmd, action)
	}
}

// confirm asks on the terminal whether to do action ("delete VM web1").
func (g *globals) confirm(cmd *cobra.Command, action string) error {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !g.terminal(in) {
		return usageErrorf("will not %s without confirmation, and stdin is not a terminal to ask on: add --yes (-y) to confirm", action)
	}
	first, n := utf8.DecodeRuneInString(action)
	fmt.Fprintf(cmd.ErrOrStderr(), "%c%s? [y/N] ", unicode.ToUpper(first), action[n:])
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed: nothing was changed (--yes skips the question)")
}
