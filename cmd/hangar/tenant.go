package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newTenantCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants (admin) and API keys"}
	var req hangar.TenantCreate
	var role string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant and print its API key (shown only this once)",
		Example: `  hangar tenant create alice
  hangar tenant create contoso --role publisher
  hangar tenant create bob --entitlement msdn`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name, req.Role = args[0], hangar.Role(role)
			out, err := g.client().CreateTenant(cmd.Context(), req)
			if err != nil {
				return err
			}
			return g.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Created tenant %s (role %s).\nAPI key (shown only now; store it safely):\n%s\n", out.Tenant.Name, out.Tenant.Role, out.Key)
				fmt.Fprintf(w, "Next: hangar login --key %s\n", out.Key)
			})
		},
	}
	enumVar(create.Flags(), &role, "role", string(hangar.RoleUser), roles, "role: user, publisher (may publish to the marketplace) or admin")
	create.Flags().StringArrayVar(&req.Entitlements, "entitlement", nil, "entitlement the tenant holds (repeatable), e.g. msdn")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Example: `  hangar tenant list
  hangar tenant list --query "[?role=='publisher'].name" -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := g.client().ListTenants(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, ts, func(w io.Writer) {
				row(w, "NAME", "ROLE", "ENTITLEMENTS", "CREATED")
				for _, t := range ts {
					row(w, t.Name, t.Role, orDash(strings.Join(t.Entitlements, ",")), t.CreatedAt.Format("2006-01-02 15:04"))
				}
			})
		},
	}
	cmd.AddCommand(create, list, newTenantShowCmd(g), newTenantUpdateCmd(g), newTenantKeyCmd(g))
	return cmd
}
