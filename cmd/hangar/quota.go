package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hangarvm/hangar/internal/hangar"
)

// limitValue is one quota's limit in limits, given on the command line: a count or
// a size with a unit, or unlimited (0 and -1 too).
type limitValue struct {
	q      hangar.Quota
	limits *hangar.Resources
}

func (l limitValue) String() string { return formatLimit(l.q, l.q.Get(*l.limits)) }
func (l limitValue) Type() string   { return "limit" }
func (l limitValue) Set(s string) error {
	v, err := l.q.ParseLimit(s)
	if err != nil {
		return err
	}
	l.q.Set(l.limits, v)
	return nil
}

// registerQuotaFlags adds serve's --quota-max-... flags, which set limits, starting
// from def.
func registerQuotaFlags(f *pflag.FlagSet, limits *hangar.Resources, def hangar.Resources) {
	*limits = def
	for _, q := range hangar.Quotas {
		f.Var(limitValue{q, limits}, "quota-max-"+q.Flag, fmt.Sprintf("default limit of each tenant's %s (%s; unlimited, 0 or -1: none)", q.What, unitHelp(q)))
	}
}

func unitHelp(q hangar.Quota) string {
	if q.Unit == hangar.UnitCount {
		return "a count"
	}
	return "a size such as 100GiB"
}

// formatLimit writes a limit as the flags take it: 1TiB, 1000, unlimited.
func formatLimit(q hangar.Quota, v int64) string {
	if v <= 0 {
		return "unlimited"
	}
	if q.Unit == hangar.UnitMiB {
		v <<= 20
	} else if q.Unit == hangar.UnitCount {
		return fmt.Sprint(v)
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v%u.size == 0 {
			return fmt.Sprintf("%d%s", v/u.size, u.name)
		}
	}
	return fmt.Sprint(v)
}

func newTenantShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show [NAME]",
		Short: "Show a tenant with its limits and what it uses (yours without NAME)",
		Long: `Show a tenant, its limits (quotas) and what it uses of each. An admin may show any
tenant; every tenant may show itself. A limit is the server's default (hangar serve
--quota-max-...) unless an admin set one for the tenant (hangar tenant update).

Stored bytes are the non-zero bytes of every disk, counted at every offset they
appear: dedup saves the server space but not quota, because a disk is written out
whole wherever it is used. Total virtual size adds the tenant's disks and its VMs'
disks. vCPUs and memory count every VM that can still start (all but generalized).`,
		Example: `  hangar tenant show
  hangar tenant show alice -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			name := ""
			if len(args) == 1 {
				name = args[0]
			} else {
				who, err := c.Whoami(cmd.Context())
				if err != nil {
					return err
				}
				name = who.Tenant.Name
			}
			t, err := c.Tenant(cmd.Context(), name)
			if err != nil {
				return err
			}
			return g.print(cmd, t, func(w io.Writer) { printTenant(w, t) })
		},
	}
}

func printTenant(w io.Writer, t hangar.TenantDetails) {
	row(w, "Name:", t.Name)
	row(w, "Role:", t.Role)
	row(w, "Entitlements:", orDash(strings.Join(t.Entitlements, ",")))
	row(w, "Created:", t.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	row(w)
	row(w, "QUOTA", "USED", "LIMIT", "SET BY")
	for _, q := range hangar.Quotas {
		by := "server default"
		if slices.Contains(t.Custom, q.Name) {
			by = "admin"
		}
		row(w, q.Flag, q.Format(q.Get(t.Usage)), q.Format(q.Get(t.Limits)), by)
	}
}

func newTenantUpdateCmd(g *globals) *cobra.Command {
	values := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "update NAME --max-QUOTA LIMIT...",
		Short: "Change a tenant's limits (admin)",
		Long: `Change a tenant's limits. Sizes take units (10GiB, 512MiB, 2TiB); counts are whole
numbers. "unlimited" (or 0, or -1) removes a limit; "default" returns it to the
server's default (hangar serve --quota-max-...). Limits not named stay as they are.
A limit lowered below what the tenant uses takes nothing away: it refuses whatever
would add to it until the tenant is under it again.`,
		Example: `  hangar tenant update alice --max-stored-bytes 500GiB --max-vcpus 16
  hangar tenant update alice --max-vms 20 --max-memory 64GiB
  hangar tenant update alice --max-uploads unlimited --max-disks default`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := hangar.TenantUpdate{Set: map[string]int64{}}
			for _, q := range hangar.Quotas {
				if !cmd.Flags().Changed("max-" + q.Flag) {
					continue
				}
				s := *values[q.Flag]
				if strings.TrimSpace(s) == "default" {
					req.Reset = append(req.Reset, q.Name)
					continue
				}
				v, err := q.ParseLimit(s)
				if err != nil {
					return err
				}
				req.Set[q.Name] = v
			}
			if len(req.Set) == 0 && len(req.Reset) == 0 {
				return fmt.Errorf("nothing to change: give at least one limit, such as --max-vcpus 16 (see --help)")
			}
			t, err := g.client().UpdateTenant(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return g.print(cmd, t, func(w io.Writer) { printTenant(w, t) })
		},
	}
	for _, q := range hangar.Quotas {
		values[q.Flag] = cmd.Flags().String("max-"+q.Flag, "", fmt.Sprintf("limit of %s (%s, unlimited or default)", q.What, unitHelp(q)))
	}
	return cmd
}
