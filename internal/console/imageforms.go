package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// maxDataDisks is how many data-disk rows the image form offers; the API sets
// the real limit.
const maxDataDisks = 4

func (h *Handler) imageFormRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"new/image", h.page(h.imageForm))
	m.HandleFunc("POST "+Prefix+"new/image", h.action(h.createImage))
	m.HandleFunc("POST "+Prefix+"images/{name}/share", h.action(h.share))
	m.HandleFunc("POST "+Prefix+"images/{name}/unshare", h.action(h.unshare))
	m.HandleFunc("POST "+Prefix+"images/{name}/community", h.action(h.publishCommunity))
	m.HandleFunc("POST "+Prefix+"images/{name}/community/withdraw", h.action(h.withdrawCommunity))
}

// imageFormView is the data of the form that creates an image or a version.
type imageFormView struct {
	Form     hangar.ImageCreate
	Disks    []hangar.Disk
	DataRows []hangar.DataDiskSpec // the form's data-disk rows, filled or not
	NewImage bool                  // no image of this name yet: every field is asked
	Error    string
	// Disallowed are the disk types the form has checked.
	Disallowed []string
}

func (h *Handler) imageForm(c *call) error {
	q := c.r.URL.Query()
	f := hangar.ImageCreate{Name: q.Get("name"), Type: hangar.ImageTypeOS, OSType: hangar.OSLinux,
		OSState: hangar.Generalized, HyperVGeneration: "V1", OSDisk: q.Get("disk")}
	newImage := true
	if f.Name != "" {
		// A new version of an image of ours: its definition comes from the image.
		if img, err := c.api.Image(c.ctx, f.Name); err == nil {
			f.Type, f.OSType, f.OSState, f.HyperVGeneration = img.Type, img.OSType, img.OSState, img.HyperVGeneration
			f.Description, f.EULA = img.Description, img.EULA
			f.ImageRequirements, f.ResourceGroup = img.ImageRequirements, img.ResourceGroup
			newImage = false
		}
	}
	return h.showImageForm(c, http.StatusOK, f, newImage, "")
}

func (h *Handler) showImageForm(c *call, status int, f hangar.ImageCreate, newImage bool, msg string) error {
	disks, err := c.api.ListDisks(c.ctx)
	if err != nil {
		return err
	}
	rows := append([]hangar.DataDiskSpec(nil), f.DataDisks...)
	for len(rows) < maxDataDisks {
		rows = append(rows, hangar.DataDiskSpec{LUN: len(rows)})
	}
	title := "New image"
	if !newImage {
		title = "New version of " + f.Name
	}
	v := imageFormView{Form: f, Disks: disks, DataRows: rows, NewImage: newImage, Error: msg}
	if f.Disallowed != nil {
		v.Disallowed = f.Disallowed.DiskTypes
	}
	return c.renderStatus(status, "imageform", title, "images", v)
}

// imageCreateFromForm reads the image form. Checking it is the API's work; the
// error is a field that cannot even be read (a range bound that is no number, a
// feature that is no NAME=VALUE).
func imageCreateFromForm(r *http.Request) (hangar.ImageCreate, error) {
	f := hangar.ImageCreate{
		Name:             strings.TrimSpace(r.PostFormValue("name")),
		Type:             hangar.ImageType(r.PostFormValue("type")),
		OSType:           hangar.OSType(r.PostFormValue("osType")),
		OSState:          hangar.OSState(r.PostFormValue("osState")),
		HyperVGeneration: r.PostFormValue("hyperVGeneration"),
		Description:      r.PostFormValue("description"),
		EULA:             strings.TrimSpace(r.PostFormValue("eula")),
		Version:          strings.TrimSpace(r.PostFormValue("version")),
		EndOfLife:        strings.TrimSpace(r.PostFormValue("endOfLife")),
		OSDisk:           r.PostFormValue("osDisk"),
		ResourceGroup:    strings.TrimSpace(r.PostFormValue("resourceGroup")),
	}
	if props := readPairs(r.PostFormValue("properties")); len(props) > 0 {
		f.Properties = props
	}
	var err error
	if f.ImageRequirements, err = requirementsFromForm(r); err != nil {
		return f, err
	}
	f.ExcludeFromLatest = r.PostFormValue("excludeFromLatest") != ""
	if f.Type == hangar.ImageTypeVM {
		for i := range maxDataDisks {
			disk := r.PostFormValue("dataDisk" + strconv.Itoa(i))
			if disk == "" {
				continue
			}
			lun, err := strconv.Atoi(r.PostFormValue("lun" + strconv.Itoa(i)))
			if err != nil {
				lun = -1 // the API refuses it with its own message
			}
			f.DataDisks = append(f.DataDisks, hangar.DataDiskSpec{LUN: lun, Disk: disk})
		}
	}
	return f, nil
}

// requirementsFromForm reads an image definition's recommended range, features
// and disallowed disk types; what is left empty is absent.
func requirementsFromForm(r *http.Request) (hangar.ImageRequirements, error) {
	var q hangar.ImageRequirements
	bound := func(field, what string) (int, error) {
		s := strings.TrimSpace(r.PostFormValue(field))
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, hangar.Errorf(hangar.CodeInvalid, "%s %q: type a whole number, or nothing for no bound", what, s)
		}
		return n, nil
	}
	var rec hangar.Recommended
	for _, b := range []struct {
		r        **hangar.Range
		min, max string
		what     string
	}{{&rec.VCPUs, "vcpusMin", "vcpusMax", "recommended vCPUs"}, {&rec.MemoryGB, "memoryMin", "memoryMax", "recommended memory (GiB)"}} {
		lo, err := bound(b.min, b.what+", minimum")
		if err != nil {
			return q, err
		}
		hi, err := bound(b.max, b.what+", maximum")
		if err != nil {
			return q, err
		}
		if lo != 0 || hi != 0 {
			*b.r = &hangar.Range{Min: lo, Max: hi}
		}
	}
	if rec.VCPUs != nil || rec.MemoryGB != nil {
		q.Recommended = &rec
	}
	if s := strings.TrimSpace(r.PostFormValue("features")); s != "" {
		f, err := hangar.ParseFeatures([]string{s})
		if err != nil {
			return q, err
		}
		q.Features = f
	}
	if types := r.PostForm["disallowed"]; len(types) > 0 {
		q.Disallowed = &hangar.Disallowed{DiskTypes: types}
	}
	return q, nil
}

func (h *Handler) createImage(c *call) (string, error) {
	f, err := imageCreateFromForm(c.r)
	var img hangar.Image
	if err == nil {
		img, err = c.api.CreateImage(c.ctx, f)
	}
	if err != nil {
		_, lookErr := c.api.Image(c.ctx, f.Name)
		return "", h.showImageForm(c, statusOf(err), f, lookErr != nil, message(err))
	}
	version := f.Version
	if version == "" && len(img.Versions) > 0 {
		version = img.Versions[len(img.Versions)-1].Version.String()
	}
	c.flash("Image "+img.Name+" version "+version+" created.", "")
	return Prefix + "images/" + url.PathEscape(img.Name), nil
}

func (h *Handler) share(c *call) (string, error) {
	name, tenant := c.r.PathValue("name"), strings.TrimSpace(c.r.PostFormValue("tenant"))
	back := Prefix + "images/" + url.PathEscape(name)
	if _, err := c.api.Share(c.ctx, name, tenant, true); err != nil {
		return back, err
	}
	c.flash("Image "+name+" is shared with "+tenant+".", "")
	return back, nil
}

func (h *Handler) unshare(c *call) (string, error) {
	name, tenant := c.r.PathValue("name"), c.r.PostFormValue("tenant")
	back := Prefix + "images/" + url.PathEscape(name)
	if _, err := c.api.Share(c.ctx, name, tenant, false); err != nil {
		return back, err
	}
	c.flash("Image "+name+" is no longer shared with "+tenant+".", "")
	return back, nil
}

func (h *Handler) publishCommunity(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "images/" + url.PathEscape(name)
	req := hangar.Community{
		PublicName:     strings.TrimSpace(c.r.PostFormValue("publicName")),
		PublisherURI:   strings.TrimSpace(c.r.PostFormValue("publisherUri")),
		PublisherEmail: strings.TrimSpace(c.r.PostFormValue("publisherEmail")),
		EULA:           strings.TrimSpace(c.r.PostFormValue("eula")),
	}
	if _, err := c.api.PublishCommunity(c.ctx, name, req); err != nil {
		return back, err
	}
	c.flash("Image "+name+" is published to the community as community/"+req.PublicName+"/"+name+".", "")
	return back, nil
}

func (h *Handler) withdrawCommunity(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "images/" + url.PathEscape(name)
	if _, err := c.api.UnpublishCommunity(c.ctx, name); err != nil {
		return back, err
	}
	c.flash("Image "+name+" is withdrawn from the community.", "")
	return back, nil
}

func (h *Handler) imageEditRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+Prefix+"images/{name}/versions/{version}", h.action(h.updateVersion))
	m.HandleFunc("POST "+Prefix+"images/{name}/marketplace", h.action(h.publishMarketplace))
	m.HandleFunc("GET "+Prefix+"delete/image/{name}", h.page(h.confirmImageDelete))
	m.HandleFunc("POST "+Prefix+"delete/image/{name}", h.action(h.deleteImage))
}

// updateVersion changes a version's flags: excluded from latest, end of life
// (empty clears it).
func (h *Handler) updateVersion(c *call) (string, error) {
	name, version := c.r.PathValue("name"), c.r.PathValue("version")
	back := Prefix + "images/" + url.PathEscape(name)
	exclude := c.r.PostFormValue("excludeFromLatest") != ""
	eol := strings.TrimSpace(c.r.PostFormValue("endOfLife"))
	if _, err := c.api.UpdateVersion(c.ctx, name, version, hangar.ImageVersionUpdate{ExcludeFromLatest: &exclude, EndOfLife: &eol}); err != nil {
		return back, err
	}
	c.flash("Version "+version+" of "+name+" is updated.", "")
	return back, nil
}

// publishMarketplace publishes a version of an image to the marketplace (the API
// lets publishers and admins).
func (h *Handler) publishMarketplace(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "images/" + url.PathEscape(name)
	img := name
	if v := strings.TrimSpace(c.r.PostFormValue("version")); v != "" {
		img += "@" + v
	}
	req := hangar.MarketplacePublish{URN: strings.TrimSpace(c.r.PostFormValue("urn")), Image: img,
		Plan: strings.TrimSpace(c.r.PostFormValue("plan")), Entitlement: strings.TrimSpace(c.r.PostFormValue("entitlement")),
		ExcludeFromLatest: c.r.PostFormValue("excludeFromLatest") != ""}
	m, err := c.api.PublishMarketplace(c.ctx, req)
	if err != nil {
		return back, err
	}
	c.flash(img+" is published to the marketplace as "+m.URN+".", "")
	return back, nil
}

func (h *Handler) confirmImageDelete(c *call) error {
	img, err := c.api.Image(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("image", err)
	}
	return c.render("confirm", "Delete image "+img.Name, "images", confirmView{
		What: "image", Name: img.Name, Action: Prefix + "delete/image/" + url.PathEscape(img.Name),
		Back: Prefix + "images/" + url.PathEscape(img.Name), ETag: img.ETag})
}

func (h *Handler) deleteImage(c *call) (string, error) {
	name := c.r.PathValue("name")
	if err := c.api.DeleteImage(c.ctx, name, client.IfMatch(c.r.PostFormValue("etag"))); err != nil {
		return Prefix + "images/" + url.PathEscape(name), err
	}
	c.flash("Image "+name+" deleted.", "")
	return Prefix + "images", nil
}
