package arm

import (
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/marketplaceordering/armmarketplaceordering"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The marketplace is the same in every location: Hangar's marketplace is global
// and its images are in every region once replicated.

// imageResources is the answer of the marketplace's name lists: a plain array.
func (c *call) imageResources(names []string, idOf func(name string) string) []armcompute.VirtualMachineImageResource {
	out := []armcompute.VirtualMachineImageResource{}
	for _, n := range names {
		out = append(out, armcompute.VirtualMachineImageResource{Name: to.Ptr(n), Location: to.Ptr(c.p["location"]), ID: to.Ptr(idOf(n))})
	}
	return out
}

func (c *call) publishersID(parts ...string) string {
	return c.id(append([]string{"providers", "Microsoft.Compute", "locations", c.p["location"], "publishers"}, parts...)...)
}

func (h *Handler) listPublishers(c *call) (int, any, error) {
	names, err := c.hangar.MarketplaceNames(c.ctx, "", "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.imageResources(names, func(n string) string { return c.publishersID(n) }), nil
}

func (h *Handler) listOffers(c *call) (int, any, error) {
	names, err := c.hangar.MarketplaceNames(c.ctx, c.p["publisher"], "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.imageResources(names, func(n string) string {
		return c.publishersID(c.p["publisher"], "artifacttypes", "vmimage", "offers", n)
	}), nil
}

func (h *Handler) listSKUs(c *call) (int, any, error) {
	names, err := c.hangar.MarketplaceNames(c.ctx, c.p["publisher"], c.p["offer"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.imageResources(names, func(n string) string {
		return c.publishersID(c.p["publisher"], "artifacttypes", "vmimage", "offers", c.p["offer"], "skus", n)
	}), nil
}

func (c *call) versionID(version string) string {
	return c.publishersID(c.p["publisher"], "artifacttypes", "vmimage", "offers", c.p["offer"], "skus", c.p["sku"], "versions", version)
}

func (h *Handler) listMarketplaceVersions(c *call) (int, any, error) {
	images, err := c.hangar.Marketplace(c.ctx, hangar.MarketplaceFilter{Publisher: c.p["publisher"], Offer: c.p["offer"], SKU: c.p["sku"], All: true})
	if err != nil {
		return 0, nil, err
	}
	var names []string
	for _, im := range images {
		names = append(names, im.Version)
	}
	return http.StatusOK, c.imageResources(names, c.versionID), nil
}

func (h *Handler) getMarketplaceVersion(c *call) (int, any, error) {
	urn := strings.Join([]string{c.p["publisher"], c.p["offer"], c.p["sku"], c.p["version"]}, ":")
	im, err := c.hangar.MarketplaceImage(c.ctx, urn)
	if err != nil {
		return 0, nil, err
	}
	props := &armcompute.VirtualMachineImageProperties{
		OSDiskImage:      &armcompute.OSDiskImage{OperatingSystem: to.Ptr(osType(im.OSType))},
		HyperVGeneration: to.Ptr(armcompute.HyperVGenerationTypes(im.HyperVGeneration)),
		Architecture:     to.Ptr(armcompute.ArchitectureTypes(im.Architecture)),
		DataDiskImages:   []*armcompute.DataDiskImage{},
	}
	if im.Plan != nil {
		props.Plan = &armcompute.PurchasePlan{Name: to.Ptr(im.Plan.Name), Product: to.Ptr(im.Plan.Product), Publisher: to.Ptr(im.Plan.Publisher)}
	}
	return http.StatusOK, armcompute.VirtualMachineImage{
		ID: to.Ptr(c.versionID(im.Version)), Name: to.Ptr(im.Version), Location: to.Ptr(c.p["location"]), Properties: props,
	}, nil
}

// agreement finds a URN with the plan of the path: Hangar keeps terms per
// publisher, offer and plan, and accepts them through any image of the plan.
func (c *call) planURN() (string, error) {
	images, err := c.hangar.Marketplace(c.ctx, hangar.MarketplaceFilter{Publisher: c.p["publisher"], Offer: c.p["offer"], All: true})
	if err != nil {
		return "", err
	}
	for _, im := range images {
		if im.Plan != nil && strings.EqualFold(im.Plan.Name, c.p["plan"]) {
			return im.URN, nil
		}
	}
	return "", notFound("agreements", c.p["publisher"]+"/"+c.p["offer"]+"/"+c.p["plan"])
}

func (c *call) agreement(t hangar.Terms) armmarketplaceordering.AgreementTerms {
	props := &armmarketplaceordering.AgreementProperties{
		Publisher: to.Ptr(t.Publisher), Product: to.Ptr(t.Offer), Plan: to.Ptr(t.Plan), Accepted: to.Ptr(t.Accepted),
		RetrieveDatetime: t.AcceptedAt,
	}
	if t.EULA != "" {
		props.LicenseTextLink = to.Ptr(t.EULA)
	}
	return armmarketplaceordering.AgreementTerms{
		ID:         to.Ptr(c.id("providers", "Microsoft.MarketplaceOrdering", "offerTypes", "VirtualMachine", "publishers", t.Publisher, "offers", t.Offer, "plans", t.Plan, "agreements", "current")),
		Name:       to.Ptr(t.Plan),
		Type:       to.Ptr("Microsoft.MarketplaceOrdering/offertypes"),
		Properties: props,
	}
}

func (h *Handler) getAgreement(c *call) (int, any, error) {
	urn, err := c.planURN()
	if err != nil {
		return 0, nil, err
	}
	t, err := c.hangar.Terms(c.ctx, urn, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.agreement(t), nil
}

func (h *Handler) putAgreement(c *call) (int, any, error) {
	var body armmarketplaceordering.AgreementTerms
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if body.Properties == nil || body.Properties.Accepted == nil || !*body.Properties.Accepted {
		return 0, nil, invalid("Hangar records only the acceptance of terms: send properties.accepted true")
	}
	urn, err := c.planURN()
	if err != nil {
		return 0, nil, err
	}
	t, err := c.hangar.Terms(c.ctx, urn, true)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.agreement(t), nil
}

func osType(t hangar.OSType) armcompute.OperatingSystemTypes {
	if t == hangar.OSWindows {
		return armcompute.OperatingSystemTypesWindows
	}
	return armcompute.OperatingSystemTypesLinux
}
