package arm

import (
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The community galleries are Hangar's community repository: a public gallery
// name is a community public name.

func (h *Handler) communityImage(c *call) (hangar.Image, error) {
	return c.hangar.Image(c.ctx, "community/"+c.p["public"]+"/"+c.p["image"])
}

func communityID(public, image string, version ...string) string {
	id := "/CommunityGalleries/" + public + "/Images/" + image
	if len(version) > 0 {
		id += "/Versions/" + version[0]
	}
	return id
}

func (h *Handler) getCommunityImage(c *call) (int, any, error) {
	im, err := h.communityImage(c)
	if err != nil {
		return 0, nil, err
	}
	state := armcompute.OperatingSystemStateTypesGeneralized
	if im.OSState == hangar.Specialized {
		state = armcompute.OperatingSystemStateTypesSpecialized
	}
	props := &armcompute.CommunityGalleryImageProperties{
		OSType: to.Ptr(osType(im.OSType)), OSState: to.Ptr(state),
		Identifier: &armcompute.CommunityGalleryImageIdentifier{Publisher: to.Ptr(c.p["public"]), Offer: to.Ptr(im.Name), SKU: to.Ptr(im.Name)},
	}
	if im.HyperVGeneration != "" {
		props.HyperVGeneration = to.Ptr(armcompute.HyperVGeneration(im.HyperVGeneration))
	}
	if cm := im.Community; cm != nil {
		props.Eula, props.PrivacyStatementURI = to.Ptr(cm.EULA), to.Ptr(cm.PublisherURI)
	}
	return http.StatusOK, armcompute.CommunityGalleryImage{
		Name: to.Ptr(im.Name), Location: to.Ptr(c.p["location"]), Type: to.Ptr("Microsoft.Compute/locations/communityGalleryImage"),
		Identifier: &armcompute.CommunityGalleryIdentifier{UniqueID: to.Ptr(communityID(c.p["public"], im.Name))},
		Properties: props,
	}, nil
}

func (c *call) communityVersion(im hangar.Image, v hangar.ImageVersion) armcompute.CommunityGalleryImageVersion {
	props := &armcompute.CommunityGalleryImageVersionProperties{ExcludeFromLatest: to.Ptr(v.ExcludeFromLatest), PublishedDate: to.Ptr(v.CreatedAt)}
	if eol, err := time.Parse(time.DateOnly, v.EndOfLife); err == nil {
		props.EndOfLifeDate = &eol
	}
	return armcompute.CommunityGalleryImageVersion{
		Name: to.Ptr(v.Version.String()), Location: to.Ptr(c.p["location"]), Type: to.Ptr("Microsoft.Compute/locations/communityGalleryImageVersion"),
		Identifier: &armcompute.CommunityGalleryIdentifier{UniqueID: to.Ptr(communityID(c.p["public"], im.Name, v.Version.String()))},
		Properties: props,
	}
}

func (h *Handler) listCommunityVersions(c *call) (int, any, error) {
	im, err := h.communityImage(c)
	if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, im.Versions, func(v hangar.ImageVersion) string { return v.Version.String() },
		func(v hangar.ImageVersion) any { return c.communityVersion(im, v) })
	return http.StatusOK, pg, err
}

func (h *Handler) getCommunityVersion(c *call) (int, any, error) {
	im, err := h.communityImage(c)
	if err != nil {
		return 0, nil, err
	}
	for _, v := range im.Versions {
		if strings.EqualFold(v.Version.String(), c.p["version"]) {
			return http.StatusOK, c.communityVersion(im, v), nil
		}
	}
	return 0, nil, notFound("communityGalleries/images/versions", c.p["version"])
}
