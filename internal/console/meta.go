package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Tags, properties, replication and marketplace withdrawal: the metadata actions
// on disks, images, versions and VMs.

func (h *Handler) metaRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+Prefix+"disks/{name}/tags", h.action(h.setTags("disks")))
	m.HandleFunc("POST "+Prefix+"vms/{name}/tags", h.action(h.setTags("vms")))
	m.HandleFunc("POST "+Prefix+"images/{name}/tags", h.action(h.setTags("images")))
	m.HandleFunc("POST "+Prefix+"images/{name}/versions/{version}/tags", h.action(h.setTags("images")))
	m.HandleFunc("POST "+Prefix+"images/{name}/versions/{version}/properties", h.action(h.setProperties))
	m.HandleFunc("POST "+Prefix+"images/{name}/versions/{version}/replicate", h.action(h.replicate))
	m.HandleFunc("GET "+Prefix+"withdraw/marketplace/{urn}", h.page(h.confirmWithdraw))
	m.HandleFunc("POST "+Prefix+"withdraw/marketplace/{urn}", h.action(h.withdrawMarketplace))
}

// pairsForm is the data of the form that replaces a resource's tags or a
// version's properties (template "tags" in _parts.html).
type pairsForm struct {
	ID, Heading, What, Label, Empty string
	Action, ETag, CSRF              string
	Pairs                           map[string]string
}

// tagsForm is the tags form of the resource at path (under the console), whose
// entity tag is etag: the API refuses the change if it moved since the page was read.
func tagsForm(id, path, etag string, tags hangar.Tags) pairsForm {
	return pairsForm{ID: id, Heading: "Tags", What: "tags", Label: "Tags", Action: Prefix + path + "/tags",
		ETag: etag, Pairs: tags, Empty: "No tags. Tags are KEY=VALUE labels to find things by (hangar … list --tag KEY=VALUE)."}
}

// kindNames are the API's resource kinds as a person says them.
var kindNames = map[string]string{"disks": "Disk", "vms": "VM", "images": "Image"}

// setTags replaces the tags of a disk, a VM, an image or an image version (the
// version in the path, if any), with the ETag the page was read with.
func (h *Handler) setTags(kind string) func(c *call) (string, error) {
	return func(c *call) (string, error) {
		name, version := c.r.PathValue("name"), c.r.PathValue("version")
		back := Prefix + kind + "/" + url.PathEscape(name)
		tags := hangar.Tags(readPairs(c.r.PostFormValue("pairs")))
		if err := c.api.SetTags(c.ctx, kind, name, version, tags, nil, client.IfMatch(c.r.PostFormValue("etag"))); err != nil {
			return back, err
		}
		what := kindNames[kind] + " " + name
		if version != "" {
			what = "Version " + version + " of " + name
		}
		c.flash(what+": tags saved.", "")
		return back, nil
	}
}

// setProperties replaces a version's properties, with the image's ETag as the
// page showed it.
func (h *Handler) setProperties(c *call) (string, error) {
	name, version := c.r.PathValue("name"), c.r.PathValue("version")
	back := Prefix + "images/" + url.PathEscape(name)
	props := hangar.Properties(readPairs(c.r.PostFormValue("pairs")))
	if _, err := c.api.SetVersionProperties(c.ctx, name, version, props, client.IfMatch(c.r.PostFormValue("etag"))); err != nil {
		return back, err
	}
	c.flash("Version "+version+" of "+name+": properties saved.", "")
	return back, nil
}

// replicate asks for a version in one more region; the copy runs in the
// background and the image page shows its state in each region.
func (h *Handler) replicate(c *call) (string, error) {
	name, version := c.r.PathValue("name"), c.r.PathValue("version")
	back := Prefix + "images/" + url.PathEscape(name)
	target := hangar.ReplicaTarget{Region: strings.TrimSpace(c.r.PostFormValue("region")), ReplicaCount: 1}
	if n := strings.TrimSpace(c.r.PostFormValue("replicaCount")); n != "" {
		count, err := strconv.Atoi(n)
		if err != nil {
			return back, hangar.Errorf(hangar.CodeInvalid, "replica count %q: type a whole number", n)
		}
		target.ReplicaCount = count
	}
	states, err := c.api.Replicate(c.ctx, name, version, hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{target}})
	if err != nil {
		return back, err
	}
	msg := "Version " + version + " of " + name + " is being replicated:"
	for _, s := range states {
		msg += " " + s.Region + " " + s.State + ";"
	}
	c.flash(strings.TrimSuffix(msg, ";")+".", "")
	return back, nil
}

// skuPath is the console page of a marketplace version's SKU.
func skuPath(m hangar.MarketplaceImage) string {
	return Prefix + "marketplace/" + url.PathEscape(m.Publisher) + "/" + url.PathEscape(m.Offer) + "/" + url.PathEscape(m.SKU)
}

func (h *Handler) confirmWithdraw(c *call) error {
	m, err := c.api.MarketplaceImage(c.ctx, c.r.PathValue("urn"))
	if err != nil {
		return orNotFound("marketplace image", err)
	}
	return c.render("confirm", "Withdraw "+m.URN, "marketplace", confirmView{Verb: "Withdraw", What: "marketplace version",
		Name: m.URN, Action: Prefix + "withdraw/marketplace/" + url.PathEscape(m.URN), Back: skuPath(m),
		Note: "Tenants can no longer make VMs from it; their VMs made from it keep running. The image it came from stays."})
}

// withdrawMarketplace withdraws a marketplace version (the API lets its
// publisher, and admins).
func (h *Handler) withdrawMarketplace(c *call) (string, error) {
	urn := c.r.PathValue("urn")
	m, err := c.api.MarketplaceImage(c.ctx, urn)
	if err != nil {
		return Prefix + "marketplace", orNotFound("marketplace image", err)
	}
	if err := c.api.WithdrawMarketplace(c.ctx, m.URN); err != nil {
		return skuPath(m), err
	}
	c.flash(m.URN+" is withdrawn from the marketplace.", "")
	// The SKU's page, unless that was its last version.
	if rest, err := c.api.Marketplace(c.ctx, hangar.MarketplaceFilter{Publisher: m.Publisher, Offer: m.Offer, SKU: m.SKU, All: true}); err == nil && len(rest) > 0 {
		return skuPath(m), nil
	}
	return Prefix + "marketplace", nil
}
