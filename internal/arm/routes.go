package arm

// table is every ARM operation served; docs/arm.md lists them with their mapping.
func (h *Handler) table() []route {
	const (
		sub      = "subscriptions/{subscription}"
		compute  = sub + "/providers/microsoft.compute"
		location = compute + "/locations/{location}"
		market   = location + "/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}"
		group    = sub + "/resourcegroups/{group}/providers/microsoft.compute"
		gallery  = group + "/galleries/{gallery}"
		vm       = group + "/virtualmachines/{vm}"
		terms    = sub + "/providers/microsoft.marketplaceordering/offertypes/{offertype}/publishers/{publisher}/offers/{offer}/plans/{plan}/agreements/current"
	)
	return []route{
		h.handle("GET", location+"/operations/{operation}", h.getOperation),

		h.handle("GET", location+"/publishers", h.listPublishers),
		h.handle("GET", location+"/publishers/{publisher}/artifacttypes/vmimage/offers", h.listOffers),
		h.handle("GET", location+"/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus", h.listSKUs),
		h.handle("GET", market+"/versions", h.listMarketplaceVersions),
		h.handle("GET", market+"/versions/{version}", h.getMarketplaceVersion),
		h.handle("GET", terms, h.getAgreement),
		h.handle("PUT", terms, h.putAgreement),

		h.handle("GET", compute+"/disks", h.listDisks),
		h.handle("GET", group+"/disks", h.listDisks),
		h.handle("GET", group+"/disks/{disk}", h.getDisk),

		h.handle("GET", compute+"/images", h.listImages),
		h.handle("GET", group+"/images", h.listImages),
		h.handle("GET", group+"/images/{image}", h.getImage),
		h.handle("PUT", group+"/images/{image}", h.putImage),
		h.handle("DELETE", group+"/images/{image}", h.deleteImage),

		h.handle("GET", compute+"/galleries", h.listGalleries),
		h.handle("GET", group+"/galleries", h.listGalleries),
		h.handle("GET", gallery, h.getGallery),
		h.handle("PUT", gallery, h.putGallery),
		h.handle("DELETE", gallery, h.deleteGallery),
		h.handle("GET", gallery+"/images", h.listGalleryImages),
		h.handle("GET", gallery+"/images/{image}", h.getGalleryImage),
		h.handle("PUT", gallery+"/images/{image}", h.putGalleryImage),
		h.handle("DELETE", gallery+"/images/{image}", h.deleteGalleryImage),
		h.handle("GET", gallery+"/images/{image}/versions", h.listGalleryImageVersions),
		h.handle("GET", gallery+"/images/{image}/versions/{version}", h.getGalleryImageVersion),
		h.handle("PUT", gallery+"/images/{image}/versions/{version}", h.putGalleryImageVersion),
		h.handle("DELETE", gallery+"/images/{image}/versions/{version}", h.deleteGalleryImageVersion),

		h.handle("GET", location+"/communitygalleries/{public}/images/{image}", h.getCommunityImage),
		h.handle("GET", location+"/communitygalleries/{public}/images/{image}/versions", h.listCommunityVersions),
		h.handle("GET", location+"/communitygalleries/{public}/images/{image}/versions/{version}", h.getCommunityVersion),

		h.handle("GET", compute+"/virtualmachines", h.listVMs),
		h.handle("GET", group+"/virtualmachines", h.listVMs),
		h.handle("GET", vm, h.getVM),
		h.handle("PUT", vm, h.putVM),
		h.handle("DELETE", vm, h.deleteVM),
		h.handle("GET", vm+"/instanceview", h.getInstanceView),
		h.handle("POST", vm+"/start", h.vmAction("start")),
		h.handle("POST", vm+"/poweroff", h.vmAction("stop")),
		h.handle("POST", vm+"/restart", h.vmAction("restart")),
		h.handle("POST", vm+"/deallocate", h.vmAction("deallocate")),
		h.handle("POST", vm+"/generalize", h.generalizeVM),
		h.handle("POST", vm+"/runcommand", h.runCommand),
	}
}
