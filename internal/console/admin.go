package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func (h *Handler) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"admin/tenants", h.page(h.tenants))
	m.HandleFunc("POST "+Prefix+"admin/tenants", h.action(h.createTenant))
	m.HandleFunc("GET "+Prefix+"admin/tenants/{name}", h.page(h.tenant))
	m.HandleFunc("POST "+Prefix+"admin/tenants/{name}/quotas", h.action(h.setQuotas))
	m.HandleFunc("POST "+Prefix+"admin/tenants/{name}/keys", h.action(h.createKey))
	m.HandleFunc("POST "+Prefix+"admin/tenants/{name}/keys/{id}/revoke", h.action(h.revokeKey))
	m.HandleFunc("GET "+Prefix+"admin/hosts", h.page(h.hosts))
	m.HandleFunc("GET "+Prefix+"admin/maintenance", h.page(h.maintenance))
	m.HandleFunc("POST "+Prefix+"admin/gc", h.action(h.gc))
	m.HandleFunc("POST "+Prefix+"admin/scrub", h.action(h.scrub))
	m.HandleFunc("GET "+Prefix+"admin/runs/{kind}", h.page(h.runs))
	m.HandleFunc("GET "+Prefix+"admin/runs/{kind}/{id}", h.page(h.run))
}

func (h *Handler) tenants(c *call) error {
	list, err := c.api.ListTenants(c.ctx)
	if err != nil {
		return err
	}
	return c.render("tenants", "Tenants", "admin", list)
}

// createTenant makes a tenant; its first key is on the answer page only.
func (h *Handler) createTenant(c *call) (string, error) {
	back := Prefix + "admin/tenants"
	req := hangar.TenantCreate{Name: strings.TrimSpace(c.r.PostFormValue("name")), Role: hangar.Role(c.r.PostFormValue("role"))}
	req.Entitlements = strings.FieldsFunc(c.r.PostFormValue("entitlements"), func(r rune) bool { return r == ',' || r == ' ' })
	created, err := c.api.CreateTenant(c.ctx, req)
	if err != nil {
		return back, err
	}
	t, err := c.api.Tenant(c.ctx, created.Tenant.Name)
	if err != nil {
		return back, err
	}
	keys, err := c.api.ListKeys(c.ctx, created.Tenant.Name)
	if err != nil {
		return back, err
	}
	newKey := &hangar.KeyCreated{Tenant: t.Name, Key: created.Key}
	if len(keys) == 1 { // the tenant's first key, named by the API
		newKey.APIKey = keys[0]
	}
	return "", c.render("tenant", t.Name+" · Tenants", "admin", tenantView{Tenant: t, Quotas: quotaRows(t), Keys: keys, NewKey: newKey})
}

// quotaRow is one quota of a tenant: its use, its limit and whether the limit is
// the tenant's own.
type quotaRow struct {
	Name, What, Use, Limit, Input string
	Custom                        bool
}

// tenantView is the data of a tenant's admin page.
type tenantView struct {
	Tenant hangar.TenantDetails
	Quotas []quotaRow
	Keys   []hangar.APIKey
	NewKey *hangar.KeyCreated // shown once, right after it is made
}

func (h *Handler) tenant(c *call) error {
	name := c.r.PathValue("name")
	t, err := c.api.Tenant(c.ctx, name)
	if err != nil {
		return orNotFound("tenant", err)
	}
	keys, err := c.api.ListKeys(c.ctx, name)
	if err != nil {
		return err
	}
	return c.render("tenant", t.Name+" · Tenants", "admin", tenantView{Tenant: t, Quotas: quotaRows(t), Keys: keys})
}

func quotaRows(t hangar.TenantDetails) []quotaRow {
	rows := make([]quotaRow, 0, len(hangar.Quotas))
	for _, q := range hangar.Quotas {
		limit := q.Get(t.Limits)
		r := quotaRow{Name: q.Name, What: q.What, Use: q.Format(q.Get(t.Usage)), Limit: q.Format(limit),
			Custom: slices.Contains(t.Custom, q.Name)}
		r.Input = "unlimited"
		if limit > 0 {
			r.Input = strconv.FormatInt(limit, 10)
			switch q.Unit {
			case hangar.UnitBytes:
				r.Input = formatExact(limit)
			case hangar.UnitMiB:
				r.Input = formatExact(limit << 20)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// formatExact writes a byte size so that ParseSize reads it back exactly.
func formatExact(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// setQuotas sends the limits typed in the form (each "unlimited", a count or a
// size) that differ from the tenant's, and resets those asked for.
func (h *Handler) setQuotas(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "admin/tenants/" + url.PathEscape(name)
	u := hangar.TenantUpdate{Set: map[string]int64{}}
	for _, q := range hangar.Quotas {
		if c.r.PostFormValue("reset-"+q.Name) != "" {
			u.Reset = append(u.Reset, q.Name)
			continue
		}
		s := strings.TrimSpace(c.r.PostFormValue(q.Name))
		if s == "" || s == c.r.PostFormValue("was-"+q.Name) {
			continue
		}
		v, err := q.ParseLimit(s)
		if err != nil {
			return back, err
		}
		u.Set[q.Name] = v
	}
	if _, err := c.api.UpdateTenant(c.ctx, name, u); err != nil {
		return back, err
	}
	c.flash("The quotas of "+name+" are saved.", "")
	return back, nil
}

func (h *Handler) createKey(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "admin/tenants/" + url.PathEscape(name)
	k, err := c.api.CreateKey(c.ctx, name, hangar.KeyCreate{Name: strings.TrimSpace(c.r.PostFormValue("keyName"))})
	if err != nil {
		return back, err
	}
	t, err := c.api.Tenant(c.ctx, name)
	if err != nil {
		return back, err
	}
	keys, err := c.api.ListKeys(c.ctx, name)
	if err != nil {
		return back, err
	}
	// The new key is in this answer only: never in a redirect, a flash or a log.
	return "", c.render("tenant", t.Name+" · Tenants", "admin", tenantView{Tenant: t, Quotas: quotaRows(t), Keys: keys, NewKey: &k})
}

func (h *Handler) revokeKey(c *call) (string, error) {
	name, id := c.r.PathValue("name"), c.r.PathValue("id")
	back := Prefix + "admin/tenants/" + url.PathEscape(name)
	if err := c.api.RevokeKey(c.ctx, name, id); err != nil {
		return back, err
	}
	c.flash("Key "+id+" of "+name+" is revoked.", "")
	return back, nil
}

func (h *Handler) hosts(c *call) error {
	list, err := c.api.Hosts(c.ctx)
	if err != nil {
		return err
	}
	return c.render("hosts", "Compute hosts", "hosts", list)
}

// maintenanceView is the data of the GC and scrub page: the report of the run
// just made, if any, and the latest runs of the history.
type maintenanceView struct {
	GC      *hangar.GCReport
	Scrub   *hangar.ScrubReport
	History runsView // the latest runs
}

// maintenance shows the page with the latest runs; the API refuses it to
// everyone but admins.
func (h *Handler) maintenance(c *call) error {
	return h.showMaintenance(c, maintenanceView{})
}

func (h *Handler) showMaintenance(c *call, v maintenanceView) error {
	var err error
	if v.History.GCRuns, err = c.api.GCRuns(c.ctx, client.RunsPage{Limit: latestRuns}); err != nil {
		return err
	}
	if v.History.ScrubRuns, err = c.api.ScrubRuns(c.ctx, client.RunsPage{Limit: latestRuns}); err != nil {
		return err
	}
	return c.render("maintenance", "GC and scrub", "maintenance", v)
}

func (h *Handler) gc(c *call) (string, error) {
	back := Prefix + "admin/maintenance"
	rep, err := c.api.GC(c.ctx, hangar.GCRequest{GracePeriod: strings.TrimSpace(c.r.PostFormValue("gracePeriod")),
		DryRun: c.r.PostFormValue("dryRun") != ""})
	if err != nil {
		return back, err
	}
	return "", h.showMaintenance(c, maintenanceView{GC: &rep})
}

func (h *Handler) scrub(c *call) (string, error) {
	rep, err := c.api.Scrub(c.ctx)
	if err != nil {
		return Prefix + "admin/maintenance", err
	}
	return "", h.showMaintenance(c, maintenanceView{Scrub: &rep})
}

const (
	// latestRuns is how many runs of each kind the GC and scrub page lists.
	latestRuns = 10
	// runsPerPage is how many runs a page of a history lists.
	runsPerPage = 50
)

// runsView is a page of a GC or scrub history: one kind's runs are set.
type runsView struct {
	Kind      string // "gc" or "scrub"
	GCRuns    []hangar.GCRun
	ScrubRuns []hangar.ScrubRun
	Older     string // the next page's URL, if there may be one
}

// runKinds are the histories the console shows, by their path segment.
var runKinds = map[string]string{"gc": "Garbage collections", "scrub": "Scrubs"}

// runs lists one page of a history: /console/admin/runs/KIND[?before=ID].
func (h *Handler) runs(c *call) error {
	kind := c.r.PathValue("kind")
	title, ok := runKinds[kind]
	if !ok {
		return notFound("page")
	}
	p := client.RunsPage{Before: c.r.URL.Query().Get("before"), Limit: runsPerPage}
	v := runsView{Kind: kind}
	var err error
	last, n := "", 0
	if kind == "gc" {
		v.GCRuns, err = c.api.GCRuns(c.ctx, p)
		if n = len(v.GCRuns); n > 0 {
			last = v.GCRuns[n-1].ID
		}
	} else {
		v.ScrubRuns, err = c.api.ScrubRuns(c.ctx, p)
		if n = len(v.ScrubRuns); n > 0 {
			last = v.ScrubRuns[n-1].ID
		}
	}
	if err != nil {
		return err
	}
	if n == runsPerPage {
		v.Older = Prefix + "admin/runs/" + kind + "?before=" + url.QueryEscape(last)
	}
	return c.render("runs", title, "maintenance", v)
}

// hygieneRunView is one run of a history with its report.
type hygieneRunView struct {
	Kind  string
	Title string
	GC    *hangar.GCRun
	Scrub *hangar.ScrubRun
}

// run shows one run of a history: /console/admin/runs/KIND/ID.
func (h *Handler) run(c *call) error {
	kind, id := c.r.PathValue("kind"), c.r.PathValue("id")
	title, ok := runKinds[kind]
	if !ok {
		return notFound("page")
	}
	v := hygieneRunView{Kind: kind, Title: title}
	if kind == "gc" {
		r, err := c.api.GCRun(c.ctx, id)
		if err != nil {
			return orNotFound("run", err)
		}
		v.GC = &r
	} else {
		r, err := c.api.ScrubRun(c.ctx, id)
		if err != nil {
			return orNotFound("run", err)
		}
		v.Scrub = &r
	}
	return c.render("run", title+" · run "+id, "maintenance", v)
}
