package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/client"
)

func newLoginCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Check a server and key, and save them for later commands",
		Long: `Check that the server answers and the key is valid, then save both (mode 0600) so
that later commands need neither --server nor --key. For an https server whose
certificate is not signed by a CA the system trusts, --ca-cert names the PEM file
of its CA; it is saved too.`,
		Example: `  hangar login --server http://127.0.0.1:7070 --key "$(cat hangar-data/admin.key)"
  hangar login --server https://hangar.example:7070 --ca-cert cluster-ca.pem --key "$KEY"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.key == "" {
				return usageErrorf("--key is required; an admin's key is in DATA_DIR/admin.key, a tenant's is printed by `hangar tenant create`")
			}
			server := firstNonEmpty(g.server, os.Getenv("HANGAR_SERVER"), "http://127.0.0.1:7070")
			ca := g.caFile(config{})
			if ca != "" {
				abs, err := filepath.Abs(ca)
				if err != nil {
					return err
				}
				ca = abs
			}
			who, err := client.New(server, g.key, client.WithCAFile(ca)).Whoami(cmd.Context())
			if err != nil {
				return err
			}
			data, _ := json.MarshalIndent(config{Server: server, Key: g.key, CACert: ca}, "", "  ")
			path := configPath()
			if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
				return err
			}
			return g.print(cmd, who, func(w io.Writer) {
				fmt.Fprintf(w, "Logged in to %s as tenant %s (role %s). Saved in %s.\n", server, who.Tenant.Name, who.Tenant.Role, path)
			})
		},
	}
}
