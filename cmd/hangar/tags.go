package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Tags: `hangar disk|image|vm tag NAME KEY=VALUE...` replaces a resource's tags;
// `list --tag KEY[=VALUE]` keeps the resources that have them; `--tags KEY=VALUE...`
// on disk upload, image create and vm create tags what they make.

// tagNouns are the commands that get a tag subcommand, and the API's name for them.
var tagNouns = map[string]string{"disk": "disks", "image": "images", "vm": "vms"}

func addTagCommands(root *cobra.Command, g *globals) {
	for _, noun := range root.Commands() {
		kind, ok := tagNouns[noun.Name()]
		if !ok {
			continue
		}
		noun.AddCommand(newTagCmd(g, noun.Name(), kind))
		for _, sub := range noun.Commands() {
			switch sub.Name() {
			case "list":
				sub.Flags().StringArrayVar(&g.tagFilter, "tag", nil, "only those with this tag: KEY, or KEY=VALUE (repeat to require several)")
			case "upload", "create":
				sub.Flags().StringArrayVar(&g.newTags, "tags", nil, "tag what is made: KEY=VALUE (repeatable)")
			}
		}
	}
}

func newTagCmd(g *globals, noun, kind string) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "tag NAME [KEY=VALUE]...",
		Short: "Replace the tags of a " + noun + " (no KEY=VALUE: remove them all)",
		Long: `Replace all the tags of a ` + noun + ` with the KEY=VALUE pairs given, as Azure tags
its resources; with none, remove them. Find tagged ones with list --tag KEY[=VALUE].
At most 50 tags; keys up to 512 characters without < > % & \ ? / =, values up to 256.`,
		Example: fmt.Sprintf("  hangar %s tag web env=prod team=payments\n  hangar %s list --tag env=prod\n  hangar %s tag web", noun, noun, noun),
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := hangar.ParseTags(args[1:])
			if err != nil {
				return usageError{err}
			}
			var out map[string]any // the resource, as the server shows it
			if err := g.client().SetTags(cmd.Context(), kind, args[0], version, tags, &out); err != nil {
				return err
			}
			return g.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s: %s\n", noun, args[0], orDash(tags.String()))
			})
		},
	}
	if noun == "image" {
		cmd.Flags().StringVar(&version, "version", "", "tag this version of the image instead of the image")
	}
	return cmd
}

// tagNew tags what a create command made, when it was asked to; out receives the
// tagged resource.
func (g *globals) tagNew(cmd *cobra.Command, kind, name string, out any) error {
	if len(g.newTags) == 0 {
		return nil
	}
	tags, err := hangar.ParseTags(g.newTags)
	if err != nil {
		return err
	}
	if err := g.client().SetTags(cmd.Context(), kind, name, "", tags, out); err != nil {
		return fmt.Errorf("%s was made, but tagging it failed: %w (hangar %s tag %s KEY=VALUE... tags it)", name, err, cmd.Parent().Name(), name)
	}
	return nil
}
