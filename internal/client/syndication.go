package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// bounded receives an answer's bytes, at most max of them (more is an error).
type bounded struct {
	max  int64
	data []byte
}

// SigningKey shows the server's public signing key (administrators).
func (c *Client) SigningKey(ctx context.Context) (hangar.SigningKey, error) {
	var out hangar.SigningKey
	return out, c.do(ctx, "GET", "/v1/admin/signing-key", nil, &out)
}

// AddUpstream subscribes the server to an upstream Hangar (administrators).
func (c *Client) AddUpstream(ctx context.Context, req hangar.UpstreamCreate) (hangar.Upstream, error) {
	var out hangar.Upstream
	return out, c.do(ctx, "POST", "/v1/marketplace/upstreams", req, &out)
}

// Upstreams lists the server's upstreams with their syndications.
func (c *Client) Upstreams(ctx context.Context) ([]hangar.Upstream, error) {
	var out []hangar.Upstream
	return out, c.do(ctx, "GET", "/v1/marketplace/upstreams", nil, &out)
}

// DeleteUpstream forgets an upstream; what was pulled from it stays.
func (c *Client) DeleteUpstream(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/v1/marketplace/upstreams/"+esc(name), nil, nil)
}

// UpstreamItems lists what an upstream offers the server, checked against its key.
func (c *Client) UpstreamItems(ctx context.Context, name string, f hangar.MarketplaceFilter) ([]hangar.UpstreamItem, error) {
	var out []hangar.UpstreamItem
	return out, c.do(ctx, "GET", "/v1/marketplace/upstreams/"+esc(name)+"/items?"+filterQuery(f).Encode(), nil, &out)
}

// Syndicate pulls what matches a pattern from an upstream.
func (c *Client) Syndicate(ctx context.Context, name string, req hangar.SyndicateRequest) (hangar.SyndicateResult, error) {
	var out hangar.SyndicateResult
	return out, c.do(ctx, "POST", "/v1/marketplace/upstreams/"+esc(name)+"/syndications", req, &out)
}

// SyndicationJobs lists the server's pulls with their progress.
func (c *Client) SyndicationJobs(ctx context.Context) ([]hangar.SyndicationJob, error) {
	var out []hangar.SyndicationJob
	return out, c.do(ctx, "GET", "/v1/marketplace/syndication/jobs", nil, &out)
}

// SyndicationCatalog fetches the signed catalog the server offers this client's
// tenant (the upstream side of syndication). It is not verified here.
func (c *Client) SyndicationCatalog(ctx context.Context, f hangar.MarketplaceFilter) (syndicate.Catalog, error) {
	b := bounded{max: syndicate.MaxCatalogBytes + 4096}
	if err := c.do(ctx, "GET", "/v1/syndication/catalog?"+filterQuery(f).Encode(), nil, &b); err != nil {
		return syndicate.Catalog{}, err
	}
	return syndicate.ParseCatalog(b.data)
}

// SyndicationManifest fetches the manifest of the disk at lun of a marketplace
// version, at most size bytes; syndicate.CheckManifest checks it.
func (c *Client) SyndicationManifest(ctx context.Context, urn string, lun int, size int64) ([]byte, error) {
	b := bounded{max: size}
	err := c.do(ctx, "GET", "/v1/syndication/manifests/"+esc(urn)+"/"+strconv.Itoa(lun), nil, &b)
	return b.data, err
}

// SyndicationChunk fetches one chunk of a marketplace version the client's tenant
// may see. Its digest is not checked here.
func (c *Client) SyndicationChunk(ctx context.Context, d chunks.Digest) ([]byte, error) {
	b := bounded{max: chunks.ChunkSize}
	err := c.do(ctx, "GET", "/v1/syndication/chunks/"+d.String(), nil, &b)
	return b.data, err
}

func filterQuery(f hangar.MarketplaceFilter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"publisher": f.Publisher, "offer": f.Offer, "sku": f.SKU} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}
