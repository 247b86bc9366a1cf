package hangar

import (
	"slices"
	"time"
)

// MaxLUN is the highest data disk LUN (Azure allows 0-63).
const MaxLUN = 63

// Normalize fills defaults and validates an image create request. It enforces the rules
// of the two kinds: an OS image holds exactly one generalized OS disk; a VM image holds
// an OS disk, generalized or specialized, and data disks with unique LUNs.
func (r *ImageCreate) Normalize() error {
	if err := ValidateName("image", r.Name); err != nil {
		return err
	}
	if r.HyperVGeneration == "" {
		r.HyperVGeneration = "V1"
	}
	if r.ProvisioningAgent == "" {
		r.ProvisioningAgent = AgentAuto
	}
	if r.Architecture == "" {
		r.Architecture = "x64"
	}
	if r.Version == "" {
		r.Version = "1.0.0"
	}
	switch {
	case r.Type == "" || r.OSType == "" || r.OSState == "":
		return Errorf(CodeInvalid, "a new image needs --type (os or vm), --os-type (linux or windows) and --os-state (generalized or specialized); "+
			"a new version of an existing image takes them from the image")
	case r.Type != ImageTypeOS && r.Type != ImageTypeVM:
		return Errorf(CodeInvalid, "image type %q is not valid: use os (one generalized OS disk) or vm (OS disk plus data disks)", r.Type)
	case r.OSType != OSLinux && r.OSType != OSWindows:
		return Errorf(CodeInvalid, "OS type %q is not valid: use linux or windows", r.OSType)
	case r.OSState != Generalized && r.OSState != Specialized:
		return Errorf(CodeInvalid, "OS state %q is not valid: use generalized or specialized", r.OSState)
	case r.HyperVGeneration != "V1" && r.HyperVGeneration != "V2":
		return Errorf(CodeInvalid, "Hyper-V generation %q is not valid: use V1 (BIOS) or V2 (UEFI)", r.HyperVGeneration)
	case !r.ProvisioningAgent.Valid():
		return Errorf(CodeInvalid, "provisioning agent %q is not valid: use %s", r.ProvisioningAgent, ProvisioningAgents)
	case r.Architecture != "x64" && r.Architecture != "Arm64":
		return Errorf(CodeInvalid, "architecture %q is not valid: use x64 or Arm64", r.Architecture)
	case r.OSDisk == "":
		return Errorf(CodeInvalid, "an image needs an OS disk (--os-disk)")
	case r.Type == ImageTypeOS && r.OSState != Generalized:
		return Errorf(CodeInvalid, "an OS image must be generalized; to keep a specialized OS disk as it is, create a VM image (--type vm --os-state specialized)")
	case r.Type == ImageTypeOS && len(r.DataDisks) > 0:
		return Errorf(CodeInvalid, "an OS image holds exactly one OS disk and no data disks; to include data disks, create a VM image (--type vm)")
	}
	if err := ValidateName("disk", r.OSDisk); err != nil {
		return err
	}
	if _, err := ParseVersion(r.Version); err != nil {
		return err
	}
	if err := ValidateEndOfLife(r.EndOfLife); err != nil {
		return err
	}
	if err := ValidateText("description", r.Description, 4096); err != nil {
		return err
	}
	if err := ValidateText("EULA", r.EULA, 4096); err != nil {
		return err
	}
	luns := make([]int, 0, len(r.DataDisks))
	for _, d := range r.DataDisks {
		if d.LUN < 0 || d.LUN > MaxLUN {
			return Errorf(CodeInvalid, "data disk LUN %d is out of range 0-%d", d.LUN, MaxLUN)
		}
		if slices.Contains(luns, d.LUN) {
			return Errorf(CodeInvalid, "data disk LUN %d is used twice; each data disk needs its own LUN", d.LUN)
		}
		if err := ValidateName("disk", d.Disk); err != nil {
			return err
		}
		luns = append(luns, d.LUN)
	}
	slices.SortFunc(r.DataDisks, func(a, b DataDiskSpec) int { return a.LUN - b.LUN })
	if err := ValidateProperties(r.Properties); err != nil {
		return err
	}
	if r.ResourceGroup != "" {
		if err := ValidateResourceGroup(r.ResourceGroup); err != nil {
			return err
		}
	}
	return r.ImageRequirements.Normalize(r.HyperVGeneration)
}

// ValidateEndOfLife checks an end-of-life date, YYYY-MM-DD, or empty.
func ValidateEndOfLife(s string) error {
	if s == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return Errorf(CodeInvalid, "end-of-life date %q must be YYYY-MM-DD", s)
	}
	return nil
}

// Normalize fills defaults and validates a tenant create request.
func (r *TenantCreate) Normalize() error {
	if err := ValidateName("tenant", r.Name); err != nil {
		return err
	}
	if r.Role == "" {
		r.Role = RoleUser
	}
	if r.Role != RoleUser && r.Role != RolePublisher && r.Role != RoleAdmin {
		return Errorf(CodeInvalid, "role %q is not valid: use user, publisher or admin", r.Role)
	}
	for _, e := range r.Entitlements {
		if err := ValidateName("entitlement", e); err != nil {
			return err
		}
	}
	slices.Sort(r.Entitlements)
	r.Entitlements = slices.Compact(r.Entitlements)
	return nil
}

// Validate checks a community publication.
func (c *Community) Validate() error {
	if err := ValidateName("community public", c.PublicName); err != nil {
		return err
	}
	if err := ValidateURL("publisher URI", c.PublisherURI); err != nil {
		return err
	}
	if err := ValidateEmail(c.PublisherEmail); err != nil {
		return err
	}
	if c.EULA == "" {
		return Errorf(CodeInvalid, "a community image needs a EULA (a URL or text shown to everyone who uses it)")
	}
	return ValidateText("EULA", c.EULA, 4096)
}

// Valid says whether a is one of the provisioning agents.
func (a ProvisioningAgent) Valid() bool {
	switch a {
	case AgentAuto, AgentAzure, AgentNoCloud, AgentHangar, AgentNone:
		return true
	}
	return false
}
