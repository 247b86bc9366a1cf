// Command hangar is Hangar's one binary: `hangar serve` runs the service, every other
// sub-command is the CLI, talking to a server through package client.
package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jmespath/go-jmespath"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hangarvm/hangar/internal/client"

	"github.com/hangarvm/hangar/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newGlobals(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the CLI on args and returns the exit code: main's work without the
// process, so that tests run commands as a user does.
func run(ctx context.Context, g *globals, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if !g.running {
		// Cobra's own errors (unknown command or flag, wrong arguments, a missing
		// required flag) and a bad -o come before the command's work: the command
		// line is at fault.
		err = usageError{withHelpHint(err, cmd)}
		// Parsing may have stopped before -o: look for it alone, so that a script
		// that asked for JSON gets this error as JSON too.
		g.output = outputIn(args)
	}
	g.printError(stderr, err)
	return exitCode(err)
}

// globals are the flags every CLI command shares, and what the commands ask of
// the terminal.
type globals struct {
	server, key, output, caCert, query string
	expr                               *jmespath.JMESPath // the compiled --query
	// terminal says whether f is a terminal: stdin, to ask before destroying
	// something; stdout, to color -o jsonc.
	terminal func(f *os.File) bool
	// running is set once the command line is checked and the command's own work
	// begins: errors from before are usage errors.
	running bool
	// tagFilter is list --tag; newTags is --tags of the commands that make things.
	tagFilter, newTags []string
}

func newGlobals() *globals {
	return &globals{terminal: func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "hangar",
		Short: "VM images and the VMs made from them",
		Long: `Hangar stores virtual-machine images and provisions VMs from them.

Images come from the marketplace (publishers' images), the community repository, and
your own images, made from disks you upload. An OS image holds one generalized OS
disk; a VM image holds an OS disk (generalized or specialized) and data disks.

Start a server with "hangar serve", then "hangar login --server URL --key KEY".
Every command prints a readable table, or one document with -o json (jsonc: colored
on a terminal), -o yaml; -o none prints nothing. --query picks from the answer
(JMESPath, as az does) and -o tsv prints bare values for scripts:

  KEY=$(hangar tenant create alice --query key -o tsv)

With -o json, jsonc or yaml an error is printed on stderr as JSON too:
{"error":{"code":"ImageNotFound","message":"..."}}. Commands that delete or revoke
ask first when stdin is a terminal; in scripts, confirm with --yes (-y).

az's habits work: -n for --name, -l or --location for a region, az's spellings of
flags (each flag's help names them), enum values in any case (--os-type Linux).

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Refuse a bad -o before anything is done: an output that cannot be
			// printed must not lose what a call returned once (a new tenant's key).
			if err := g.checkOutput(); err != nil {
				return err
			}
			// Cobra checks these only after this hook: checked here, every error
			// about the command line comes before running is set.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return err
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return err
			}
			g.running = true
			return nil
		},
	}
	// No back quotes in these usages: cobra would show the quoted words as the
	// flag's value name ("--key hangar login").
	root.PersistentFlags().StringVar(&g.server, "server", "", "server URL (default: $HANGAR_SERVER, then what hangar login saved, then http://127.0.0.1:7070)")
	root.PersistentFlags().StringVar(&g.key, "key", "", "API key (default: $HANGAR_KEY, then what hangar login saved)")
	root.PersistentFlags().StringVar(&g.caCert, "ca-cert", "", "PEM file of a CA to trust, besides the system's, for an https server with its own certificate (default: $HANGAR_CA_CERT, then what hangar login saved)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json, jsonc (colored JSON on a terminal), yaml, tsv (values only, tab-separated: for scripts) or none")
	root.PersistentFlags().StringVar(&g.query, "query", "", "JMESPath query applied to the JSON answer, as with az: --query key -o tsv prints just the key")
	root.Version = buildinfo.Read().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newVersionCmd(g), newServeCmd(), newLoginCmd(g), newTenantCmd(g), newDiskCmd(g), newImageCmd(g),
		newMarketplaceCmd(g), newVMCmd(g), newAdminCmd(g), newEventCmd(g))
	addTagCommands(root, g)
	addAzAliases(root)
	addCompletions(root, g)
	refuseUnknownSubcommands(root)
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
