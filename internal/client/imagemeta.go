package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/hangarvm/hangar/internal/hangar"
)

// ListFilter narrows a list of images or VMs.
type ListFilter struct {
	// Tags are KEY or KEY=VALUE terms, all of which must hold.
	Tags []string
	// ResourceGroup keeps what is in that ARM resource group ("": any).
	ResourceGroup string
}

func (f ListFilter) query() url.Values {
	q := url.Values{}
	if len(f.Tags) > 0 {
		q["tag"] = f.Tags
	}
	if f.ResourceGroup != "" {
		q.Set("resourceGroup", f.ResourceGroup)
	}
	return q
}

// ListImagesFiltered lists own images, or with all every image the caller may
// use, that pass the filter (tags and resource group hold only for own images).
func (c *Client) ListImagesFiltered(ctx context.Context, all bool, f ListFilter) ([]hangar.ImageSummary, error) {
	q := f.query()
	q.Set("all", strconv.FormatBool(all))
	var out []hangar.ImageSummary
	return out, c.do(ctx, "GET", "/v1/images?"+q.Encode(), nil, &out)
}

// ListVMsFiltered lists the caller's VMs that pass the filter.
func (c *Client) ListVMsFiltered(ctx context.Context, f ListFilter) ([]hangar.VM, error) {
	path := "/v1/vms"
	if q := f.query(); len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []hangar.VM
	return out, c.do(ctx, "GET", path, nil, &out)
}

// SetVersionProperties replaces the properties of an image version; out receives
// the image.
func (c *Client) SetVersionProperties(ctx context.Context, image, version string, props hangar.Properties, opts ...RequestOption) (hangar.Image, error) {
	if props == nil {
		props = hangar.Properties{}
	}
	var out hangar.Image
	return out, c.do(ctx, "PUT", "/v1/images/"+esc(image)+"/versions/"+esc(version)+"/properties", hangar.PropertiesUpdate{Properties: props}, &out, opts...)
}
