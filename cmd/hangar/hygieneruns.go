package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// runsFlags are the paging flags of `admin gc runs` and `admin scrub runs`.
func runsFlags(cmd *cobra.Command, p *client.RunsPage) {
	cmd.Flags().IntVar(&p.Limit, "limit", 0, "list at most this many runs (the server's default: 100; at most 1,000)")
	cmd.Flags().StringVar(&p.Before, "before", "", "list the runs before this run ID (the next page: the last ID shown)")
}

// runColumns are the columns every run has, in a table row.
func runColumns(r hangar.HygieneRun) []any {
	took := r.EndedAt.Sub(r.StartedAt)
	if took >= time.Millisecond {
		took = took.Round(time.Millisecond)
	}
	return []any{r.ID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), took,
		r.StartedBy, r.Outcome}
}

func newGCRunsCmd(g *globals) *cobra.Command {
	var p client.RunsPage
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the garbage collections run, newest first, with who started them and their reports",
		Long: `List the history of garbage collections: who started each (the admin tenant), when,
how long it took, whether it succeeded (or why it failed) and its report. A run is
recorded when it ends; the server keeps the latest 1,000. -o json has each run's
request and whole report.`,
		Example: `  hangar admin gc runs
  hangar admin gc runs --limit 10 --before 42
  hangar admin gc runs -o json --query "[?outcome=='failed']"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := g.client().GCRuns(cmd.Context(), p)
			if err != nil {
				return err
			}
			return g.print(cmd, runs, func(w io.Writer) {
				row(w, "ID", "STARTED", "TOOK", "BY", "OUTCOME", "SCANNED", "REMOVED", "EXPIRED UPLOADS", "DETAIL")
				for _, r := range runs {
					removed := fmt.Sprintf("%d (%s)", r.Report.Removed, hangar.FormatBytes(r.Report.RemovedBytes))
					detail := "grace " + r.Request.GracePeriod
					if r.Request.DryRun {
						detail, removed = "dry run, "+detail, "would "+removed
					}
					if r.Error != "" {
						detail = r.Error
					}
					row(w, append(runColumns(r.HygieneRun), r.Report.Scanned, removed, r.Report.ExpiredUploads, detail)...)
				}
			})
		},
	}
	runsFlags(cmd, &p)
	return cmd
}

func newScrubRunsCmd(g *globals) *cobra.Command {
	var p client.RunsPage
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the scrubs run, newest first, with who started them and their reports",
		Long: `List the history of scrubs: who started each (the admin tenant), when, how long it
took, whether it succeeded (or why it failed), the chunks verified and the corrupt
ones found. A run is recorded when it ends; the server keeps the latest 1,000.
-o json has each run's whole report, corrupt chunks included.`,
		Example: `  hangar admin scrub runs
  hangar admin scrub runs -o json --query "[0].report.corrupt"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := g.client().ScrubRuns(cmd.Context(), p)
			if err != nil {
				return err
			}
			return g.print(cmd, runs, func(w io.Writer) {
				row(w, "ID", "STARTED", "TOOK", "BY", "OUTCOME", "VERIFIED", "CORRUPT", "DETAIL")
				for _, r := range runs {
					row(w, append(runColumns(r.HygieneRun), fmt.Sprintf("%d (%s)", r.Report.Scanned, hangar.FormatBytes(r.Report.ScannedBytes)),
						len(r.Report.Corrupt), r.Error)...)
				}
			})
		},
	}
	runsFlags(cmd, &p)
	return cmd
}
