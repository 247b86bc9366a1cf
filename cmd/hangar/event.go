package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/hangar"
)

func newEventCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event",
		Short: "Follow what happens to your resources: events and webhooks",
		Long: `Every change to a disk, an image version or a VM is an event: a disk stored or
deleted, an image version created, deleted, replicated or given an end-of-life
date, a VM created, changing power or provisioning state, or deleted. An admin
sees every tenant's events. Events are CloudEvents (as Azure Event Grid sends
them) with increasing IDs, kept for 7 days.

List them, follow them as they happen (server-sent events on GET /v1/events), or
register a webhook: the server POSTs each event to your URL, signed with
HMAC-SHA256 as Standard Webhooks sign (headers webhook-id, webhook-timestamp,
webhook-signature; https://www.standardwebhooks.com has verifiers for many
languages), retried with backoff for up to a day, each resource's events in order.`,
	}
	var after int64
	var newest int
	var types []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List your events, oldest first (1,000 at a time: continue with --after; --newest N for the latest)",
		Example: `  hangar event list
  hangar event list --newest 20
  hangar event list --type Hangar.VM.StateChanged --after 120
  hangar event list -o json --query "[?subject=='vms/web1']"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var evs []hangar.Event
			var err error
			if cmd.Flags().Changed("newest") {
				evs, err = g.client().NewestEvents(cmd.Context(), newest, types)
			} else {
				evs, err = g.client().ListEvents(cmd.Context(), after, types)
			}
			if err != nil {
				return err
			}
			return g.print(cmd, evs, func(w io.Writer) {
				if len(evs) == 0 {
					fmt.Fprintln(w, "No events. They appear as disks, images and VMs change; `hangar event watch` waits for them.")
					return
				}
				row(w, "ID", "TIME", "TYPE", "SUBJECT", "SOURCE")
				for _, e := range evs {
					row(w, e.ID, e.Time.Format("2006-01-02 15:04:05"), e.Type, e.Subject, e.Source)
				}
			})
		},
	}
	list.Flags().Int64Var(&after, "after", 0, "only events after this event ID")
	list.Flags().IntVar(&newest, "newest", 0, "only the newest N events (1 to 1,000), still oldest first")
	list.MarkFlagsMutuallyExclusive("after", "newest")
	list.Flags().StringArrayVar(&types, "type", nil, "only events of this type (repeatable; hangar event types lists them)")
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print your events as they happen, until interrupted",
		Long: `Print each event as it happens, one line each (with -o json, one JSON document a
line). Without --after it starts with the next event; with --after ID it first
prints what happened after that event. A dropped connection is resumed where it
stopped.`,
		Example: `  hangar event watch
  hangar event watch --type Hangar.VM.StateChanged -o json
  hangar event watch --after 0   # everything still kept, then new events`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			from := int64(-1)
			if cmd.Flags().Changed("after") {
				from = after
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			return g.client().WatchEvents(cmd.Context(), from, types, func(e hangar.Event) error {
				switch {
				case g.output == "none":
					return nil
				case g.tableOutput():
					_, err := fmt.Fprintf(out, "%s  %s  %-38s %s  %s\n", e.ID, e.Time.Format("15:04:05"), e.Type, e.Subject, eventSummary(e))
					return err
				default:
					return enc.Encode(e)
				}
			})
		},
	}
	watch.Flags().Int64Var(&after, "after", 0, "first print the events after this event ID")
	watch.Flags().StringArrayVar(&types, "type", nil, "only events of this type (repeatable)")
	typesCmd := &cobra.Command{
		Use:     "types",
		Short:   "List the event types",
		Example: `  hangar event types`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := g.client().EventTypes(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, names, func(w io.Writer) {
				for _, n := range names {
					fmt.Fprintln(w, n)
				}
			})
		},
	}
	var webhook, state string
	deliveries := &cobra.Command{
		Use:   "deliveries",
		Short: "Show deliveries to your webhooks, newest first: which failed, and why",
		Example: `  hangar event deliveries
  hangar event deliveries --state failed
  hangar event deliveries --webhook 9c1e0b7d4a553f2a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := g.client().Deliveries(cmd.Context(), webhook, state)
			if err != nil {
				return err
			}
			return g.print(cmd, ds, func(w io.Writer) {
				if len(ds) == 0 {
					fmt.Fprintln(w, "No deliveries. `hangar event webhook create URL` registers a webhook.")
					return
				}
				row(w, "WEBHOOK", "EVENT", "TYPE", "SUBJECT", "STATE", "ATTEMPTS", "LAST STATUS", "NEXT ATTEMPT", "LAST ERROR")
				for _, d := range ds {
					next := "-"
					if !d.NextAt.IsZero() {
						next = d.NextAt.Local().Format("15:04:05")
					}
					status := "-"
					if d.LastStatus != 0 {
						status = fmt.Sprint(d.LastStatus)
					}
					row(w, d.Webhook, d.EventID, d.Type, d.Subject, d.State, d.Attempts, status, next, orDash(d.LastError))
				}
			})
		},
	}
	deliveries.Flags().StringVar(&webhook, "webhook", "", "only this webhook's deliveries (its ID)")
	deliveries.Flags().StringVar(&state, "state", "", "only deliveries in this state: pending, delivered or failed")
	cmd.AddCommand(list, watch, typesCmd, deliveries, newWebhookCmd(g))
	return cmd
}

// eventSummary is the gist of an event's data for a one-line display.
func eventSummary(e hangar.Event) string {
	var d map[string]any
	if json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"powerState", "provisioningState", "region", "endOfLife", "sourceFormat"} {
		if v, ok := d[k]; ok && v != "" {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

func newWebhookCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Register, list and delete webhooks",
		Long: `A webhook receives each of your events (an admin's: every tenant's) as an HTTP
POST of the CloudEvent as JSON. Check each delivery's webhook-signature header
with the secret shown when the webhook is made (shown only then): it is
"v1,<base64 HMAC-SHA256 of id.timestamp.body>" as Standard Webhooks define it.
A receiver answers 2xx within 10 seconds; anything else is retried with backoff
(1 s, 2 s, 4 s, ... up to hourly) for up to a day. The server reaches public
addresses only, unless its operator allows a network (serve --webhook-allow-cidr).`,
	}
	var types []string
	create := &cobra.Command{
		Use:   "create URL",
		Short: "Register a webhook and print its signing secret (shown only this once)",
		Example: `  hangar event webhook create https://hooks.example.com/hangar
  hangar event webhook create https://ci.example.com/hook --type Hangar.ImageVersion.Created -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := g.client().CreateWebhook(cmd.Context(), hangar.WebhookCreate{URL: args[0], Types: types})
			if err != nil {
				return err
			}
			return g.print(cmd, w, func(out io.Writer) {
				fmt.Fprintf(out, "Created webhook %s for %s.\nSigning secret (shown only now; store it safely):\n%s\n", w.ID, w.URL, w.Secret)
			})
		},
	}
	create.Flags().StringArrayVar(&types, "type", nil, "deliver only events of this type (repeatable; default: every type)")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List your webhooks with their pending and failed deliveries",
		Example: `  hangar event webhook list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ws, err := g.client().ListWebhooks(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, ws, func(w io.Writer) {
				if len(ws) == 0 {
					fmt.Fprintln(w, "No webhooks. `hangar event webhook create URL` registers one.")
					return
				}
				row(w, "ID", "URL", "TYPES", "PENDING", "FAILED", "CREATED")
				for _, h := range ws {
					row(w, h.ID, h.URL, orDash(strings.Join(h.Types, ",")), h.Pending, h.Failed, h.CreatedAt.Format("2006-01-02 15:04"))
				}
			})
		},
	}
	var confirm func(string) error
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook; its pending deliveries are dropped",
		Example: `  hangar event webhook delete 9c1e0b7d4a553f2a
  hangar event webhook delete 9c1e0b7d4a553f2a --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("delete webhook " + args[0]); err != nil {
				return err
			}
			if err := g.client().DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.done(cmd, "Deleted webhook "+args[0]+".")
		},
	}
	confirm = yesFlag(del, g)
	cmd.AddCommand(create, list, del)
	return cmd
}
