package hangar

import "time"

// SigningKey is an installation's public signing key (Ed25519) and its fingerprint:
// what a subscriber pins with `hangar marketplace upstream add --public-key`.
type SigningKey struct {
	PublicKey   string `json:"publicKey"`
	Fingerprint string `json:"fingerprint"`
}

// UpstreamCreate subscribes this installation to an upstream Hangar. Key is an API
// key of a tenant there (whose entitlements decide what may be pulled); it is kept
// like a secret and never shown back.
type UpstreamCreate struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Key       string `json:"key"`
	PublicKey string `json:"publicKey"`
}

// Upstream is an installation this one pulls marketplace items from.
type Upstream struct {
	Name         string        `json:"name"`
	URL          string        `json:"url"`
	PublicKey    string        `json:"publicKey"`
	Fingerprint  string        `json:"fingerprint"`
	CreatedAt    time.Time     `json:"createdAt"`
	Syndications []Syndication `json:"syndications"`
}

// Syndication is what an admin asked to pull from an upstream.
type Syndication struct {
	Upstream  string     `json:"upstream"`
	Pattern   string     `json:"pattern"` // PUBLISHER:OFFER[:SKU[:VERSION]]
	Follow    bool       `json:"follow"`
	Message   string     `json:"message,omitempty"`
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
}

// SyndicateRequest asks to pull what matches Pattern from an upstream; Follow keeps
// pulling new versions as they appear.
type SyndicateRequest struct {
	Pattern string `json:"pattern"`
	Follow  bool   `json:"follow,omitempty"`
}

// SyndicateResult is a syndication and the pulls it started or found.
type SyndicateResult struct {
	Syndication Syndication      `json:"syndication"`
	Jobs        []SyndicationJob `json:"jobs"`
}

// States of a syndication job.
const (
	SyndicationPulling   = "Pulling"
	SyndicationCompleted = "Completed"
	SyndicationFailed    = "Failed"
	// SyndicationImporting is a version of a bundle being imported: it waits for
	// its manifests and chunks (other parts) and is not leased to any node.
	SyndicationImporting = "Importing"
)

// SyndicationJob is one pull of one upstream version: leased, resumable, with its
// progress. Done counts what is present locally, Copied what crossed the wire.
type SyndicationJob struct {
	Upstream     string    `json:"upstream"`
	URN          string    `json:"urn"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	TotalBytes   int64     `json:"totalBytes"`
	DoneBytes    int64     `json:"doneBytes"`
	CopiedBytes  int64     `json:"copiedBytes"`
	TotalChunks  int64     `json:"totalChunks"`
	DoneChunks   int64     `json:"doneChunks"`
	CopiedChunks int64     `json:"copiedChunks"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// UpstreamItem is one version an upstream offers this installation, with what is
// known of it here (Local: "", or a job state).
type UpstreamItem struct {
	URN               string `json:"urn"`
	Plan              string `json:"plan,omitempty"`
	Entitlement       string `json:"entitlement,omitempty"`
	ExcludeFromLatest bool   `json:"excludeFromLatest"`
	EndOfLife         string `json:"endOfLife,omitempty"`
	OSType            OSType `json:"osType"`
	StoredBytes       int64  `json:"storedBytes"`
	Local             string `json:"local,omitempty"`
}

// Provenance says where a syndicated marketplace version comes from.
type Provenance struct {
	Upstream       string     `json:"upstream"`
	KeyFingerprint string     `json:"keyFingerprint"`
	PulledAt       time.Time  `json:"pulledAt"`
	WithdrawnAt    *time.Time `json:"withdrawnAt,omitempty"` // when upstream stopped offering it
}

// ImportStatus is what an installation makes of a bundle's signed catalog: the
// upstream whose pinned key signed it, and each version with its state here and
// the manifests (SHA-256) it still needs.
type ImportStatus struct {
	Upstream string        `json:"upstream"`
	Entries  []ImportEntry `json:"entries"`
}

// ImportEntry is one version of a bundle being imported.
type ImportEntry struct {
	URN       string   `json:"urn"`
	State     string   `json:"state"`
	Manifests []string `json:"manifests"`
}

// ImportManifestResult names the chunks of an imported manifest this installation
// still lacks (SHA-256).
type ImportManifestResult struct {
	Missing []string `json:"missing"`
}
