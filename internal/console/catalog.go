package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

func (h *Handler) catalogRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"marketplace", h.page(h.publishers))
	m.HandleFunc("GET "+Prefix+"marketplace/{publisher}", h.page(h.offers))
	m.HandleFunc("GET "+Prefix+"marketplace/{publisher}/{offer}", h.page(h.skus))
	m.HandleFunc("GET "+Prefix+"marketplace/{publisher}/{offer}/{sku}", h.page(h.marketVersions))
	m.HandleFunc("POST "+Prefix+"marketplace/terms/accept", h.action(h.acceptTerms))
	h.imageListRoutes(m)
	m.HandleFunc("GET "+Prefix+"images/{ref...}", h.page(h.image))
	m.HandleFunc("GET "+Prefix+"community", h.page(h.community))
}

// marketView is the data of the marketplace pages, from publishers down to one
// SKU's versions.
type marketView struct {
	Publisher, Offer, SKU string
	Names                 []string                  // publishers, offers or SKUs
	Images                []hangar.MarketplaceImage // latest per SKU, or a SKU's versions
	Latest                string                    // a SKU's latest version
	Terms                 []termsEntry              // of the plans of a SKU's versions
	Back                  string
}

func (h *Handler) publishers(c *call) error {
	names, err := c.api.MarketplaceNames(c.ctx, "", "")
	if err != nil {
		return err
	}
	latest, err := c.api.Marketplace(c.ctx, hangar.MarketplaceFilter{})
	if err != nil {
		return err
	}
	return c.render("marketplace", "Marketplace", "marketplace", marketView{Names: names, Images: latest})
}

func (h *Handler) offers(c *call) error {
	pub := c.r.PathValue("publisher")
	names, err := c.api.MarketplaceNames(c.ctx, pub, "")
	if err != nil {
		return orNotFound("publisher", err)
	}
	if len(names) == 0 {
		return notFound("publisher")
	}
	latest, err := c.api.Marketplace(c.ctx, hangar.MarketplaceFilter{Publisher: pub})
	if err != nil {
		return err
	}
	return c.render("marketplace", pub+" · Marketplace", "marketplace", marketView{Publisher: pub, Names: names, Images: latest})
}

func (h *Handler) skus(c *call) error {
	pub, offer := c.r.PathValue("publisher"), c.r.PathValue("offer")
	names, err := c.api.MarketplaceNames(c.ctx, pub, offer)
	if err != nil {
		return orNotFound("offer", err)
	}
	if len(names) == 0 {
		return notFound("offer")
	}
	latest, err := c.api.Marketplace(c.ctx, hangar.MarketplaceFilter{Publisher: pub, Offer: offer})
	if err != nil {
		return err
	}
	return c.render("marketplace", offer+" · "+pub+" · Marketplace", "marketplace",
		marketView{Publisher: pub, Offer: offer, Names: names, Images: latest})
}

func (h *Handler) marketVersions(c *call) error {
	f := hangar.MarketplaceFilter{Publisher: c.r.PathValue("publisher"), Offer: c.r.PathValue("offer"), SKU: c.r.PathValue("sku"), All: true}
	all, err := c.api.Marketplace(c.ctx, f)
	if err != nil {
		return orNotFound("sku", err)
	}
	if len(all) == 0 {
		return notFound("sku")
	}
	v := marketView{Publisher: f.Publisher, Offer: f.Offer, SKU: f.SKU, Images: all, Back: c.r.URL.Path}
	f.All = false
	if latest, err := c.api.Marketplace(c.ctx, f); err == nil && len(latest) > 0 {
		v.Latest = latest[0].Version
	}
	seen := map[string]bool{}
	for _, m := range all {
		if m.Plan == nil || seen[m.Plan.Name] {
			continue
		}
		seen[m.Plan.Name] = true
		t, err := c.api.Terms(c.ctx, m.URN, false)
		if err != nil {
			return err
		}
		v.Terms = append(v.Terms, termsEntry{Terms: t, URN: m.URN})
	}
	return c.render("marketplace", f.SKU+" · "+f.Offer+" · "+f.Publisher+" · Marketplace", "marketplace", v)
}

// termsEntry is a plan's terms with a URN to accept them by.
type termsEntry struct {
	hangar.Terms
	URN string
}

func (h *Handler) acceptTerms(c *call) (string, error) {
	back := localPath(c.r.PostFormValue("back"), Prefix+"marketplace")
	t, err := c.api.Terms(c.ctx, c.r.PostFormValue("urn"), true)
	if err != nil {
		return back, err
	}
	c.flash("The terms of plan "+t.Plan+" ("+t.Publisher+") are accepted.", "")
	return back, nil
}

// imageView is the data of one image's page.
type imageView struct {
	Image      hangar.Image
	Mine       bool
	Latest     string
	VMRef      string   // the reference a new VM is made from (latest), if any
	References []string // the image's references (latest), then each version's
	Versions   []versionView
	Tags       pairsForm // the image's own (its owner only)
}

type versionView struct {
	hangar.ImageVersion
	Latest      bool
	Reference   string
	Replication []hangar.ReplicationStatus
	Tags, Props pairsForm // forms for the image's owner
}

func (h *Handler) image(c *call) error {
	ref := c.r.PathValue("ref")
	img, err := c.api.Image(c.ctx, ref)
	if err != nil {
		return orNotFound("image", err)
	}
	v := imageView{Image: img, Mine: img.Owner == c.who.Name || img.Owner == c.who.ID}
	v.Tags = tagsForm("image-tags", "images/"+url.PathEscape(img.Name), img.ETag, img.Tags)
	if r, err := c.api.Resolve(c.ctx, ref); err == nil {
		v.Latest = r.Version.String()
	}
	// The references are the image's names under each source (own, shared,
	// community), each kept only if the API shows the same image by it.
	var base []hangar.Ref
	for _, ref := range candidateRefs(img, v.Mine) {
		if other, err := c.api.Image(c.ctx, ref); err != nil || other.ID != img.ID || other.Name != img.Name {
			continue
		}
		if r, err := hangar.ParseRef(ref); err == nil {
			base = append(base, r)
			v.References = append(v.References, ref)
		}
	}
	for _, iv := range img.Versions {
		vv := versionView{ImageVersion: iv, Latest: iv.Version.String() == v.Latest}
		if len(base) > 0 {
			r := base[0]
			ver := iv.Version
			r.Version = &ver
			vv.Reference = r.String()
		}
		if v.Mine {
			id, path := "v"+iv.Version.String(), "images/"+url.PathEscape(img.Name)+"/versions/"+url.PathEscape(iv.Version.String())
			vv.Tags = tagsForm(id+"-tags", path, img.ETag, iv.Tags)
			vv.Tags.Heading = "Tags of " + iv.Version.String()
			vv.Props = pairsForm{ID: id + "-props", Heading: "Properties of " + iv.Version.String(), What: "properties", Label: "Properties",
				Action: Prefix + path + "/properties", ETag: img.ETag, Pairs: iv.Properties,
				Empty: "No properties. Properties are free-form KEY=VALUE metadata (os_distro=ubuntu …) shown to everyone who may use the image."}
			if rs, err := c.api.Replication(c.ctx, img.Name, iv.Version.String()); err == nil {
				vv.Replication = rs
			}
		}
		v.Versions = append(v.Versions, vv)
	}
	if v.Latest != "" && len(v.References) > 0 {
		v.VMRef = v.References[0]
	}
	slices.Reverse(v.Versions) // newest first
	return c.render("image", img.Name+" · Images", "images", v)
}

// candidateRefs lists the references img may have for the tenant, in the order
// the API lists sources: its own name, shared, community.
func candidateRefs(img hangar.Image, mine bool) []string {
	var refs []string
	if mine {
		refs = append(refs, img.Name)
	} else {
		refs = append(refs, "shared/"+img.Owner+"/"+img.Name)
	}
	if img.Community != nil {
		refs = append(refs, "community/"+img.Community.PublicName+"/"+img.Name)
	}
	return refs
}

// communityEntry is one community image with its publisher's details.
type communityEntry struct {
	Reference string
	Latest    string
	Image     hangar.Image
}

func (h *Handler) community(c *call) error {
	usable, err := c.api.ListImages(c.ctx, true)
	if err != nil {
		return err
	}
	var list []communityEntry
	for _, s := range usable {
		if s.Source != "community" {
			continue
		}
		img, err := c.api.Image(c.ctx, s.Reference)
		if err != nil {
			if isNotFound(err) { // withdrawn meanwhile
				continue
			}
			return err
		}
		list = append(list, communityEntry{Reference: s.Reference, Latest: s.LatestVersion, Image: img})
	}
	slices.SortFunc(list, func(a, b communityEntry) int { return strings.Compare(a.Reference, b.Reference) })
	return c.render("community", "Community", "community", list)
}
