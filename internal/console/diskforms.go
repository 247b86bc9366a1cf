package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Disk import from a URL and offline generalize.

func (h *Handler) diskFormRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"new/disk", h.page(h.importForm))
	m.HandleFunc("POST "+Prefix+"new/disk", h.action(h.importDisk))
	// The import script's way to the API's import, for its progress (importproxy.go).
	m.HandleFunc(importAPIPattern, h.importProxy)
	m.HandleFunc("GET "+Prefix+"disks/{name}/generalize", h.page(h.confirmDiskGeneralize))
	m.HandleFunc("POST "+Prefix+"disks/{name}/generalize", h.action(h.generalizeDisk))
}

// importView is the data of the form that imports a disk from a URL.
type importView struct {
	Name, URL, SHA256 string
	Error             string
}

func (h *Handler) importForm(c *call) error {
	return c.render("diskimport", "Import a disk", "disks", importView{})
}

// importDisk is the form's action without a script: the server fetches the
// file and this request waits for the disk, whole or refused (the API's progress
// stream is read to its end and shown nowhere). With the script, the page posts
// to the import proxy instead and shows the progress as it comes (diskimport.js).
func (h *Handler) importDisk(c *call) (string, error) {
	v := importView{Name: strings.TrimSpace(c.r.PostFormValue("name")), URL: strings.TrimSpace(c.r.PostFormValue("url")),
		SHA256: strings.TrimSpace(c.r.PostFormValue("sha256"))}
	d, err := c.api.ImportDiskURL(c.ctx, v.Name, hangar.DiskImport{URL: v.URL, SHA256: v.SHA256}, nil)
	if err != nil {
		// The API's refusal (an address it may not reach, a bad digest, a quota) on
		// the form, with what was typed.
		v.Error = message(err)
		return "", c.renderStatus(statusOf(err), "diskimport", "Import a disk", "disks", v)
	}
	c.flash("Disk "+d.Name+" imported: "+hangar.FormatBytes(d.VirtualSize)+" ("+d.SourceFormat+").", "")
	return Prefix + "disks/" + url.PathEscape(d.Name), nil
}

// diskGeneralizeView is the data of the page that asks before generalizing a
// disk, and of its answer.
type diskGeneralizeView struct {
	Disk   hangar.Disk
	Form   hangar.DiskGeneralize
	Error  string
	Result *hangar.DiskGeneralized
}

func (h *Handler) confirmDiskGeneralize(c *call) error {
	d, err := c.api.Disk(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("disk", err)
	}
	return c.render("diskgeneralize", "Generalize "+d.Name, "disks",
		diskGeneralizeView{Disk: d, Form: hangar.DiskGeneralize{Name: d.Name + "-generalized"}})
}

// generalizeDisk runs only when the disk's name was typed, as for a VM: it
// rewrites what makes a guest unique into a new disk.
func (h *Handler) generalizeDisk(c *call) (string, error) {
	name := c.r.PathValue("name")
	req := hangar.DiskGeneralize{Name: strings.TrimSpace(c.r.PostFormValue("newName")),
		RemoveUser: c.r.PostFormValue("removeUser") != "", DryRun: c.r.PostFormValue("dryRun") != ""}
	d, err := c.api.Disk(c.ctx, name)
	if err != nil {
		return Prefix + "disks", orNotFound("disk", err)
	}
	title := "Generalize " + name
	if c.r.PostFormValue("confirm") != name {
		return "", c.renderStatus(http.StatusUnprocessableEntity, "diskgeneralize", title, "disks",
			diskGeneralizeView{Disk: d, Form: req, Error: "Type the disk's name, " + name + ", to confirm."})
	}
	res, err := c.api.GeneralizeDisk(c.ctx, name, req)
	if err != nil {
		return "", c.renderStatus(statusOf(err), "diskgeneralize", title, "disks",
			diskGeneralizeView{Disk: d, Form: req, Error: message(err)})
	}
	// What changed is the answer to the POST, as a run-command's output is.
	return "", c.render("diskgeneralize", title, "disks", diskGeneralizeView{Disk: d, Form: req, Result: &res})
}
