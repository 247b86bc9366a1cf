package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// downloadFormats are the formats a disk downloads in (the API's names).
var downloadFormats = []string{"vhd", "vhd-dynamic", "qcow2", "raw"}

// vmActions are the VM power actions a form may post, as the API names them.
var vmActions = map[string]string{"start": "started", "stop": "stopped", "restart": "restarted", "deallocate": "deallocated"}

// serialTail is how much of a VM's serial console its page shows.
const serialTail = 64 << 10

func (h *Handler) computeRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"disks", h.page(h.disks))
	m.HandleFunc("GET "+Prefix+"disks/{name}", h.page(h.disk))
	m.HandleFunc("GET "+Prefix+"disks/{name}/delete", h.page(h.confirmDiskDelete))
	m.HandleFunc("POST "+Prefix+"disks/{name}/delete", h.action(h.deleteDisk))
	m.HandleFunc("GET "+Prefix+"disks/{name}/download", h.page(h.downloadDisk))
	m.HandleFunc("GET "+Prefix+"vms", h.page(h.vms))
	m.HandleFunc("GET "+Prefix+"vms/{name}", h.page(h.vm))
	m.HandleFunc("GET "+Prefix+"vms/{name}/serial", h.page(h.serial))
	m.HandleFunc("GET "+Prefix+"vms/{name}/delete", h.page(h.confirmVMDelete))
	m.HandleFunc("POST "+Prefix+"vms/{name}/delete", h.action(h.deleteVM))
	m.HandleFunc("POST "+Prefix+"vms/{name}/{action}", h.action(h.vmAction))
}

// tagList is the data of a list that shows its items' tags and filters them by
// tag: the API's filter (?tag=KEY or KEY=VALUE, repeatable: items with all of
// them), passed on as typed.
type tagList[T any] struct {
	Items  []T
	Path   string   // the list's page, where the filter form and tag links go
	Filter []string // the filter's terms
	Error  string   // the API's refusal of the filter
}

// tagFilter reads a list's tag filter from the query, without empty terms (the
// form's text field, left empty).
func tagFilter(r *http.Request) []string {
	var out []string
	for _, t := range r.URL.Query()["tag"] {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// renderTagList shows a list the API read with its tag filter; a filter the
// API refuses is shown with its message, not as an error page.
func renderTagList[T any](c *call, page, title, nav string, v tagList[T], err error) error {
	if err != nil {
		if len(v.Filter) == 0 || hangar.ErrorCode(err) != hangar.CodeInvalid {
			return err
		}
		v.Error = message(err)
		return c.renderStatus(statusOf(err), page, title, nav, v)
	}
	return c.render(page, title, nav, v)
}

func (h *Handler) disks(c *call) error {
	v := tagList[hangar.Disk]{Path: Prefix + "disks", Filter: tagFilter(c.r)}
	var err error
	v.Items, err = c.api.ListDisks(c.ctx, v.Filter...)
	return renderTagList(c, "disks", "Disks", "disks", v, err)
}

// diskView is the data of a disk's page.
type diskView struct {
	Disk    hangar.Disk
	Formats []string
	Tags    pairsForm
}

func (h *Handler) disk(c *call) error {
	d, err := c.api.Disk(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("disk", err)
	}
	return c.render("disk", d.Name+" · Disks", "disks", diskView{Disk: d, Formats: downloadFormats,
		Tags: tagsForm("disk-tags", "disks/"+url.PathEscape(d.Name), d.ETag, d.Tags)})
}

func (h *Handler) confirmDiskDelete(c *call) error {
	d, err := c.api.Disk(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("disk", err)
	}
	return c.render("confirm", "Delete disk "+d.Name, "disks", confirmView{
		What: "disk", Name: d.Name, Action: Prefix + "disks/" + url.PathEscape(d.Name) + "/delete",
		Back: Prefix + "disks/" + url.PathEscape(d.Name), ETag: d.ETag})
}

// confirmView is the data of a page that asks before deleting.
type confirmView struct {
	What, Name, Action, Back, ETag string
	Verb                           string // the button's verb; empty is Delete
	Note                           string // what else the step does or keeps
}

func (h *Handler) deleteDisk(c *call) (string, error) {
	name := c.r.PathValue("name")
	if err := c.api.DeleteDisk(c.ctx, name, client.IfMatch(c.r.PostFormValue("etag"))); err != nil {
		return Prefix + "disks/" + url.PathEscape(name), err
	}
	c.flash("Disk "+name+" deleted.", "")
	return Prefix + "disks", nil
}

// downloadDisk streams a disk from the API's download, with the session's key: the
// console adds nothing but the key, so formats, ranges and errors are the API's.
func (h *Handler) downloadDisk(c *call) error {
	name, format := c.r.PathValue("name"), c.r.URL.Query().Get("format")
	if _, err := c.api.Disk(c.ctx, name); err != nil {
		return orNotFound("disk", err)
	}
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet,
		"/v1/disks/"+url.PathEscape(name)+"/content?format="+url.QueryEscape(format), nil)
	if err != nil {
		return err
	}
	for _, k := range []string{"Range", "If-Range"} {
		if v := c.r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.sess.key)
	h.api.ServeHTTP(c.w, req)
	return nil
}

func (h *Handler) vms(c *call) error {
	v := tagList[hangar.VM]{Path: Prefix + "vms", Filter: tagFilter(c.r)}
	var err error
	v.Items, err = c.api.ListVMs(c.ctx, v.Filter...)
	return renderTagList(c, "vms", "VMs", "vms", v, err)
}

// vmView is the data of a VM's page.
type vmView struct {
	VM     hangar.VM
	Serial string
	Tags   pairsForm
}

func (h *Handler) vm(c *call) error {
	vm, err := c.api.VM(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("vm", err)
	}
	v := vmView{VM: vm, Tags: tagsForm("vm-tags", "vms/"+url.PathEscape(vm.Name), vm.ETag, vm.Tags)}
	if log, err := c.api.SerialLog(c.ctx, vm.Name, serialTail); err == nil {
		v.Serial = log.Log
	}
	return c.render("vm", vm.Name+" · VMs", "vms", v)
}

// serial is the tail of a VM's serial console as plain text, for the VM page's
// script to refresh.
func (h *Handler) serial(c *call) error {
	log, err := c.api.SerialLog(c.ctx, c.r.PathValue("name"), serialTail)
	if err != nil {
		return orNotFound("vm", err)
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.Write([]byte(log.Log))
	return nil
}

func (h *Handler) confirmVMDelete(c *call) error {
	vm, err := c.api.VM(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("vm", err)
	}
	return c.render("confirm", "Delete VM "+vm.Name, "vms", confirmView{
		What: "VM", Name: vm.Name, Action: Prefix + "vms/" + url.PathEscape(vm.Name) + "/delete",
		Back: Prefix + "vms/" + url.PathEscape(vm.Name), ETag: vm.ETag})
}

func (h *Handler) deleteVM(c *call) (string, error) {
	name := c.r.PathValue("name")
	if err := c.api.DeleteVM(c.ctx, name, client.IfMatch(c.r.PostFormValue("etag"))); err != nil {
		return Prefix + "vms/" + url.PathEscape(name), err
	}
	c.flash("VM "+name+" deleted.", "")
	return Prefix + "vms", nil
}

func (h *Handler) vmAction(c *call) (string, error) {
	name, action := c.r.PathValue("name"), c.r.PathValue("action")
	back := Prefix + "vms/" + url.PathEscape(name)
	done, ok := vmActions[action]
	if !ok {
		return back, notFound("action")
	}
	if _, err := c.api.VMAction(c.ctx, name, action); err != nil {
		return back, err
	}
	c.flash("VM "+name+" "+done+".", "")
	return back, nil
}
