package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Shell completion (hangar completion bash|zsh|fish|powershell, cobra's) completes
// resource names from the server: the NAME of disk, image and vm commands, and the
// flags that name a disk, an image or a marketplace URN. It asks with the same
// server, key and CA as any command, and gives up quietly after a few seconds.

// nameKinds are the nouns whose NAME arguments complete, and what they list.
var nameKinds = map[string]string{"disk": "disks", "image": "images", "vm": "vms"}

func addCompletions(c *cobra.Command, g *globals) {
	for _, cmd := range c.Commands() {
		addCompletions(cmd, g)
		fields := strings.Fields(cmd.Use)
		if kind, ok := nameKinds[c.Name()]; ok && len(fields) > 1 && fields[1] == "NAME" && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return g.names(cmd.Context(), kind), cobra.ShellCompDirectiveNoFileComp
			}
		}
		flags := map[string]string{"os-disk": "disks", "urn": "urns", "image": "images"}
		if c.Name() == "vm" {
			flags["image"] = "references" // vm create takes any reference
		}
		for flag, kind := range flags {
			if cmd.Flags().Lookup(flag) == nil {
				continue
			}
			cmd.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return g.names(cmd.Context(), kind), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
}

// names lists what the server has of a kind for completion; nothing when it cannot
// be asked.
func (g *globals) names(ctx context.Context, kind string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := g.client()
	var out []string
	switch kind {
	case "disks":
		disks, _ := c.ListDisks(ctx)
		for _, d := range disks {
			out = append(out, d.Name)
		}
	case "vms":
		vms, _ := c.ListVMs(ctx)
		for _, v := range vms {
			out = append(out, v.Name)
		}
	case "images", "references":
		images, _ := c.ListImages(ctx, kind == "references")
		for _, im := range images {
			out = append(out, map[bool]string{true: im.Reference, false: im.Name}[kind == "references"])
		}
		if kind == "references" {
			out = append(out, g.names(ctx, "urns")...)
		}
	case "urns":
		images, _ := c.Marketplace(ctx, hangar.MarketplaceFilter{All: true})
		for _, im := range images {
			out = append(out, im.URN)
		}
	}
	return out
}
