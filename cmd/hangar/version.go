package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/buildinfo"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show what this binary was built from",
		Long: `Show the version of this binary and the commit it was built from (also hangar
--version). A build from a checkout says (devel) and the commit; "modified" means the
checkout had uncommitted changes. Quote it when reporting a problem.`,
		Example: "  hangar version\n  hangar version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildinfo.Read()
			return g.print(cmd, v, func(w io.Writer) { fmt.Fprintln(w, v) })
		},
	}
}
