package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newMarketplaceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "marketplace", Short: "Publish images to the marketplace (publishers); fill it from upstream installations (admins)"}
	var req hangar.MarketplacePublish
	publish := &cobra.Command{
		Use:   "publish",
		Short: "Publish a version of one of your images as PUBLISHER:OFFER:SKU:VERSION",
		Long: `Publish a version of one of your images to the marketplace. Only tenants with the
publisher role (or admins) may. The publisher name becomes yours on first use.

With --plan, tenants must accept the plan's terms (hangar vm image terms accept)
before creating VMs from it. With --entitlement, only tenants holding that
entitlement see the offer at all.`,
		Example: `  hangar marketplace publish --urn Contoso:WebServer:2024:1.0.0 --image web@1.0.0
  hangar marketplace publish --urn Contoso:SQL:enterprise:1.0.0 --image sql --plan enterprise --entitlement msdn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := g.client().PublishMarketplace(cmd.Context(), req)
			if err != nil {
				return err
			}
			return g.print(cmd, m, func(w io.Writer) { fmt.Fprintf(w, "Published %s.\n", m.URN) })
		},
	}
	f := publish.Flags()
	f.StringVar(&req.URN, "urn", "", "PUBLISHER:OFFER:SKU:VERSION (an exact version)")
	f.StringVar(&req.Image, "image", "", "your image, NAME or NAME@VERSION (default: its latest)")
	f.StringVar(&req.Plan, "plan", "", "plan whose terms tenants must accept")
	f.StringVar(&req.Entitlement, "entitlement", "", "entitlement a tenant must hold to see the offer")
	f.BoolVar(&req.ExcludeFromLatest, "exclude-from-latest", false, "never resolve latest to this version")
	publish.MarkFlagRequired("urn")
	publish.MarkFlagRequired("image")

	var confirm func(string) error
	withdraw := &cobra.Command{
		Use: "withdraw URN", Short: "Withdraw a marketplace version you published", Args: cobra.ExactArgs(1),
		Example: "  hangar marketplace withdraw Contoso:WebServer:2024:1.0.0 --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("withdraw " + args[0] + " from the marketplace (no new VM can be made from it)"); err != nil {
				return err
			}
			if err := g.client().WithdrawMarketplace(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.done(cmd, "Withdrew "+args[0]+".")
		},
	}
	confirm = yesFlag(withdraw, g)
	cmd.AddCommand(publish, withdraw, newUpstreamCmd(g), newSyndicateCmd(g), newSyndicationJobsCmd(g), newExportCmd(g), newImportCmd(g))
	return cmd
}
