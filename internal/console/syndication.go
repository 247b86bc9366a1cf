package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The syndication page (admins): this installation's signing key, its upstreams,
// pulls from them and their progress.

func (h *Handler) syndicationRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"admin/syndication", h.page(h.syndication))
	m.HandleFunc("POST "+Prefix+"admin/upstreams", h.action(h.addUpstream))
	m.HandleFunc("POST "+Prefix+"admin/upstreams/{name}/remove", h.action(h.removeUpstream))
	m.HandleFunc("POST "+Prefix+"admin/upstreams/{name}/pull", h.action(h.pull))
}

// syndicationView is the data of the syndication page.
type syndicationView struct {
	Key       hangar.SigningKey
	Upstreams []hangar.Upstream
	Jobs      []hangar.SyndicationJob
}

func (h *Handler) syndication(c *call) error {
	var v syndicationView
	var err error
	if v.Key, err = c.api.SigningKey(c.ctx); err != nil { // admins only, as the API says
		return err
	}
	if v.Upstreams, err = c.api.Upstreams(c.ctx); err != nil {
		return err
	}
	if v.Jobs, err = c.api.SyndicationJobs(c.ctx); err != nil {
		return err
	}
	return c.render("syndication", "Syndication", "syndication", v)
}

const syndicationPage = Prefix + "admin/syndication"

// addUpstream subscribes to an upstream; the API keeps its key as a secret and
// never shows it again, so the console never echoes it either.
func (h *Handler) addUpstream(c *call) (string, error) {
	req := hangar.UpstreamCreate{Name: strings.TrimSpace(c.r.PostFormValue("name")), URL: strings.TrimSpace(c.r.PostFormValue("url")),
		Key: strings.TrimSpace(c.r.PostFormValue("key")), PublicKey: strings.TrimSpace(c.r.PostFormValue("publicKey"))}
	u, err := c.api.AddUpstream(c.ctx, req)
	if err != nil {
		return syndicationPage, err
	}
	c.flash("Upstream "+u.Name+" added, its key pinned to "+u.Fingerprint+".", "")
	return syndicationPage, nil
}

func (h *Handler) removeUpstream(c *call) (string, error) {
	name := c.r.PathValue("name")
	if err := c.api.DeleteUpstream(c.ctx, name); err != nil {
		return syndicationPage, err
	}
	c.flash("Upstream "+name+" removed; what was pulled from it stays.", "")
	return syndicationPage, nil
}

// pull starts pulling what matches a pattern from an upstream; the jobs table
// shows its progress.
func (h *Handler) pull(c *call) (string, error) {
	name := c.r.PathValue("name")
	req := hangar.SyndicateRequest{Pattern: strings.TrimSpace(c.r.PostFormValue("pattern")), Follow: c.r.PostFormValue("follow") != ""}
	res, err := c.api.Syndicate(c.ctx, name, req)
	if err != nil {
		return syndicationPage, err
	}
	msg := "Pulling " + req.Pattern + " from " + name + ": "
	switch n := len(res.Jobs); n {
	case 0:
		msg += "nothing new to pull"
	case 1:
		msg += "1 version"
	default:
		msg += strconv.Itoa(n) + " versions"
	}
	if req.Follow {
		msg += "; new versions will follow"
	}
	c.flash(msg+".", "")
	return syndicationPage, nil
}
