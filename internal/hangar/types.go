package hangar

import (
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
)

// Role is what a tenant may do beyond using images.
type Role string

// Roles.
const (
	RoleAdmin     Role = "admin"     // manages tenants; may do everything a publisher may
	RolePublisher Role = "publisher" // may publish to the marketplace
	RoleUser      Role = "user"
)

// Tenant is an account: it owns disks, images and VMs, and holds entitlements.
type Tenant struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Entitlements []string  `json:"entitlements"`
	CreatedAt    time.Time `json:"createdAt"`
}

// HasEntitlement reports whether the tenant holds e ("" is always held).
func (t *Tenant) HasEntitlement(e string) bool {
	if e == "" {
		return true
	}
	for _, have := range t.Entitlements {
		if have == e {
			return true
		}
	}
	return false
}

// CanPublish reports whether the tenant may publish to the marketplace.
func (t *Tenant) CanPublish() bool { return t.Role == RoleAdmin || t.Role == RolePublisher }

// TenantCreate is the request to create a tenant.
type TenantCreate struct {
	Name         string   `json:"name"`
	Role         Role     `json:"role,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"`
}

// TenantCreated answers TenantCreate: the key is shown this once and never again.
type TenantCreated struct {
	Tenant Tenant `json:"tenant"`
	Key    string `json:"key"`
}

// Disk is a stored virtual disk, described by a chunk manifest. Its content never
// changes, so its ETag serves a conditional delete; UsedBy is derived from the
// images and does not move it.
type Disk struct {
	ID           string    `json:"id"`
	ETag         string    `json:"etag"`
	Name         string    `json:"name"`
	VirtualSize  int64     `json:"virtualSize"`
	StoredBytes  int64     `json:"storedBytes"`
	SourceFormat string    `json:"sourceFormat"`
	UsedBy       []string  `json:"usedBy,omitempty"`
	Tags         Tags      `json:"tags,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	// Checksums are computed once, right after the disk is stored; absent until
	// then.
	Checksums *DiskChecksums `json:"checksums,omitempty"`
}

// DiskChecksums are a disk's SHA-256 and MD5 (hex) of its raw content, as
// sha256sum and md5sum print them for `hangar disk download --format raw`, and of
// its fixed-VHD export (--format vhd), whose MD5 is what Azure checks as a page
// blob's Content-MD5.
type DiskChecksums struct {
	SHA256    string `json:"sha256"`
	MD5       string `json:"md5"`
	VHDSHA256 string `json:"vhdSha256"`
	VHDMD5    string `json:"vhdMd5"`
}

// DiskImport asks the server to fetch a disk file from a URL and store it as a disk,
// with the checks of an upload.
type DiskImport struct {
	// URL is http://, https:// or s3://BUCKET/KEY.
	URL string `json:"url"`
	// SHA256, when given (64 hex digits), is the SHA-256 of the file as served;
	// a file that does not match is refused and nothing is stored.
	SHA256 string `json:"sha256,omitempty"`
	// S3 is where an s3:// URL's bucket is and the credentials to sign with
	// (anonymous without them). They serve this one request: never stored, never
	// logged.
	S3 *S3Access `json:"s3,omitempty"`
}

// S3Access reaches an S3 bucket: the endpoint (empty for AWS) and credentials.
type S3Access struct {
	Endpoint        string `json:"endpoint,omitempty"`
	Region          string `json:"region,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	SessionToken    string `json:"sessionToken,omitempty"`
}

// DiskImportEvent is one line of an import's progress stream (application/x-ndjson):
// progress lines, then one last line holding the disk or the error.
type DiskImportEvent struct {
	Progress *DiskImportProgress `json:"progress,omitempty"`
	Disk     *Disk               `json:"disk,omitempty"`
	Error    *Error              `json:"error,omitempty"`
}

// DiskImportProgress says how far an import is. Phase is "fetching" (Bytes of the
// file's Total received; Total is -1 when the source did not say), then "storing"
// (the file checked as a disk image, its chunks written up to virtual offset Bytes of
// the virtual size Total).
type DiskImportProgress struct {
	Phase string `json:"phase"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total"`
}

// Upload is a chunked, resumable disk upload in progress.
type Upload struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	VirtualSize  int64     `json:"virtualSize"`
	SourceFormat string    `json:"sourceFormat"`
	ChunkSize    int64     `json:"chunkSize"`
	CreatedAt    time.Time `json:"createdAt"`
}

// UploadCreate starts an upload.
type UploadCreate struct {
	Name         string `json:"name"`
	VirtualSize  int64  `json:"virtualSize"`
	SourceFormat string `json:"sourceFormat"`
}

// MaxMissingDigests bounds one missing-chunks question: 4096 chunks are 16 GiB of
// disk, and a question costs the server one indexed lookup per digest.
const MaxMissingDigests = 4096

// MissingChunks asks which of the listed chunks the server needs (at most
// MaxMissingDigests).
type MissingChunks struct {
	Digests []chunks.Digest `json:"digests"`
}

// MissingChunksResult lists the chunks the client must send.
type MissingChunksResult struct {
	Missing []chunks.Digest `json:"missing"`
}

// UploadCommit turns an upload into a disk with the given extents.
type UploadCommit struct {
	Extents []chunks.Extent `json:"extents"`
}

// ImageType is the kind of image.
type ImageType string

// Image kinds.
const (
	ImageTypeOS ImageType = "os" // one generalized OS disk, nothing else
	ImageTypeVM ImageType = "vm" // OS disk plus data disks, generalized or specialized
)

// OSType is the guest's operating system family.
type OSType string

// OS types.
const (
	OSLinux   OSType = "linux"
	OSWindows OSType = "windows"
)

// OSState says whether machine-specific state was removed from the OS disk.
type OSState string

// OS states.
const (
	Generalized OSState = "generalized"
	Specialized OSState = "specialized"
)

// ProvisioningAgent names what in a guest provisions a new VM (computer name, admin
// account, keys) and tells the host it is ready.
type ProvisioningAgent string

// Provisioning agents.
const (
	// AgentAuto waits for whichever reports first: an Azure health report, the end
	// of cloud-init (asked through qemu-guest-agent), or hangar-agent.
	AgentAuto ProvisioningAgent = "auto"
	// AgentAzure: cloud-init's Azure datasource or waagent, reporting Ready to the
	// WireServer as on Azure.
	AgentAzure ProvisioningAgent = "azure"
	// AgentNoCloud: cloud-init with a NoCloud disc; ready when cloud-init is done, as
	// qemu-guest-agent tells.
	AgentNoCloud ProvisioningAgent = "nocloud"
	// AgentHangar: hangar-agent over its virtio-serial channel.
	AgentHangar ProvisioningAgent = "hangar"
	// AgentNone: nothing in the guest reports; a VM counts as provisioned once it runs.
	AgentNone ProvisioningAgent = "none"
)

// ProvisioningAgents lists the valid values, for messages and flag help.
const ProvisioningAgents = "auto, azure, nocloud, hangar or none"

// Image is an image definition with its versions. Its ETag covers the whole
// aggregate: definition, versions, shares and community publication.
type Image struct {
	ID               string    `json:"id"`
	ETag             string    `json:"etag"`
	Name             string    `json:"name"`
	Owner            string    `json:"owner"`
	Type             ImageType `json:"type"`
	OSType           OSType    `json:"osType"`
	OSState          OSState   `json:"osState"`
	HyperVGeneration string    `json:"hyperVGeneration"`
	Architecture     string    `json:"architecture"`
	// ProvisioningAgent says what in the guest provisions a new VM and reports it
	// ready (see the Agent constants).
	ProvisioningAgent ProvisioningAgent `json:"provisioningAgent"`
	Description       string            `json:"description,omitempty"`
	EULA              string            `json:"eula,omitempty"`
	Versions          []ImageVersion    `json:"versions"`
	SharedWith        []string          `json:"sharedWith,omitempty"`
	Community         *Community        `json:"community,omitempty"`
	Tags              Tags              `json:"tags,omitempty"`
	// ResourceGroup is the ARM resource group the image is in (shown to its owner).
	ResourceGroup string `json:"resourceGroup,omitempty"`
	ImageRequirements
	CreatedAt time.Time `json:"createdAt"`
}

// ImageVersion is one immutable version of an image: its disks.
type ImageVersion struct {
	Version           Version     `json:"version"`
	ExcludeFromLatest bool        `json:"excludeFromLatest"`
	EndOfLife         string      `json:"endOfLife,omitempty"`
	OSDisk            ImageDisk   `json:"osDisk"`
	DataDisks         []ImageDisk `json:"dataDisks,omitempty"`
	Tags              Tags        `json:"tags,omitempty"`
	Properties        Properties  `json:"properties,omitempty"`
	CreatedAt         time.Time   `json:"createdAt"`
}

// ImageDisk is a disk of an image version. LUN is -1 for the OS disk.
type ImageDisk struct {
	LUN         int    `json:"lun"`
	Disk        string `json:"disk,omitempty"` // the owner's disk name, shown to the owner only
	DiskID      string `json:"diskId"`
	VirtualSize int64  `json:"virtualSize"`
}

// DataDiskSpec names a data disk for a new image version.
type DataDiskSpec struct {
	LUN  int    `json:"lun"`
	Disk string `json:"disk"`
}

// ImageCreate creates an image, or adds a version to an existing image with the same
// definition.
type ImageCreate struct {
	Name              string            `json:"name"`
	Type              ImageType         `json:"type"`
	OSType            OSType            `json:"osType"`
	OSState           OSState           `json:"osState"`
	HyperVGeneration  string            `json:"hyperVGeneration,omitempty"`
	Architecture      string            `json:"architecture,omitempty"`
	ProvisioningAgent ProvisioningAgent `json:"provisioningAgent,omitempty"`
	Description       string            `json:"description,omitempty"`
	EULA              string            `json:"eula,omitempty"`
	Version           string            `json:"version,omitempty"`
	ExcludeFromLatest bool              `json:"excludeFromLatest,omitempty"`
	EndOfLife         string            `json:"endOfLife,omitempty"`
	OSDisk            string            `json:"osDisk"`
	DataDisks         []DataDiskSpec    `json:"dataDisks,omitempty"`
	// Properties are the new version's (see Properties).
	Properties Properties `json:"properties,omitempty"`
	// ImageRequirements are a new image's; a new version of an image repeats its
	// image's or leaves them out.
	ImageRequirements
	// ResourceGroup records a new image in an ARM resource group (default
	// DefaultResourceGroup); a new version names its image's or none.
	ResourceGroup string `json:"resourceGroup,omitempty"`
}

// ImageVersionUpdate changes the mutable fields of a version.
type ImageVersionUpdate struct {
	ExcludeFromLatest *bool   `json:"excludeFromLatest,omitempty"`
	EndOfLife         *string `json:"endOfLife,omitempty"`
}

// ShareRequest names the tenant to share an image with.
type ShareRequest struct {
	Tenant string `json:"tenant"`
}

// Community is an image's publication in the community repository.
type Community struct {
	PublicName     string `json:"publicName"`
	PublisherURI   string `json:"publisherUri"`
	PublisherEmail string `json:"publisherEmail"`
	EULA           string `json:"eula"`
}

// ImageSummary is one entry of "everything this tenant may use".
type ImageSummary struct {
	Reference        string    `json:"reference"`
	Source           string    `json:"source"`
	Name             string    `json:"name"`
	Owner            string    `json:"owner,omitempty"`
	Type             ImageType `json:"type"`
	OSType           OSType    `json:"osType"`
	OSState          OSState   `json:"osState"`
	HyperVGeneration string    `json:"hyperVGeneration"`
	LatestVersion    string    `json:"latestVersion"`
	Versions         int       `json:"versions"`
	Tags             Tags      `json:"tags,omitempty"`          // the owner's own images only
	ResourceGroup    string    `json:"resourceGroup,omitempty"` // the owner's own images only
}

// ResolveRequest asks the service to resolve an image reference.
type ResolveRequest struct {
	Reference string `json:"reference"`
}

// ResolvedImage is an image reference resolved to one exact version and its disks.
type ResolvedImage struct {
	Reference         string            `json:"reference"` // canonical, with the exact version
	Source            string            `json:"source"`    // marketplace, community, own, shared
	Image             string            `json:"image"`
	Version           Version           `json:"version"`
	Type              ImageType         `json:"type"`
	OSType            OSType            `json:"osType"`
	OSState           OSState           `json:"osState"`
	HyperVGeneration  string            `json:"hyperVGeneration"`
	Architecture      string            `json:"architecture"`
	ProvisioningAgent ProvisioningAgent `json:"provisioningAgent"`
	OSDisk            ImageDisk         `json:"osDisk"`
	DataDisks         []ImageDisk       `json:"dataDisks,omitempty"`
	Plan              *Plan             `json:"plan,omitempty"`
	Community         *Community        `json:"community,omitempty"`
	EULA              string            `json:"eula,omitempty"`
	ImageRequirements
}

// Plan is a marketplace purchase plan: terms a tenant must accept before using it.
type Plan struct {
	Name          string `json:"name"`
	Publisher     string `json:"publisher"`
	Product       string `json:"product"`
	TermsAccepted bool   `json:"termsAccepted"`
}

// MarketplacePublish publishes an image version to the marketplace.
type MarketplacePublish struct {
	URN               string `json:"urn"`
	Image             string `json:"image"` // NAME[@VERSION] of the publisher's own image
	Plan              string `json:"plan,omitempty"`
	Entitlement       string `json:"entitlement,omitempty"`
	ExcludeFromLatest bool   `json:"excludeFromLatest,omitempty"`
}

// MarketplaceImage is one version of a marketplace SKU as a tenant sees it.
type MarketplaceImage struct {
	URN               string            `json:"urn"`
	Publisher         string            `json:"publisher"`
	Offer             string            `json:"offer"`
	SKU               string            `json:"sku"`
	Version           string            `json:"version"`
	ExcludeFromLatest bool              `json:"excludeFromLatest"`
	Plan              *Plan             `json:"plan,omitempty"`
	Entitlement       string            `json:"entitlement,omitempty"`
	Type              ImageType         `json:"type"`
	OSType            OSType            `json:"osType"`
	OSState           OSState           `json:"osState"`
	HyperVGeneration  string            `json:"hyperVGeneration"`
	Architecture      string            `json:"architecture"`
	ProvisioningAgent ProvisioningAgent `json:"provisioningAgent"`
	Description       string            `json:"description,omitempty"`
	EULA              string            `json:"eula,omitempty"`
	EndOfLife         string            `json:"endOfLife,omitempty"`
	Provenance        *Provenance       `json:"provenance,omitempty"` // set on syndicated versions
	Properties        Properties        `json:"properties,omitempty"` // the version's
	ImageRequirements
}

// MarketplaceFilter narrows a marketplace listing. All false means only the latest
// version of each SKU.
type MarketplaceFilter struct {
	Publisher, Offer, SKU string
	All                   bool
}

// Terms are the legal terms of a marketplace plan and whether the tenant accepted them.
type Terms struct {
	Publisher  string     `json:"publisher"`
	Offer      string     `json:"offer"`
	Plan       string     `json:"plan"`
	EULA       string     `json:"eula,omitempty"`
	Accepted   bool       `json:"accepted"`
	AcceptedAt *time.Time `json:"acceptedAt,omitempty"`
}

// TermsRequest names the URN whose terms are shown or accepted.
type TermsRequest struct {
	URN string `json:"urn"`
}

// Whoami describes the caller.
type Whoami struct {
	Tenant Tenant `json:"tenant"`
}

// GCRequest tunes garbage collection.
type GCRequest struct {
	// GracePeriod protects chunks saved more recently than this (default 1h), so
	// that an upload in flight, whose chunks are not referenced until it commits,
	// loses nothing.
	GracePeriod string `json:"gracePeriod,omitempty"`
	// UploadMaxAge forgets uploads started longer ago than this (default 168h).
	UploadMaxAge string `json:"uploadMaxAge,omitempty"`
	DryRun       bool   `json:"dryRun,omitempty"`
}

// GCReport says what garbage collection found and did.
type GCReport struct {
	Scanned        int64 `json:"scanned"`
	Referenced     int64 `json:"referenced"`
	TooYoung       int64 `json:"tooYoung"`
	Removed        int64 `json:"removed"`
	RemovedBytes   int64 `json:"removedBytes"`
	ExpiredUploads int64 `json:"expiredUploads"`
	DryRun         bool  `json:"dryRun"`
}

// ScrubReport says what scrubbing found.
type ScrubReport struct {
	Scanned      int64          `json:"scanned"`
	ScannedBytes int64          `json:"scannedBytes"`
	Corrupt      []CorruptChunk `json:"corrupt"`
}

// CorruptChunk is a chunk whose content no longer matches its digest.
type CorruptChunk struct {
	Digest      string   `json:"sha256"`
	Region      string   `json:"region,omitempty"` // another region's store; "" for the primary
	Quarantined string   `json:"quarantined"`
	Disks       []string `json:"disks"` // TENANT/DISK that held it
}

// Run outcomes of a garbage collection or a scrub in the history.
const (
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// HygieneRun is what the history keeps of every garbage collection and scrub
// run: who started it, when, and how it ended. A run is recorded when it ends, so
// one cut short by a crash of its node is not in the history.
type HygieneRun struct {
	ID        string    `json:"id"`        // increases with each run recorded
	StartedBy string    `json:"startedBy"` // the admin tenant whose key started it
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	Outcome   string    `json:"outcome"`         // succeeded or failed
	Error     string    `json:"error,omitempty"` // why it failed
}

// GCRun is one garbage collection in the history, with its request and its
// report (as far as it got, when it failed).
type GCRun struct {
	HygieneRun
	Request GCRequest `json:"request"`
	Report  GCReport  `json:"report"`
}

// ScrubRun is one scrub in the history, with its report (as far as it got, when
// it failed).
type ScrubRun struct {
	HygieneRun
	Report ScrubReport `json:"report"`
}

// Replication states, as Azure names them.
const (
	ReplicationReplicating = "Replicating"
	ReplicationCompleted   = "Completed"
	ReplicationFailed      = "Failed"
)

// ReplicaTarget is a region an image version is replicated to.
type ReplicaTarget struct {
	Region       string `json:"region"`
	ReplicaCount int    `json:"replicaCount"`
}

// ImageReplicate asks for an image version in more regions.
type ImageReplicate struct {
	TargetRegions []ReplicaTarget `json:"targetRegions"`
}

// ReplicationStatus is a version's copy in one region. The version is usable for VMs
// in the region once State is Completed.
type ReplicationStatus struct {
	Region       string    `json:"region"`
	ReplicaCount int       `json:"replicaCount"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	TotalBytes   int64     `json:"totalBytes"`
	DoneBytes    int64     `json:"doneBytes"`   // present in the region
	CopiedBytes  int64     `json:"copiedBytes"` // copied there by replication
	UpdatedAt    time.Time `json:"updatedAt"`
}
