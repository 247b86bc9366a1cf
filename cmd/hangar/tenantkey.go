package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newTenantKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage a tenant's API keys",
		Long: `Create, list and revoke a tenant's API keys. An admin manages any tenant's keys;
a tenant manages its own (to rotate a key: create a new one, switch to it, revoke
the old one). Keys are stored only as hashes: a new key is shown once, listings show
an ID, a name and the key's last characters. A revoked key stops working on every
node at once. No one may revoke the last key of their own tenant.`,
	}
	var req hangar.KeyCreate
	create := &cobra.Command{
		Use:   "create TENANT",
		Short: "Create an API key for a tenant and print it (shown only this once)",
		Example: `  hangar tenant key create alice --name ci
  hangar tenant key create alice --name laptop -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := g.client().CreateKey(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return g.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Created key %s (%s) for tenant %s.\nAPI key (shown only now; store it safely):\n%s\n", out.ID, out.Name, out.Tenant, out.Key)
			})
		},
	}
	create.Flags().StringVarP(&req.Name, "name", "n", "", "what the key is for (default: key)")
	list := &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's API keys (never the keys themselves)",
		Example: `  hangar tenant key list alice
  hangar tenant key list admin -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := g.client().ListKeys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd, keys, func(w io.Writer) {
				row(w, "ID", "NAME", "KEY", "CREATED", "BOOTSTRAP")
				for _, k := range keys {
					row(w, k.ID, k.Name, orDash(k.Hint), k.CreatedAt.Format("2006-01-02 15:04"), map[bool]string{true: "yes", false: "-"}[k.Bootstrap])
				}
			})
		},
	}
	var confirm func(string) error
	revoke := &cobra.Command{
		Use:   "revoke TENANT KEY_ID",
		Short: "Revoke an API key: it stops working on every node at once",
		Example: `  hangar tenant key revoke alice 3f2a9c1e0b7d4a55
  hangar tenant key revoke alice 3f2a9c1e0b7d4a55 --yes -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("revoke key " + args[1] + " of tenant " + args[0]); err != nil {
				return err
			}
			if err := g.client().RevokeKey(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			res := struct {
				Tenant  string `json:"tenant"`
				ID      string `json:"id"`
				Revoked bool   `json:"revoked"`
			}{args[0], args[1], true}
			return g.print(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Revoked key %s of tenant %s.\n", args[1], args[0])
			})
		},
	}
	confirm = yesFlag(revoke, g)
	cmd.AddCommand(create, list, revoke)
	return cmd
}
