package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administration: garbage collection, scrubbing, compute hosts, store migration"}
	var req hangar.GCRequest
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Remove chunks that no disk or upload references",
		Long: `Remove chunks that no disk and no upload in progress references. Chunks saved within
the grace period are kept, so an upload in flight (whose chunks are referenced only
once it commits) loses nothing. Uploads older than --upload-max-age are forgotten first.`,
		Example: `  hangar admin gc --dry-run
  hangar admin gc --grace 30m
  hangar admin gc runs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := g.client().GC(cmd.Context(), req)
			if err != nil {
				return err
			}
			return g.print(cmd, rep, func(w io.Writer) {
				verb := "Removed"
				if rep.DryRun {
					verb = "Would remove"
				}
				fmt.Fprintf(w, "Scanned %d chunks: %d referenced, %d within the grace period. %s %d chunks (%s). Forgot %d stale uploads.\n",
					rep.Scanned, rep.Referenced, rep.TooYoung, verb, rep.Removed, hangar.FormatBytes(rep.RemovedBytes), rep.ExpiredUploads)
			})
		},
	}
	gc.Flags().StringVar(&req.GracePeriod, "grace", "1h", "keep chunks saved more recently than this")
	gc.Flags().StringVar(&req.UploadMaxAge, "upload-max-age", "168h", "forget uploads started longer ago than this")
	gc.Flags().BoolVar(&req.DryRun, "dry-run", false, "only report what would be removed")
	scrub := &cobra.Command{
		Use:   "scrub",
		Short: "Re-verify every chunk, in every region; quarantine corrupt ones and name the disks they damage",
		Example: `  hangar admin scrub
  hangar admin scrub -o json
  hangar admin scrub runs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := g.client().Scrub(cmd.Context())
			if err != nil {
				return err
			}
			if err := g.print(cmd, rep, func(w io.Writer) {
				fmt.Fprintf(w, "Verified %d chunks (%s): %d corrupt.\n", rep.Scanned, hangar.FormatBytes(rep.ScannedBytes), len(rep.Corrupt))
				for _, c := range rep.Corrupt {
					if c.Region != "" {
						fmt.Fprintf(w, "  %s in region %s moved to %s; its replicas there are being copied again\n", c.Digest[:12], c.Region, c.Quarantined)
						continue
					}
					fmt.Fprintf(w, "  %s moved to %s; damaged disks: %v (upload them again to heal)\n", c.Digest[:12], c.Quarantined, c.Disks)
				}
			}); err != nil {
				return err
			}
			if len(rep.Corrupt) > 0 {
				return fmt.Errorf("%d corrupt chunks found", len(rep.Corrupt))
			}
			return nil
		},
	}
	gc.AddCommand(newGCRunsCmd(g))
	scrub.AddCommand(newScrubRunsCmd(g))
	cmd.AddCommand(gc, scrub, newAdminHostsCmd(g), newMigrateStoreCmd(g), newSigningKeyCmd(g))
	return cmd
}
