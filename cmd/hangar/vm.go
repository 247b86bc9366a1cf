package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newVMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vm", Short: "Virtual machines and the marketplace images they start from"}
	cmd.AddCommand(newVMImageCmd(g), newVMCreateCmd(g), newVMListCmd(g), newVMShowCmd(g), newVMDeleteCmd(g), newVMSerialLogCmd(g), newVMRunCommandCmd(g),
		newVMBackupCmd(g), newVMGeneralizeCmd(g), newVMCaptureCmd(g),
		newVMActionCmd(g, "start", "Start a stopped or deallocated VM"),
		newVMActionCmd(g, "stop", "Power a VM off (its host resources stay reserved)"),
		newVMActionCmd(g, "deallocate", "Power a VM off and release its host resources"),
		newVMActionCmd(g, "restart", "Restart a VM"))
	return cmd
}

func newVMImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Browse the marketplace: publishers, offers, SKUs, versions and terms",
		Long: `Browse the marketplace images you may use, as az vm image does. An image is named by
its URN, PUBLISHER:OFFER:SKU:VERSION, where VERSION may be latest.`,
	}
	var f hangar.MarketplaceFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List marketplace images (the latest version of each SKU; --all for every version)",
		Example: `  hangar vm image list
  hangar vm image list --publisher Contoso --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := g.client().Marketplace(cmd.Context(), f)
			if err != nil {
				return err
			}
			return g.print(cmd, list, func(w io.Writer) {
				row(w, "URN", "OS", "STATE", "GEN", "PLAN", "TERMS ACCEPTED")
				for _, m := range list {
					plan, accepted := "-", "-"
					if m.Plan != nil {
						plan, accepted = m.Plan.Name, fmt.Sprint(m.Plan.TermsAccepted)
					}
					row(w, m.URN, m.OSType, m.OSState, m.HyperVGeneration, plan, accepted)
				}
			})
		},
	}
	list.Flags().StringVar(&f.Publisher, "publisher", "", "only this publisher")
	list.Flags().StringVar(&f.Offer, "offer", "", "only this offer")
	list.Flags().StringVar(&f.SKU, "sku", "", "only this SKU")
	list.Flags().BoolVar(&f.All, "all", false, "every version, not only the latest of each SKU")

	var urn string
	show := &cobra.Command{
		Use: "show", Short: "Show a marketplace image; latest is resolved to the exact version", Args: cobra.NoArgs,
		Example: "  hangar vm image show --urn Contoso:WebServer:2024:latest",
		RunE:    func(cmd *cobra.Command, _ []string) error { return showMarketplaceImage(cmd, g, urn) },
	}
	show.Flags().StringVar(&urn, "urn", "", "PUBLISHER:OFFER:SKU:VERSION")
	show.MarkFlagRequired("urn")

	cmd.AddCommand(list, show, newNamesCmd(g, "list-publishers", "List marketplace publishers", false, false),
		newNamesCmd(g, "list-offers", "List a publisher's offers", true, false),
		newNamesCmd(g, "list-skus", "List an offer's SKUs", true, true), newTermsCmd(g))
	return cmd
}

func showMarketplaceImage(cmd *cobra.Command, g *globals, urn string) error {
	m, err := g.client().MarketplaceImage(cmd.Context(), urn)
	if err != nil {
		return err
	}
	return g.print(cmd, m, func(w io.Writer) {
		row(w, "URN:", m.URN)
		row(w, "Type:", m.Type)
		row(w, "OS:", fmt.Sprintf("%s, %s", m.OSType, m.OSState))
		row(w, "Hyper-V generation:", m.HyperVGeneration)
		row(w, "Architecture:", m.Architecture)
		row(w, "Excluded from latest:", m.ExcludeFromLatest)
		printDefinition(w, &hangar.Image{ImageRequirements: m.ImageRequirements})
		if len(m.Properties) > 0 {
			row(w, "Properties:", m.Properties.String())
		}
		if m.Description != "" {
			row(w, "Description:", m.Description)
		}
		if m.Plan != nil {
			row(w, "Plan:", m.Plan.Name)
			row(w, "Terms accepted:", m.Plan.TermsAccepted)
		}
		if m.EULA != "" {
			row(w, "EULA:", m.EULA)
		}
		if m.EndOfLife != "" {
			row(w, "End of life:", m.EndOfLife)
		}
		if p := m.Provenance; p != nil {
			row(w, "Syndicated from:", fmt.Sprintf("%s (key %s), pulled %s", p.Upstream, p.KeyFingerprint, p.PulledAt.Format(time.RFC3339)))
			if p.WithdrawnAt != nil {
				row(w, "Withdrawn upstream:", p.WithdrawnAt.Format(time.RFC3339)+" (kept here for what uses it)")
			}
		}
	})
}

func newNamesCmd(g *globals, use, short string, needPublisher, needOffer bool) *cobra.Command {
	var publisher, offer string
	example := "  hangar vm image " + use
	if needPublisher {
		example += " --publisher Contoso"
	}
	if needOffer {
		example += " --offer WebServer"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs, Example: example,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := g.client().MarketplaceNames(cmd.Context(), publisher, offer)
			if err != nil {
				return err
			}
			type named struct {
				Name string `json:"name"`
			}
			out := make([]named, len(names))
			for i, n := range names {
				out[i] = named{n}
			}
			return g.print(cmd, out, func(w io.Writer) {
				row(w, "NAME")
				for _, n := range names {
					row(w, n)
				}
			})
		},
	}
	if needPublisher {
		cmd.Flags().StringVar(&publisher, "publisher", "", "publisher")
		cmd.MarkFlagRequired("publisher")
	}
	if needOffer {
		cmd.Flags().StringVar(&offer, "offer", "", "offer")
		cmd.MarkFlagRequired("offer")
	}
	return cmd
}

func newTermsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "terms", Short: "Show or accept the terms of a marketplace image's plan"}
	for _, accept := range []bool{false, true} {
		var urn string
		use, short := "show", "Show the terms and whether you accepted them"
		if accept {
			use, short = "accept", "Accept the terms, once, so VMs can be created from the image"
		}
		sub := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			Example: "  hangar vm image terms " + use + " --urn Contoso:SQL:enterprise:latest",
			RunE: func(cmd *cobra.Command, _ []string) error {
				t, err := g.client().Terms(cmd.Context(), urn, accept)
				if err != nil {
					return err
				}
				return g.print(cmd, t, func(w io.Writer) {
					row(w, "Publisher:", t.Publisher)
					row(w, "Offer:", t.Offer)
					row(w, "Plan:", t.Plan)
					row(w, "EULA:", orDash(t.EULA))
					row(w, "Accepted:", t.Accepted)
					if !t.Accepted {
						row(w, "", "accept with: hangar vm image terms accept --urn "+urn)
					}
				})
			},
		}
		sub.Flags().StringVar(&urn, "urn", "", "PUBLISHER:OFFER:SKU:VERSION")
		sub.MarkFlagRequired("urn")
		cmd.AddCommand(sub)
	}
	return cmd
}
