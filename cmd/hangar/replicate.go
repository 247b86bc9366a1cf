package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newImageReplicateCmd(g *globals) *cobra.Command {
	var (
		regions []string
		noWait  bool
	)
	cmd := &cobra.Command{
		Use:   "replicate NAME VERSION [--region REGION[=COUNT]]...",
		Short: "Copy an image version to other regions, or show where it is",
		Long: `Copy an image version to other regions' chunk stores, so that VMs in those
regions can use it. Only the chunks a region lacks are copied: a new version that
shares most of its data with one already there costs only the difference.

The version is usable in a region as soon as that region shows Completed. Without
--region the command shows the version's regions and their progress. Regions are
configured on the servers (hangar serve --region-store NAME=URL); COUNT is the
region's replica count (default 1), recorded as on Azure.

Replication runs on the servers: if this command is interrupted, or the server
doing the copy dies, it goes on (another node takes the job over).`,
		Example: `  hangar image replicate web 1.2.0 --region westeurope --region eastus=2
  hangar image replicate web 1.2.0          # where is it, and how far along?`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			name, version := args[0], args[1]
			var (
				st  []hangar.ReplicationStatus
				err error
			)
			if len(regions) == 0 {
				st, err = c.Replication(cmd.Context(), name, version)
			} else {
				var req hangar.ImageReplicate
				for _, r := range regions {
					t, err := parseReplicaTarget(r)
					if err != nil {
						return err
					}
					req.TargetRegions = append(req.TargetRegions, t)
				}
				st, err = c.Replicate(cmd.Context(), name, version, req)
				if err == nil && !noWait {
					st, err = waitReplication(cmd, g, name, version, st)
				}
			}
			if err != nil {
				return err
			}
			return g.print(cmd, st, func(w io.Writer) {
				row(w, "REGION", "REPLICAS", "STATE", "PRESENT", "COPIED", "MESSAGE")
				for _, s := range st {
					present := "100%"
					if s.TotalBytes > 0 {
						present = fmt.Sprintf("%d%%", s.DoneBytes*100/s.TotalBytes)
					}
					row(w, s.Region, s.ReplicaCount, s.State, present, hangar.FormatBytes(s.CopiedBytes), orDash(s.Message))
				}
			})
		},
	}
	cmd.Flags().StringArrayVarP(&regions, "region", "l", nil, "target region, as REGION or REGION=REPLICA_COUNT (repeatable)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once replication has started instead of showing its progress")
	return cmd
}

func parseReplicaTarget(s string) (hangar.ReplicaTarget, error) {
	region, count, hasCount := strings.Cut(s, "=")
	t := hangar.ReplicaTarget{Region: region, ReplicaCount: 1}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return t, usageErrorf("--region %q: the replica count must be a number, as in %s=2", s, region)
		}
		t.ReplicaCount = n
	}
	return t, nil
}

// waitReplication shows a progress bar of the bytes present in the target regions
// until every region is Completed.
func waitReplication(cmd *cobra.Command, g *globals, name, version string, st []hangar.ReplicationStatus) ([]hangar.ReplicationStatus, error) {
	var bar *progressbar.ProgressBar
	// Poll soon at first (a small delta completes in a moment), then less often.
	delay := 50 * time.Millisecond
	for {
		var total, done int64
		complete := true
		for _, s := range st {
			total += s.TotalBytes
			done += s.DoneBytes
			complete = complete && s.State == hangar.ReplicationCompleted
		}
		if g.tableOutput() && total > 0 {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("replicating "+name+" "+version), progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond))
			}
			bar.Set64(done)
		}
		if complete {
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			return st, nil
		}
		select {
		case <-cmd.Context().Done():
			return st, cmd.Context().Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
		var err error
		if st, err = g.client().Replication(cmd.Context(), name, version); err != nil {
			return st, err
		}
	}
}

func newAdminHostsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "hosts",
		Short: "List the compute hosts, their capacity and whether they heartbeat",
		Long: `List the nodes that run VMs (hangar serve --role compute or all). A host that has
not heartbeated for a while is down: its running VMs show power state unknown and are
never started elsewhere; they are known again when the host returns.`,
		Example: `  hangar admin hosts
  hangar admin hosts --query "[?state=='down'].name" -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hosts, err := g.client().Hosts(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, hosts, func(w io.Writer) {
				row(w, "NAME", "REGION", "STATE", "VCPUS", "MEMORY", "VMS", "LAST HEARTBEAT", "URL")
				for _, h := range hosts {
					row(w, h.Name, h.Region, h.State, fmt.Sprintf("%d/%d", h.UsedVCPUs, h.VCPUs),
						fmt.Sprintf("%s/%s", hangar.FormatBytes(h.UsedMemoryMiB<<20), hangar.FormatBytes(h.MemoryMiB<<20)), h.VMs,
						time.Since(h.LastHeartbeat).Round(time.Second).String()+" ago", h.URL)
				}
			})
		},
	}
}
