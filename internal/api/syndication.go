package api

import (
	"io"
	"net/http"
	"strconv"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// chunkBody is a chunk's bytes, sent as octet-stream.
type chunkBody []byte

func (b chunkBody) respond(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// syndicationEndpoints are the routes of marketplace syndication (docs/syndication.md):
// the signing key, upstreams and pulls (admins), and what an upstream serves its
// subscribers (any tenant, under that tenant's visibility).
func (s *Server) syndicationEndpoints() []endpoint {
	cat := s.cat
	return []endpoint{
		op("GET", "/v1/admin/signing-key", "This installation's public signing key (Ed25519) and fingerprint, for subscribers to pin", func(c *call, _ noBody) (hangar.SigningKey, error) {
			return cat.SigningKey(c.actor)
		}),
		op("POST", "/v1/marketplace/upstreams", "Subscribe to an upstream Hangar's marketplace (admins); its key is kept as a secret, never shown", func(c *call, req hangar.UpstreamCreate) (hangar.Upstream, error) {
			return cat.AddUpstream(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/marketplace/upstreams", "List upstreams and their syndications (admins)", func(c *call, _ noBody) ([]hangar.Upstream, error) {
			return cat.Upstreams(c.ctx, c.actor)
		}),
		op("DELETE", "/v1/marketplace/upstreams/{name}", "Forget an upstream (admins); what was pulled from it stays", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.DeleteUpstream(c.ctx, c.actor, c.path("name"))
		}),
		op("GET", "/v1/marketplace/upstreams/{name}/items", "List what an upstream offers this installation, verified with its pinned key (admins)", func(c *call, _ noBody) ([]hangar.UpstreamItem, error) {
			f, err := marketplaceFilter(c)
			if err != nil {
				return nil, err
			}
			return cat.UpstreamItems(c.ctx, c.actor, c.path("name"), f)
		}).withQuery("publisher", "offer", "sku"),
		op("POST", "/v1/marketplace/upstreams/{name}/syndications", "Pull PUBLISHER:OFFER[:SKU[:VERSION]] from an upstream, optionally following new versions (admins)", func(c *call, req hangar.SyndicateRequest) (hangar.SyndicateResult, error) {
			return cat.Syndicate(c.ctx, c.actor, c.path("name"), req)
		}).withStatus(http.StatusAccepted),
		op("GET", "/v1/marketplace/syndication/jobs", "List the pulls from upstreams with their progress in bytes and chunks (admins)", func(c *call, _ noBody) ([]hangar.SyndicationJob, error) {
			return cat.SyndicationJobs(c.ctx, c.actor)
		}),
		op("POST", "/v1/marketplace/imports", "Start importing a bundle: its signed catalog, checked against the pinned key of an upstream (admins)", func(c *call, req syndicate.Catalog) (hangar.ImportStatus, error) {
			return cat.ImportCatalog(c.ctx, c.actor, req)
		}),
		stream("PUT", "/v1/marketplace/imports/{upstream}/manifests/{sha256}", "Send a manifest of a version being imported; answers the chunks still missing (admins)", func(c *call, body io.Reader) (hangar.ImportManifestResult, error) {
			d, err := chunks.ParseDigest(c.path("sha256"))
			if err != nil {
				return hangar.ImportManifestResult{}, hangar.Errorf(hangar.CodeInvalid, "%v", err)
			}
			return cat.ImportManifest(c.ctx, c.actor, c.path("upstream"), d, body)
		}),
		stream("PUT", "/v1/marketplace/imports/{upstream}/chunks/{sha256}", "Send a chunk of a version being imported; the body must hash to the digest (admins)", func(c *call, body io.Reader) (noBody, error) {
			d, err := chunks.ParseDigest(c.path("sha256"))
			if err != nil {
				return noBody{}, hangar.Errorf(hangar.CodeInvalid, "%v", err)
			}
			return noBody{}, cat.ImportChunk(c.ctx, c.actor, c.path("upstream"), d, body)
		}).withStatus(http.StatusNoContent),
		op("POST", "/v1/marketplace/imports/{upstream}/commit", "Make visible the imported versions whose manifests and chunks are all here (admins)", func(c *call, _ noBody) ([]hangar.SyndicationJob, error) {
			return cat.CommitImport(c.ctx, c.actor, c.path("upstream"))
		}),

		// The upstream side.
		op("GET", "/v1/syndication/catalog", "The signed catalog of every marketplace version the caller may see (for subscribers)", func(c *call, _ noBody) (syndicate.Catalog, error) {
			f, err := marketplaceFilter(c)
			if err != nil {
				return syndicate.Catalog{}, err
			}
			return cat.SyndicationCatalog(c.ctx, c.actor, f, c.r.URL.Query()["pattern"])
		}).withQuery("publisher", "offer", "sku", "pattern"),
		op("GET", "/v1/syndication/manifests/{urn}/{lun}", "The manifest of one disk (LUN -1: the OS disk) of a marketplace version the caller may see, as its signed entry's digest covers it", func(c *call, _ noBody) ([]byte, error) {
			lun, err := strconv.Atoi(c.path("lun"))
			if err != nil {
				return nil, hangar.Errorf(hangar.CodeInvalid, "LUN %q is not a number (-1 is the OS disk)", c.path("lun"))
			}
			return cat.SyndicationManifest(c.ctx, c.actor, c.path("urn"), lun)
		}),
		op("GET", "/v1/syndication/chunks/{sha256}", "One chunk of a marketplace version the caller may see", func(c *call, _ noBody) (chunkBody, error) {
			d, err := chunks.ParseDigest(c.path("sha256"))
			if err != nil {
				return nil, hangar.Errorf(hangar.CodeInvalid, "%v", err)
			}
			data, err := cat.SyndicationChunk(c.ctx, c.actor, d)
			return chunkBody(data), err
		}),
	}
}
