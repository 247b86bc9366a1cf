package main

import "github.com/spf13/cobra"

// refuseUnknownSubcommands makes every command group under c (hangar vm, hangar vm
// image, ...) refuse words it does not know. Cobra would print the group's help and
// succeed, so that a script with a typo ("hangar vm lst") would go on as if the
// command had run.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && !sub.Runnable() {
			sub.Args = cobra.NoArgs // "unknown command "lst" for "hangar vm""
			sub.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		refuseUnknownSubcommands(sub)
	}
}
