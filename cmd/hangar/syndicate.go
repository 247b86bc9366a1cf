package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func newSigningKeyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "signing-key",
		Short: "Show this installation's public signing key and its fingerprint",
		Long: `Show the public half of this installation's Ed25519 signing key, made on its first
start. Every marketplace entry that leaves the installation (to a subscriber, or in an
export bundle) is signed with it. Give the public key to the admins of installations
that pull from this one: they pin it with hangar marketplace upstream add --public-key.`,
		Example: "  hangar admin signing-key\n  hangar admin signing-key -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := g.client().SigningKey(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, k, func(w io.Writer) {
				fmt.Fprintf(w, "Public key:  %s\nFingerprint: %s\n", k.PublicKey, k.Fingerprint)
			})
		},
	}
}

func newUpstreamCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "upstream", Short: "Upstream Hangar installations this marketplace pulls from (admins)"}
	var req hangar.UpstreamCreate
	add := &cobra.Command{
		Use:   "add NAME --url URL --key KEY --public-key PUBLIC_KEY",
		Short: "Subscribe to an upstream Hangar's marketplace",
		Long: `Subscribe this installation to the marketplace of another Hangar. KEY is the API key
of a tenant there: what that tenant may see is what may be pulled. It is kept like a
secret and never shown back. PUBLIC_KEY is the upstream's signing key as its admin's
hangar admin signing-key shows it: everything pulled is checked against it. The
upstream is asked for its catalog once, to check both.

An upstream this installation cannot reach (air-gapped) is added with --public-key
only: its bundles are imported with hangar marketplace import.`,
		Example: `  hangar marketplace upstream add azure-mirror --url https://hangar.example:7070 \
      --key "$MIRROR_KEY" --public-key ed25519:Qm9i...
  hangar marketplace upstream add hq --public-key ed25519:Qm9i...      # bundles only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			u, err := g.client().AddUpstream(cmd.Context(), req)
			if err != nil {
				return err
			}
			return g.print(cmd, u, func(w io.Writer) {
				fmt.Fprintf(w, "Added upstream %s (%s), key %s.\n", u.Name, u.URL, u.Fingerprint)
			})
		},
	}
	f := add.Flags()
	f.StringVar(&req.URL, "url", "", "the upstream server's URL")
	f.StringVar(&req.Key, "key", "", "API key of a tenant on the upstream")
	f.StringVar(&req.PublicKey, "public-key", "", "the upstream's public signing key (ed25519:...)")
	add.MarkFlagRequired("public-key")

	var filter hangar.MarketplaceFilter
	list := &cobra.Command{
		Use:   "list [NAME] [--publisher P] [--offer O] [--sku S]",
		Short: "List the upstreams, or browse what one offers this installation",
		Example: `  hangar marketplace upstream list
  hangar marketplace upstream list azure-mirror --publisher Contoso`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			if len(args) == 0 {
				ups, err := c.Upstreams(cmd.Context())
				if err != nil {
					return err
				}
				return g.print(cmd, ups, func(w io.Writer) {
					row(w, "NAME", "URL", "KEY", "SYNDICATIONS")
					for _, u := range ups {
						var syns []string
						for _, s := range u.Syndications {
							p := s.Pattern
							if s.Follow {
								p += " (follow)"
							}
							syns = append(syns, p)
						}
						row(w, u.Name, u.URL, u.Fingerprint, orDash(strings.Join(syns, ", ")))
					}
				})
			}
			items, err := c.UpstreamItems(cmd.Context(), args[0], filter)
			if err != nil {
				return err
			}
			return g.print(cmd, items, func(w io.Writer) {
				row(w, "URN", "PLAN", "ENTITLEMENT", "SIZE", "EXCLUDED", "END OF LIFE", "HERE")
				for _, it := range items {
					row(w, it.URN, orDash(it.Plan), orDash(it.Entitlement), hangar.FormatBytes(it.StoredBytes), it.ExcludeFromLatest, orDash(it.EndOfLife), orDash(it.Local))
				}
			})
		},
	}
	list.Flags().StringVar(&filter.Publisher, "publisher", "", "only this publisher")
	list.Flags().StringVar(&filter.Offer, "offer", "", "only this offer")
	list.Flags().StringVar(&filter.SKU, "sku", "", "only this SKU")

	var confirm func(string) error
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Forget an upstream; what was pulled from it stays", Args: cobra.ExactArgs(1),
		Example: "  hangar marketplace upstream remove azure-mirror --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("forget upstream " + args[0] + " and stop following it"); err != nil {
				return err
			}
			if err := g.client().DeleteUpstream(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.done(cmd, "Removed upstream "+args[0]+".")
		},
	}
	confirm = yesFlag(remove, g)
	cmd.AddCommand(add, list, remove)
	return cmd
}

func newSyndicateCmd(g *globals) *cobra.Command {
	var (
		req    hangar.SyndicateRequest
		noWait bool
	)
	cmd := &cobra.Command{
		Use:   "syndicate UPSTREAM PUBLISHER:OFFER[:SKU[:VERSION]] [--follow]",
		Short: "Pull marketplace items from an upstream into this marketplace (admins)",
		Long: `Pull the versions matching PUBLISHER:OFFER[:SKU[:VERSION]] from an upstream into this
marketplace, under the same URNs, with the plans, terms and entitlements upstream
defines. Only the chunks this installation lacks cross the wire; each is checked
against its digest, and each manifest against the upstream's signed entry, before
anything becomes visible here.

Pulls are jobs on the servers: if this command is interrupted, or the server dies,
they resume where they stopped (hangar marketplace jobs shows them). With --follow,
new versions upstream are pulled as they appear. Every syndication is checked
again now and then (hangar serve --syndication-interval): upstream's changes to
exclude-from-latest and end-of-life are applied, and a version upstream withdrew is
marked, never deleted.`,
		Example: `  hangar marketplace syndicate azure-mirror Contoso:WebServer --follow
  hangar marketplace syndicate azure-mirror Contoso:SQL:enterprise:1.2.0`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			req.Pattern = args[1]
			res, err := c.Syndicate(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			jobs := res.Jobs
			for !noWait && !allSettled(jobs) {
				time.Sleep(200 * time.Millisecond)
				all, err := c.SyndicationJobs(cmd.Context())
				if err != nil {
					return err
				}
				jobs = sameJobs(all, jobs)
				if g.tableOutput() {
					fmt.Fprintf(cmd.ErrOrStderr(), "\r%s", progressLine(jobs))
				}
			}
			if !noWait && g.tableOutput() {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			res.Jobs = jobs
			if err := g.print(cmd, res, func(w io.Writer) { printJobs(w, jobs) }); err != nil {
				return err
			}
			for _, j := range jobs {
				if j.State == hangar.SyndicationFailed {
					return fmt.Errorf("pulling %s failed: %s", j.URN, j.Message)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&req.Follow, "follow", false, "keep pulling new versions as they appear upstream")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the pulls have started")
	return cmd
}

func newSyndicationJobsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "jobs", Short: "Show the pulls and imports from upstreams and their progress (admins)", Args: cobra.NoArgs,
		Example: "  hangar marketplace jobs\n  hangar marketplace jobs -o json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := g.client().SyndicationJobs(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, jobs, func(w io.Writer) { printJobs(w, jobs) })
		},
	}
}

func allSettled(jobs []hangar.SyndicationJob) bool {
	for _, j := range jobs {
		if j.State == hangar.SyndicationPulling {
			return false
		}
	}
	return true
}

// sameJobs picks from all the current state of the jobs in want.
func sameJobs(all, want []hangar.SyndicationJob) []hangar.SyndicationJob {
	out := make([]hangar.SyndicationJob, 0, len(want))
	for _, w := range want {
		for _, j := range all {
			if j.Upstream == w.Upstream && strings.EqualFold(j.URN, w.URN) {
				w = j
				break
			}
		}
		out = append(out, w)
	}
	return out
}

func progressLine(jobs []hangar.SyndicationJob) string {
	var total, done, copied, chunks, doneChunks int64
	for _, j := range jobs {
		total += j.TotalBytes
		done += j.DoneBytes
		copied += j.CopiedBytes
		chunks += j.TotalChunks
		doneChunks += j.DoneChunks
	}
	return fmt.Sprintf("pulling %d versions: %s of %s present (%d of %d chunks), %s copied   ",
		len(jobs), hangar.FormatBytes(done), hangar.FormatBytes(total), doneChunks, chunks, hangar.FormatBytes(copied))
}

func printJobs(w io.Writer, jobs []hangar.SyndicationJob) {
	row(w, "UPSTREAM", "URN", "STATE", "PRESENT", "CHUNKS", "COPIED", "MESSAGE")
	for _, j := range jobs {
		present := "100%"
		if j.TotalBytes > 0 {
			present = fmt.Sprintf("%d%%", j.DoneBytes*100/j.TotalBytes)
		}
		row(w, j.Upstream, j.URN, j.State, present, fmt.Sprintf("%d/%d", j.DoneChunks, j.TotalChunks),
			fmt.Sprintf("%s (%d chunks)", hangar.FormatBytes(j.CopiedBytes), j.CopiedChunks), orDash(j.Message))
	}
}

func newExportCmd(g *globals) *cobra.Command {
	var (
		dir, since, partSize string
	)
	cmd := &cobra.Command{
		Use:   "export PUBLISHER:OFFER[:SKU[:VERSION]]... --to DIR [--since DIR] [--part-size SIZE]",
		Short: "Write marketplace versions to a bundle for an air-gapped installation (admins)",
		Long: `Write the marketplace versions matching the patterns (an exact URN is one) to a
bundle in DIR: this installation's signed catalog of them, their manifests and their
chunks. Carry it to an installation that pins this one's signing key (hangar
marketplace upstream add NAME --public-key KEY) and import it there.

With --since, chunks an earlier bundle carried are left out: the importing side must
have imported that bundle first. With --part-size, the chunks are split into parts
(DIR/part-001, ...) of about that size, one per medium, each importable on its own.
Running the same export again into DIR writes only the chunk files missing.`,
		Example: `  hangar marketplace export Contoso:WebServer --to /media/usb/contoso
  hangar marketplace export Contoso:WebServer:2024:1.2.0 --to /media/usb/delta --since /media/usb/contoso
  hangar marketplace export Contoso:SQL --to /media/dvd --part-size 4GiB`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := client.ExportOptions{Since: since}
			if partSize != "" {
				n, err := hangar.ParseSize(partSize)
				if err != nil || n < chunks.ChunkSize {
					return usageErrorf("--part-size %q: give a size of at least 4MiB, as 4GiB", partSize)
				}
				opt.PartSize = n
			}
			if g.tableOutput() {
				opt.Progress = func(done, total int64) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\rwriting chunks: %s of %s   ", hangar.FormatBytes(done), hangar.FormatBytes(total))
				}
			}
			res, err := g.client().ExportBundle(cmd.Context(), args, dir, opt)
			if opt.Progress != nil {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			return g.print(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Exported %d versions to %s in %d part(s): %d chunks (%s)", len(res.Versions), res.Dir, len(res.Parts), res.Chunks, hangar.FormatBytes(res.Bytes))
				if res.Skipped > 0 {
					fmt.Fprintf(w, "; %d chunks left to the earlier bundle", res.Skipped)
				}
				fmt.Fprintln(w, ".")
			})
		},
	}
	cmd.Flags().StringVar(&dir, "to", "", "directory to write the bundle to")
	cmd.Flags().StringVar(&since, "since", "", "an earlier bundle: leave out the chunks it carried")
	cmd.Flags().StringVar(&partSize, "part-size", "", "split into parts of about this size, as 4GiB")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import DIR",
		Short: "Import a marketplace bundle, or one part of it (admins)",
		Long: `Import a bundle written by hangar marketplace export on another installation, whose
signing key an upstream here pins (hangar marketplace upstream add NAME --public-key
KEY). DIR is the bundle, or one of its parts: parts can be imported one at a time,
in any order, as the media arrive; a version becomes visible once all of it is here.

Everything is checked before anything is sent (the index, every manifest against
the signed catalog, every chunk against its digest), and the server checks the
catalog's signature and everything again: a tampered, truncated or mixed-up bundle
is refused with the reason, and nothing from it becomes visible. Only chunks the
server lacks are sent: an interrupted import run again resumes, and importing a
bundle twice changes nothing.`,
		Example: `  hangar marketplace import /media/usb/contoso
  hangar marketplace import /media/dvd/part-001`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var progress func(string, int, int)
			if g.tableOutput() {
				progress = func(part string, sent, total int) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\r%s: sent %d of %d chunks   ", part, sent, total)
				}
			}
			res, err := g.client().ImportBundle(cmd.Context(), args[0], progress)
			if progress != nil && res.SentChunks > 0 {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			return g.print(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Imported %d part(s) from upstream %s: sent %d chunks (%s).\n", len(res.Parts), res.Upstream, res.SentChunks, hangar.FormatBytes(res.SentBytes))
				printJobs(w, res.Jobs)
			})
		},
	}
}
