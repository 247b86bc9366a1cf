package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/provision"
)

func (h *Handler) vmFormRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"new/vm", h.page(h.vmForm))
	m.HandleFunc("POST "+Prefix+"new/vm", h.action(h.createVM))
	m.HandleFunc("GET "+Prefix+"vms.json", h.page(h.vmStates))
	m.HandleFunc("POST "+Prefix+"vms/{name}/run-command", h.action(h.runCommand))
	m.HandleFunc("POST "+Prefix+"vms/{name}/backup", h.action(h.backup))
	m.HandleFunc("GET "+Prefix+"vms/{name}/generalize", h.page(h.confirmGeneralize))
	m.HandleFunc("POST "+Prefix+"vms/{name}/generalize", h.action(h.generalize))
	m.HandleFunc("POST "+Prefix+"vms/{name}/capture", h.action(h.capture))
}

// vmFormView is the data of the create-VM wizard.
type vmFormView struct {
	Form   vmFormValues
	Disks  []hangar.Disk // the tenant's disks, to attach
	OSType hangar.OSType // of the chosen image, when it resolves
	Sizes  []hangar.VMSize
	// The password rules the page shows as one types (the API applies them).
	PasswordMin, PasswordMax int
	Error                    string
}

// vmFormValues are the wizard's fields as typed (the password is never sent back).
type vmFormValues struct {
	hangar.VMCreate
	Auth       string // "ssh" or "password"
	SSHKey     string
	CustomData string
}

func (h *Handler) vmForm(c *call) error {
	f := vmFormValues{VMCreate: hangar.VMCreate{Image: c.r.URL.Query().Get("image"), Size: hangar.DefaultVMSize,
		Egress: hangar.EgressInternet}, Auth: "ssh"}
	return h.showVMForm(c, http.StatusOK, f, "")
}

func (h *Handler) showVMForm(c *call, status int, f vmFormValues, msg string) error {
	// The image field's suggestions are fetched as one types (images.json): the
	// page does not carry every image the tenant may use.
	disks, err := c.api.ListDisks(c.ctx)
	if err != nil {
		return err
	}
	v := vmFormView{Form: f, Disks: disks, Sizes: hangar.VMSizes, Error: msg, OSType: hangar.OSLinux}
	if f.Image != "" {
		if r, err := c.api.Resolve(c.ctx, f.Image); err == nil {
			v.OSType = r.OSType
		}
	}
	v.PasswordMin, v.PasswordMax = provision.MinLinuxPassword, provision.MaxLinuxPassword
	if v.OSType == hangar.OSWindows {
		v.PasswordMin, v.PasswordMax = provision.MinWindowsPassword, provision.MaxWindowsPassword
	}
	return c.renderStatus(status, "vmform", "New VM", "vms", v)
}

// vmCreateFromForm reads the wizard. Checking it is the API's work.
func vmCreateFromForm(r *http.Request) vmFormValues {
	f := vmFormValues{VMCreate: hangar.VMCreate{
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Image:         strings.TrimSpace(r.PostFormValue("image")),
		Size:          r.PostFormValue("size"),
		ComputerName:  strings.TrimSpace(r.PostFormValue("computerName")),
		AdminUsername: strings.TrimSpace(r.PostFormValue("adminUsername")),
		Egress:        hangar.Egress(r.PostFormValue("egress")),
		AttachDisks:   r.PostForm["attach"],
		StorageSKU:    r.PostFormValue("storageSku"),
		ResourceGroup: strings.TrimSpace(r.PostFormValue("resourceGroup")),
	}, Auth: r.PostFormValue("auth"), SSHKey: r.PostFormValue("sshKey"), CustomData: r.PostFormValue("customData")}
	switch f.Auth {
	case "password":
		f.AdminPassword = r.PostFormValue("adminPassword")
	default:
		f.Auth = "ssh"
		for _, line := range strings.Split(f.SSHKey, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				f.SSHPublicKeys = append(f.SSHPublicKeys, line)
			}
		}
	}
	if f.CustomData != "" {
		f.VMCreate.CustomData = []byte(strings.ReplaceAll(f.CustomData, "\r\n", "\n"))
	}
	return f
}

func (h *Handler) createVM(c *call) (string, error) {
	f := vmCreateFromForm(c.r)
	vm, err := c.api.CreateVM(c.ctx, f.VMCreate)
	if err != nil {
		f.AdminPassword = ""
		return "", h.showVMForm(c, statusOf(err), f, message(err))
	}
	c.flash("VM "+vm.Name+" is being created from "+vm.Image+".", "")
	return Prefix + "vms/" + url.PathEscape(vm.Name), nil
}

// vmState is one VM's states, for the VM list's live refresh.
type vmState struct {
	Name                string                   `json:"name"`
	PowerState          hangar.PowerState        `json:"powerState"`
	ProvisioningState   hangar.ProvisioningState `json:"provisioningState"`
	ProvisioningMessage string                   `json:"provisioningMessage,omitempty"`
	SSHPort             int                      `json:"sshPort,omitempty"`
}

// vmStates is the tenant's VMs' states as JSON, which the VM list and a VM's page
// poll to refresh their states without a reload.
func (h *Handler) vmStates(c *call) error {
	list, err := c.api.ListVMs(c.ctx)
	if err != nil {
		return err
	}
	states := make([]vmState, 0, len(list))
	for _, v := range list {
		states = append(states, vmState{v.Name, v.PowerState, v.ProvisioningState, v.ProvisioningMessage, v.SSHPort})
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(c.w).Encode(states)
}

// runView is the data of a run-command's result.
type runView struct {
	VM     string
	Script string
	Result hangar.RunCommandResult
}

func (h *Handler) runCommand(c *call) (string, error) {
	name := c.r.PathValue("name")
	req := hangar.RunCommand{Script: strings.ReplaceAll(c.r.PostFormValue("script"), "\r\n", "\n"),
		Timeout: strings.TrimSpace(c.r.PostFormValue("timeout"))}
	res, err := c.api.RunCommand(c.ctx, name, req)
	if err != nil {
		return Prefix + "vms/" + url.PathEscape(name), err
	}
	// The result is the answer to the POST: output is shown once, not kept.
	return "", c.render("runresult", "Run command · "+name, "vms", runView{VM: name, Script: req.Script, Result: res})
}

func (h *Handler) backup(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "vms/" + url.PathEscape(name)
	res, err := c.api.Backup(c.ctx, name, hangar.VMBackup{Name: strings.TrimSpace(c.r.PostFormValue("backupName")),
		Overwrite: c.r.PostFormValue("overwrite") != ""})
	if err != nil {
		return back, err
	}
	msg := "Backup " + res.Name + " made: OS disk " + res.OSDisk
	for _, d := range res.DataDisks {
		msg += ", " + d.Disk
	}
	c.flash(msg+". "+res.Restore, "")
	return back, nil
}

// generalizeView is the data of the page that asks before generalizing.
type generalizeView struct {
	VM    hangar.VM
	Error string
}

func (h *Handler) confirmGeneralize(c *call) error {
	vm, err := c.api.VM(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return orNotFound("vm", err)
	}
	return c.render("generalize", "Generalize "+vm.Name, "vms", generalizeView{VM: vm})
}

// generalize runs only when the VM's name was typed, as Azure's portal asks for
// an irreversible step.
func (h *Handler) generalize(c *call) (string, error) {
	name := c.r.PathValue("name")
	if c.r.PostFormValue("confirm") != name {
		vm, err := c.api.VM(c.ctx, name)
		if err != nil {
			return Prefix + "vms", orNotFound("vm", err)
		}
		c.renderStatus(http.StatusUnprocessableEntity, "generalize", "Generalize "+name, "vms",
			generalizeView{VM: vm, Error: "Type the VM's name, " + name + ", to confirm."})
		return "", nil
	}
	req := hangar.VMGeneralize{NoBackup: c.r.PostFormValue("noBackup") != ""}
	if _, err := c.api.Generalize(c.ctx, name, req); err != nil {
		return Prefix + "vms/" + url.PathEscape(name) + "/generalize", err
	}
	c.flash("VM "+name+" is generalized: capture it to make an image.", "")
	return Prefix + "vms/" + url.PathEscape(name), nil
}

func (h *Handler) capture(c *call) (string, error) {
	name := c.r.PathValue("name")
	back := Prefix + "vms/" + url.PathEscape(name)
	req := hangar.VMCapture{
		ImageName: strings.TrimSpace(c.r.PostFormValue("imageName")),
		Version:   strings.TrimSpace(c.r.PostFormValue("version")),
		OSState:   hangar.OSState(c.r.PostFormValue("osState")),
		Type:      hangar.ImageType(c.r.PostFormValue("type")),
		KeepVM:    c.r.PostFormValue("keepVm") != "",
	}
	img, err := c.api.Capture(c.ctx, name, req)
	if err != nil {
		return back, err
	}
	c.flash("VM "+name+" captured as image "+img.Name+".", "")
	return Prefix + "images/" + url.PathEscape(img.Name), nil
}
