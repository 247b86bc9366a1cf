package api

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Health is the /healthz answer.
type Health struct {
	Status string `json:"status"`
}

// Names is a list of marketplace names (publishers, offers or SKUs).
type Names struct {
	Names []string `json:"names"`
}

// endpoints is the route table: it serves requests and generates the OpenAPI document.
// chunkBodyWithin is how long a chunk PUT's body may take to arrive, waiting for
// a slot (catalog's chunk slots) included: 7 KB/s for 4 MiB, so that 8 chunks at
// once still pass over a 500 kbit/s uplink.
const chunkBodyWithin = 10 * time.Minute

func (s *Server) endpoints() []endpoint {
	cat := s.cat
	public := func(e endpoint) endpoint { e.public = true; return e }
	return append([]endpoint{
		public(op("GET", "/healthz", "Liveness and database check", func(c *call, _ noBody) (Health, error) {
			if err := cat.Ping(c.ctx); err != nil {
				return Health{}, err
			}
			return Health{Status: "ok"}, nil
		})),
		public(op("GET", "/v1/openapi.json", "This API's OpenAPI document", func(c *call, _ noBody) ([]byte, error) {
			return s.OpenAPI()
		})),
		op("GET", "/v1/whoami", "The tenant the API key belongs to", func(c *call, _ noBody) (hangar.Whoami, error) {
			return hangar.Whoami{Tenant: *c.actor}, nil
		}),

		// Tenants (admin).
		op("POST", "/v1/tenants", "Create a tenant; its API key is shown once", func(c *call, req hangar.TenantCreate) (hangar.TenantCreated, error) {
			return cat.CreateTenant(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/tenants", "List tenants", func(c *call, _ noBody) ([]hangar.Tenant, error) {
			return cat.ListTenants(c.ctx, c.actor)
		}),
		op("GET", "/v1/tenants/{name}", "Show a tenant with its limits and what it uses (a tenant may show itself)", func(c *call, _ noBody) (hangar.TenantDetails, error) {
			return cat.Tenant(c.ctx, c.actor, c.path("name"))
		}),
		op("PATCH", "/v1/tenants/{name}", "Change a tenant's limits (admin); -1 is unlimited, reset returns a limit to the server's default", func(c *call, req hangar.TenantUpdate) (hangar.TenantDetails, error) {
			return cat.UpdateTenant(c.ctx, c.actor, c.path("name"), req)
		}),

		// API keys (an admin: any tenant's; a tenant: its own).
		op("POST", "/v1/tenants/{name}/keys", "Create an API key for a tenant; the key is shown once", func(c *call, req hangar.KeyCreate) (hangar.KeyCreated, error) {
			return cat.CreateKey(c.ctx, c.actor, c.path("name"), req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/tenants/{name}/keys", "List a tenant's API keys (IDs, names and hints, never the keys)", func(c *call, _ noBody) ([]hangar.APIKey, error) {
			return cat.ListKeys(c.ctx, c.actor, c.path("name"))
		}),
		op("DELETE", "/v1/tenants/{name}/keys/{id}", "Revoke an API key; it stops working on every node at once", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.RevokeKey(c.ctx, c.actor, c.path("name"), c.path("id"))
		}),

		// Store hygiene (admin).
		op("POST", "/v1/admin/gc", "Remove chunks nothing references (with a grace period for uploads in flight)", func(c *call, req hangar.GCRequest) (hangar.GCReport, error) {
			return cat.GC(c.ctx, c.actor, req)
		}),
		op("GET", "/v1/admin/gc/runs", "The history of garbage collections, newest first, each with who started it, when, its outcome, request and report (the latest 1,000 are kept); limit=N (default 100, at most 1,000), before=ID continues after the last run of a page", func(c *call, _ noBody) ([]hangar.GCRun, error) {
			p, err := runsPage(c)
			if err != nil {
				return nil, err
			}
			return cat.GCRuns(c.ctx, c.actor, p)
		}).withQuery("limit", "before"),
		op("GET", "/v1/admin/gc/runs/{id}", "One garbage collection of the history, with its request and report", func(c *call, _ noBody) (hangar.GCRun, error) {
			return cat.GCRun(c.ctx, c.actor, c.path("id"))
		}),
		op("GET", "/v1/admin/hosts", "List the compute hosts with their capacity and heartbeat", func(c *call, _ noBody) ([]hangar.ComputeHost, error) {
			return s.vms.Hosts(c.ctx, c.actor)
		}),
		op("POST", "/v1/admin/scrub", "Re-verify every chunk; quarantine corrupt ones and name the disks they damage", func(c *call, _ noBody) (hangar.ScrubReport, error) {
			return cat.Scrub(c.ctx, c.actor)
		}),
		op("GET", "/v1/admin/scrub/runs", "The history of scrubs, newest first, each with who started it, when, its outcome and report (the latest 1,000 are kept); limit=N (default 100, at most 1,000), before=ID continues after the last run of a page", func(c *call, _ noBody) ([]hangar.ScrubRun, error) {
			p, err := runsPage(c)
			if err != nil {
				return nil, err
			}
			return cat.ScrubRuns(c.ctx, c.actor, p)
		}).withQuery("limit", "before"),
		op("GET", "/v1/admin/scrub/runs/{id}", "One scrub of the history, with its report", func(c *call, _ noBody) (hangar.ScrubRun, error) {
			return cat.ScrubRun(c.ctx, c.actor, c.path("id"))
		}),

		// Disks and uploads.
		op("GET", "/v1/disks", "List your disks; tag=KEY or tag=KEY=VALUE (repeatable) keeps those with all these tags", func(c *call, _ noBody) ([]hangar.Disk, error) {
			disks, err := cat.ListDisks(c.ctx, c.actor)
			return filterTags(c, disks, err, func(d hangar.Disk) hangar.Tags { return d.Tags })
		}).withQuery("tag"),
		op("PUT", "/v1/disks/{name}/tags", "Replace a disk's tags", func(c *call, req hangar.TagsUpdate) (hangar.Disk, error) {
			return cat.SetDiskTags(c.ctx, c.actor, c.path("name"), req.Tags, c.pre)
		}).withIfMatch(),
		op("GET", "/v1/disks/{name}", "Show a disk", func(c *call, _ noBody) (hangar.Disk, error) {
			return cat.Disk(c.ctx, c.actor, c.path("name"))
		}),
		op("DELETE", "/v1/disks/{name}", "Delete a disk not used by any image", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.DeleteDisk(c.ctx, c.actor, c.path("name"), c.pre)
		}).withIfMatch(),
		stream("PUT", "/v1/disks/{name}", "Upload a whole disk file in one stream (raw or VHD; format detected from content)", func(c *call, body io.Reader) (hangar.Disk, error) {
			return cat.ImportDisk(c.ctx, c.actor, c.path("name"), body)
		}).withStatus(http.StatusCreated),
		op("POST", "/v1/disks/{name}/import", "Import a disk from an http, https or s3 URL: the server fetches the file and checks it as an upload (format, size, quota, the SHA-256 when given); the disk appears only once whole. With Accept: application/x-ndjson the answer is 200 and a stream of progress lines ending with the disk or the error; otherwise 201 and the disk once done. Internal, loopback, link-local and private addresses are refused unless the server allows them (serve --import-allow-cidr)", func(c *call, req hangar.DiskImport) (importAnswer, error) {
			imp, err := cat.StartURLImport(c.ctx, c.actor, c.path("name"), req)
			return importAnswer{imp: imp, log: s.log}, err
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/disks/{name}/content", "Download a disk as raw, vhd (fixed, Azure-ready), vhd-dynamic, vhdx, qcow2, vmdk (streamOptimized) or ova (OVF descriptor, manifest and vmdk in a tar); raw and vhd support Range", func(c *call, _ noBody) (diskContent, error) {
			ex, err := cat.ExportDisk(c.ctx, c.actor, c.path("name"), c.query("format"))
			return diskContent{ex}, err
		}).withQuery("format"),
		op("POST", "/v1/disks/{name}/generalize", "Generalize a stored Linux disk offline into a new disk (host keys, machine-id, agent state, logs, ...)", func(c *call, req hangar.DiskGeneralize) (hangar.DiskGeneralized, error) {
			return s.vms.GeneralizeDisk(c.ctx, c.actor, c.path("name"), req)
		}),
		op("POST", "/v1/uploads", "Start a resumable chunked upload", func(c *call, req hangar.UploadCreate) (hangar.Upload, error) {
			return cat.CreateUpload(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/uploads/{id}", "Show an upload in progress", func(c *call, _ noBody) (hangar.Upload, error) {
			return cat.Upload(c.ctx, c.actor, c.path("id"))
		}),
		op("DELETE", "/v1/uploads/{id}", "Cancel an upload", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.CancelUpload(c.ctx, c.actor, c.path("id"))
		}),
		op("POST", "/v1/uploads/{id}/missing", "Ask which chunks the server still needs", func(c *call, req hangar.MissingChunks) (hangar.MissingChunksResult, error) {
			return cat.MissingChunks(c.ctx, c.actor, c.path("id"), req)
		}),
		stream("PUT", "/v1/uploads/{id}/chunks/{sha256}", "Send one chunk; the body must hash to the digest in the path", func(c *call, body io.Reader) (noBody, error) {
			d, err := chunks.ParseDigest(c.path("sha256"))
			if err != nil {
				return noBody{}, hangar.Errorf(hangar.CodeInvalid, "%v", err)
			}
			return noBody{}, cat.PutChunk(c.ctx, c.actor, c.path("id"), d, body)
		}).withBodyWithin(chunkBodyWithin),
		op("POST", "/v1/uploads/{id}/commit", "Make the uploaded chunks a disk", func(c *call, req hangar.UploadCommit) (hangar.Disk, error) {
			return cat.CommitUpload(c.ctx, c.actor, c.path("id"), req)
		}).withStatus(http.StatusCreated),

		// Images.
		op("POST", "/v1/images", "Create an image or add a version to one", func(c *call, req hangar.ImageCreate) (hangar.Image, error) {
			return cat.CreateImage(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/images", "List your images; all=true lists every image you may use; tag=KEY[=VALUE] (repeatable) keeps your images with these tags", func(c *call, _ noBody) ([]hangar.ImageSummary, error) {
			all, err := c.boolQuery("all")
			if err != nil {
				return nil, err
			}
			images, err := cat.ListImages(c.ctx, c.actor, all)
			images, err = filterTags(c, images, err, func(im hangar.ImageSummary) hangar.Tags { return im.Tags })
			return filterGroup(c, images, err, func(im hangar.ImageSummary) string { return im.ResourceGroup })
		}).withQuery("all", "tag", "resourceGroup"),
		op("PUT", "/v1/images/{name}/tags", "Replace an image's tags", func(c *call, req hangar.TagsUpdate) (hangar.Image, error) {
			return cat.SetImageTags(c.ctx, c.actor, c.path("name"), "", req.Tags, c.pre)
		}).withIfMatch(),
		op("PUT", "/v1/images/{name}/versions/{version}/tags", "Replace an image version's tags", func(c *call, req hangar.TagsUpdate) (hangar.Image, error) {
			return cat.SetImageTags(c.ctx, c.actor, c.path("name"), c.path("version"), req.Tags, c.pre)
		}).withIfMatch(),
		op("PUT", "/v1/images/{name}/versions/{version}/properties", "Replace an image version's properties (free-form KEY=VALUE metadata, shown to everyone who may use the image)", func(c *call, req hangar.PropertiesUpdate) (hangar.Image, error) {
			return cat.SetVersionProperties(c.ctx, c.actor, c.path("name"), c.path("version"), req.Properties, c.pre)
		}).withIfMatch(),
		op("GET", "/v1/images:lookup", "Show an image by reference (NAME, shared/TENANT/NAME, community/PUBLICNAME/IMAGE)", func(c *call, _ noBody) (hangar.Image, error) {
			return cat.Image(c.ctx, c.actor, c.query("ref"))
		}).withQuery("ref"),
		op("POST", "/v1/images:resolve", "Resolve any image reference to an exact version and its disks", func(c *call, req hangar.ResolveRequest) (hangar.ResolvedImage, error) {
			return cat.Resolve(c.ctx, c.actor, req.Reference)
		}),
		op("GET", "/v1/images/{name}", "Show one of your images", func(c *call, _ noBody) (hangar.Image, error) {
			return cat.Image(c.ctx, c.actor, c.path("name"))
		}),
		op("DELETE", "/v1/images/{name}", "Delete one of your images with all its versions", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.DeleteImage(c.ctx, c.actor, c.path("name"), c.pre)
		}).withIfMatch(),
		op("PATCH", "/v1/images/{name}/versions/{version}", "Change a version's excludeFromLatest or endOfLife", func(c *call, req hangar.ImageVersionUpdate) (hangar.Image, error) {
			return cat.UpdateVersion(c.ctx, c.actor, c.path("name"), c.path("version"), req, c.pre)
		}).withIfMatch(),
		op("POST", "/v1/images/{name}/shares", "Share an image with another tenant", func(c *call, req hangar.ShareRequest) (hangar.Image, error) {
			return cat.Share(c.ctx, c.actor, c.path("name"), req.Tenant, true, c.pre)
		}).withIfMatch(),
		op("DELETE", "/v1/images/{name}/shares/{tenant}", "Stop sharing an image with a tenant", func(c *call, _ noBody) (hangar.Image, error) {
			return cat.Share(c.ctx, c.actor, c.path("name"), c.path("tenant"), false, c.pre)
		}).withIfMatch(),
		op("PUT", "/v1/images/{name}/community", "Publish an image to the community repository, or update its publisher details", func(c *call, req hangar.Community) (hangar.Image, error) {
			return cat.PublishCommunity(c.ctx, c.actor, c.path("name"), req, c.pre)
		}).withIfMatch(),
		op("DELETE", "/v1/images/{name}/community", "Withdraw an image from the community repository", func(c *call, _ noBody) (hangar.Image, error) {
			return cat.UnpublishCommunity(c.ctx, c.actor, c.path("name"), c.pre)
		}).withIfMatch(),

		op("POST", "/v1/images/{name}/versions/{version}/replication", "Replicate an image version to more regions (copies only the chunks a region lacks)", func(c *call, req hangar.ImageReplicate) ([]hangar.ReplicationStatus, error) {
			return cat.Replicate(c.ctx, c.actor, c.path("name"), c.path("version"), req)
		}).withStatus(http.StatusAccepted),
		op("GET", "/v1/images/{name}/versions/{version}/replication", "Where an image version is, and how far its copies are; usable in a region once Completed", func(c *call, _ noBody) ([]hangar.ReplicationStatus, error) {
			return cat.Replication(c.ctx, c.actor, c.path("name"), c.path("version"))
		}),

		// Virtual machines.
		op("POST", "/v1/vms", "Create a VM from an image; it boots in the background (poll until provisioningState is not Creating)", func(c *call, req hangar.VMCreate) (hangar.VM, error) {
			return s.vms.Create(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated).routedBy(s.placeVM),
		op("GET", "/v1/vms", "List your VMs; tag=KEY or tag=KEY=VALUE (repeatable) keeps those with all these tags; resourceGroup keeps those in that resource group", func(c *call, _ noBody) ([]hangar.VM, error) {
			vms, err := s.vms.List(c.ctx, c.actor)
			vms, err = filterTags(c, vms, err, func(v hangar.VM) hangar.Tags { return v.Tags })
			return filterGroup(c, vms, err, func(v hangar.VM) string { return v.ResourceGroup })
		}).withQuery("tag", "resourceGroup"),
		op("PUT", "/v1/vms/{name}/tags", "Replace a VM's tags", func(c *call, req hangar.TagsUpdate) (hangar.VM, error) {
			return s.vms.SetTags(c.ctx, c.actor, c.path("name"), req.Tags, c.pre)
		}).withIfMatch(),
		op("GET", "/v1/vms/{name}", "Show a VM", func(c *call, _ noBody) (hangar.VM, error) {
			return s.vms.Get(c.ctx, c.actor, c.path("name"))
		}),
		op("DELETE", "/v1/vms/{name}", "Delete a VM and its disks' overlays", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, s.vms.Delete(c.ctx, c.actor, c.path("name"), c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/start", "Start a stopped or deallocated VM", func(c *call, _ noBody) (hangar.VM, error) {
			return s.vms.Start(c.ctx, c.actor, c.path("name"), c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/stop", "Power a VM off, keeping its host resources", func(c *call, _ noBody) (hangar.VM, error) {
			return s.vms.Stop(c.ctx, c.actor, c.path("name"), false, c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/deallocate", "Power a VM off and release its host resources", func(c *call, _ noBody) (hangar.VM, error) {
			return s.vms.Stop(c.ctx, c.actor, c.path("name"), true, c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/restart", "Restart a VM", func(c *call, _ noBody) (hangar.VM, error) {
			return s.vms.Restart(c.ctx, c.actor, c.path("name"), c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/backup", "Snapshot every disk of a stopped VM into disks you own", func(c *call, req hangar.VMBackup) (hangar.VMBackupResult, error) {
			return s.vms.Backup(c.ctx, c.actor, c.path("name"), req)
		}).routedBy(s.vmHost),
		op("POST", "/v1/vms/{name}/generalize", "Mark a stopped, deprovisioned VM generalized (irreversible; backs it up first unless noBackup)", func(c *call, req hangar.VMGeneralize) (hangar.VM, error) {
			return s.vms.Generalize(c.ctx, c.actor, c.path("name"), req, c.pre)
		}).routedBy(s.vmHost).withIfMatch(),
		op("POST", "/v1/vms/{name}/capture", "Make an image version of a stopped or generalized VM", func(c *call, req hangar.VMCapture) (hangar.Image, error) {
			return s.vms.Capture(c.ctx, c.actor, c.path("name"), req)
		}).routedBy(s.vmHost).withStatus(http.StatusCreated),
		op("POST", "/v1/vms/{name}/run-command", "Run a shell script as root in the guest through its agent", func(c *call, req hangar.RunCommand) (hangar.RunCommandResult, error) {
			return s.vms.RunCommand(c.ctx, c.actor, c.path("name"), req)
		}).routedBy(s.vmHost),
		op("GET", "/v1/vms/{name}/serial-log", "The tail of a VM's serial console (boot diagnostics)", func(c *call, _ noBody) (hangar.SerialLog, error) {
			n, _ := strconv.ParseInt(c.query("bytes"), 10, 64)
			return s.vms.SerialLog(c.ctx, c.actor, c.path("name"), n)
		}).routedBy(s.vmHost).withQuery("bytes"),

		// Marketplace.
		op("GET", "/v1/marketplace/images", "List marketplace images (latest per SKU unless all=true)", func(c *call, _ noBody) ([]hangar.MarketplaceImage, error) {
			f, err := marketplaceFilter(c)
			if err != nil {
				return nil, err
			}
			return cat.Marketplace(c.ctx, c.actor, f)
		}).withQuery("publisher", "offer", "sku", "all"),
		op("POST", "/v1/marketplace/images", "Publish an image version to the marketplace (publishers)", func(c *call, req hangar.MarketplacePublish) (hangar.MarketplaceImage, error) {
			return cat.PublishMarketplace(c.ctx, c.actor, req)
		}).withStatus(http.StatusCreated),
		op("GET", "/v1/marketplace/images/{urn}", "Show a marketplace image; latest resolves to the exact version", func(c *call, _ noBody) (hangar.MarketplaceImage, error) {
			return cat.MarketplaceImage(c.ctx, c.actor, c.path("urn"))
		}),
		op("DELETE", "/v1/marketplace/images/{urn}", "Withdraw a marketplace version (its publisher)", func(c *call, _ noBody) (noBody, error) {
			return noBody{}, cat.WithdrawMarketplace(c.ctx, c.actor, c.path("urn"))
		}),
		op("GET", "/v1/marketplace/publishers", "List marketplace publishers", func(c *call, _ noBody) (Names, error) {
			return names(cat.MarketplaceNames(c.ctx, c.actor, hangar.MarketplaceFilter{}))
		}),
		op("GET", "/v1/marketplace/publishers/{publisher}/offers", "List a publisher's offers", func(c *call, _ noBody) (Names, error) {
			return names(cat.MarketplaceNames(c.ctx, c.actor, hangar.MarketplaceFilter{Publisher: c.path("publisher")}))
		}),
		op("GET", "/v1/marketplace/publishers/{publisher}/offers/{offer}/skus", "List an offer's SKUs", func(c *call, _ noBody) (Names, error) {
			return names(cat.MarketplaceNames(c.ctx, c.actor, hangar.MarketplaceFilter{Publisher: c.path("publisher"), Offer: c.path("offer")}))
		}),
		op("GET", "/v1/marketplace/terms/{urn}", "Show the terms of a marketplace image's plan", func(c *call, _ noBody) (hangar.Terms, error) {
			return cat.Terms(c.ctx, c.actor, c.path("urn"), false)
		}),
		op("POST", "/v1/marketplace/terms/{urn}/accept", "Accept the terms of a marketplace image's plan", func(c *call, _ noBody) (hangar.Terms, error) {
			return cat.Terms(c.ctx, c.actor, c.path("urn"), true)
		}),
	}, append(s.syndicationEndpoints(), s.eventEndpoints()...)...)
}

func marketplaceFilter(c *call) (hangar.MarketplaceFilter, error) {
	all, err := c.boolQuery("all")
	return hangar.MarketplaceFilter{Publisher: c.query("publisher"), Offer: c.query("offer"), SKU: c.query("sku"), All: all}, err
}

func names(list []string, err error) (Names, error) { return Names{Names: list}, err }

// runsPage reads a run history's page from the query: limit and before.
func runsPage(c *call) (catalog.RunsPage, error) {
	p := catalog.RunsPage{Before: c.query("before")}
	if v := c.query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, hangar.Errorf(hangar.CodeInvalid, "?limit=%s: say a number of runs from 1", v)
		}
		p.Limit = n
	}
	return p, nil
}
