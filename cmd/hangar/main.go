// Command hangar is Hangar's one binary: `hangar serve` runs the service, every other
// sub-command is the CLI, talking to a server through package client.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/jmespath/go-jmespath"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// globals are the flags every CLI command shares.
type globals struct {
	server, key, output, caCert, query string
	expr                               *jmespath.JMESPath // the compiled --query
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "hangar",
		Short: "VM images and the VMs made from them",
		Long: `Hangar stores virtual-machine images and provisions VMs from them.

Images come from the marketplace (publishers' images), the community repository, and
your own images, made from disks you upload. An OS image holds one generalized OS
disk; a VM image holds an OS disk (generalized or specialized) and data disks.

Start a server with "hangar serve", then "hangar login --server URL --key KEY".
Every command prints a readable table, or one JSON document with -o json; --query
picks from the answer (JMESPath, as az does) and -o tsv prints bare values for scripts:

  KEY=$(hangar tenant create alice --query key -o tsv)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Refuse a bad -o before anything is done: an output that cannot be
		// printed must not lose what a call returned once (a new tenant's key).
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.checkOutput() },
	}
	// No back quotes in these usages: cobra would show the quoted words as the
	// flag's value name ("--key hangar login").
	root.PersistentFlags().StringVar(&g.server, "server", "", "server URL (default: $HANGAR_SERVER, then what hangar login saved, then http://127.0.0.1:7070)")
	root.PersistentFlags().StringVar(&g.key, "key", "", "API key (default: $HANGAR_KEY, then what hangar login saved)")
	root.PersistentFlags().StringVar(&g.caCert, "ca-cert", "", "PEM file of a CA to trust, besides the system's, for an https server with its own certificate (default: $HANGAR_CA_CERT, then what hangar login saved)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json, or tsv (values only, tab-separated: for scripts)")
	root.PersistentFlags().StringVar(&g.query, "query", "", "JMESPath query applied to the JSON answer, as with az: --query key -o tsv prints just the key")
	root.AddCommand(newServeCmd(), newLoginCmd(g), newTenantCmd(g), newDiskCmd(g), newImageCmd(g),
		newMarketplaceCmd(g), newVMCmd(g), newAdminCmd(g))
	return root
}

// config is what `hangar login` saves.
type config struct {
	Server string `json:"server"`
	Key    string `json:"key"`
	CACert string `json:"caCert,omitempty"` // absolute path
}

func configPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "hangar", "config.json")
}

func loadConfig() config {
	var c config
	if data, err := os.ReadFile(configPath()); err == nil {
		json.Unmarshal(data, &c)
	}
	return c
}

// client builds an API client from flags, environment and the login file, in that order.
func (g *globals) client() *client.Client {
	c := loadConfig()
	server := firstNonEmpty(g.server, os.Getenv("HANGAR_SERVER"), c.Server, "http://127.0.0.1:7070")
	key := firstNonEmpty(g.key, os.Getenv("HANGAR_KEY"), c.Key)
	return client.New(server, key, client.WithCAFile(g.caFile(c)))
}

// caFile is the CA certificate to trust: from the flag, the environment or the
// login file.
func (g *globals) caFile(c config) string {
	return firstNonEmpty(g.caCert, os.Getenv("HANGAR_CA_CERT"), c.CACert)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// checkOutput refuses an -o or --query that print cannot honour.
func (g *globals) checkOutput() error {
	switch g.output {
	case "json", "table", "tsv", "":
	default:
		return fmt.Errorf("unknown output format %q: use -o table, -o json or -o tsv (to name a downloaded file, use --file)", g.output)
	}
	if g.query != "" && g.expr == nil {
		expr, err := jmespath.Compile(g.query)
		if err != nil {
			return fmt.Errorf("--query %q is not a JMESPath expression: %v (examples: --query key, --query \"[].name\")", g.query, err)
		}
		g.expr = expr
	}
	return nil
}

// print writes v as JSON with -o json, else calls table with a tab writer.
func (g *globals) print(cmd *cobra.Command, v any, table func(w io.Writer)) error {
	if err := g.checkOutput(); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if g.expr != nil || g.output == "tsv" {
		doc, err := jsonDoc(v)
		if err != nil {
			return err
		}
		if g.expr != nil {
			res, err := g.expr.Search(doc)
			if err != nil {
				// The call is done: show its whole answer rather than lose it
				// (a new key is shown only once).
				writeJSON(out, doc)
				return fmt.Errorf("--query %q: %v; the whole answer is above", g.query, err)
			}
			doc = res
		}
		if g.output == "json" {
			return writeJSON(out, doc)
		}
		return writeTSV(out, doc) // a table of a query's answer has no columns to name
	}
	switch g.output {
	case "json":
		return writeJSON(out, v)
	case "table", "":
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// row writes one tab-separated table row.
func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// done prints a confirmation, or {"status": ...} with -o json.
func (g *globals) done(cmd *cobra.Command, msg string) error {
	return g.print(cmd, map[string]string{"status": msg}, func(w io.Writer) { fmt.Fprintln(w, msg) })
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
