package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/jmespath/go-jmespath"
	"github.com/spf13/cobra"
)

// checkOutput refuses an -o or --query that print cannot honour. -o takes any case
// (az users type -o JSON as readily as -o json).
func (g *globals) checkOutput() error {
	g.output = strings.ToLower(g.output)
	switch g.output {
	case "table", "json", "jsonc", "yaml", "tsv", "none", "":
	default:
		return usageErrorf("unknown output format %q: use -o table, json, jsonc, yaml, tsv or none (to name a downloaded file, use --file)", g.output)
	}
	if g.query != "" && g.expr == nil {
		expr, err := jmespath.Compile(g.query)
		if err != nil {
			return usageErrorf("--query %q is not a JMESPath expression: %v (examples: --query key, --query \"[].name\")", g.query, err)
		}
		g.expr = expr
	}
	return nil
}

// tableOutput says whether a person reads the output: only then do commands show
// progress bars and running commentary, which would spoil a document or -o none.
func (g *globals) tableOutput() bool { return g.output == "table" || g.output == "" }

// print writes v in the -o format: with table it calls table with a tab writer;
// the other formats print v, or what --query picks of it, as a document.
func (g *globals) print(cmd *cobra.Command, v any, table func(w io.Writer)) error {
	if err := g.checkOutput(); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if g.output == "none" {
		return nil
	}
	if g.expr == nil && g.tableOutput() {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	doc := v
	if g.expr != nil {
		all, err := jsonDoc(v)
		if err != nil {
			return err
		}
		if doc, err = g.expr.Search(all); err != nil {
			// The call is done: show its whole answer rather than lose it
			// (a new key is shown only once).
			writeJSON(out, all)
			return fmt.Errorf("--query %q: %v; the whole answer is above", g.query, err)
		}
	}
	switch g.output {
	case "json":
		return writeJSON(out, doc)
	case "jsonc":
		if f, ok := out.(*os.File); ok && g.terminal(f) {
			return writeColorJSON(out, doc)
		}
		return writeJSON(out, doc)
	case "yaml":
		return writeYAML(out, doc)
	}
	// tsv, or a table of a query's answer, which has no columns to name.
	all, err := jsonDoc(doc)
	if err != nil {
		return err
	}
	return writeTSV(out, all)
}

// jsonDoc is v as a generic JSON document (maps, lists, strings, float64s), which
// --query and -o tsv work on.
func jsonDoc(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc any
	err = json.Unmarshal(data, &doc)
	return doc, err
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

// done prints a confirmation, or {"status": ...} as a document.
func (g *globals) done(cmd *cobra.Command, msg string) error {
	return g.print(cmd, map[string]string{"status": msg}, func(w io.Writer) { fmt.Fprintln(w, msg) })
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
