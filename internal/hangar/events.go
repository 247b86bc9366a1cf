package hangar

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Event types, named as Azure Event Grid names its events. Each event's data is
// the JSON object described beside its type.
const (
	// A disk was stored: an upload or import committed, or a capture, backup or
	// generalize made it. Data: EventDisk.
	EventDiskCreated = "Hangar.Disk.Created"
	// A disk was deleted. Data: EventDisk (name and ID only).
	EventDiskDeleted = "Hangar.Disk.Deleted"
	// An image version was created (by hand, by capture or by a pull). Data:
	// EventImageVersion.
	EventImageVersionCreated = "Hangar.ImageVersion.Created"
	// An image version was deleted with its image. Data: EventImageVersion.
	EventImageVersionDeleted = "Hangar.ImageVersion.Deleted"
	// An image version's copy in a region completed. Data: EventImageVersion
	// with Region.
	EventImageVersionReplicated = "Hangar.ImageVersion.Replicated"
	// An image version's end-of-life date was set, changed or cleared. Data:
	// EventImageVersion with EndOfLife.
	EventImageVersionEndOfLife = "Hangar.ImageVersion.EndOfLifeChanged"
	// A VM was created. Data: EventVM.
	EventVMCreated = "Hangar.VM.Created"
	// A VM's power or provisioning state changed. Data: EventVM with the states
	// before.
	EventVMStateChanged = "Hangar.VM.StateChanged"
	// A VM was deleted. Data: EventVM (name only).
	EventVMDeleted = "Hangar.VM.Deleted"
)

// EventTypes lists every event type, for validation and documentation.
var EventTypes = []string{
	EventDiskCreated, EventDiskDeleted,
	EventImageVersionCreated, EventImageVersionDeleted, EventImageVersionReplicated, EventImageVersionEndOfLife,
	EventVMCreated, EventVMStateChanged, EventVMDeleted,
}

// Event is something that happened to a tenant's resource, as a CloudEvents 1.0
// JSON event (what Azure Event Grid delivers in its CloudEvents schema). IDs are
// sequence numbers: every event a tenant sees has a higher ID than the ones
// before it, so "after ID" resumes a stream where it stopped.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`  // /tenants/NAME
	Type            string          `json:"type"`    // one of EventTypes
	Subject         string          `json:"subject"` // disks/NAME, images/NAME/versions/V or vms/NAME
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// EventDisk is the data of disk events.
type EventDisk struct {
	Disk         string `json:"disk"`
	DiskID       string `json:"diskId"`
	VirtualSize  int64  `json:"virtualSize,omitempty"`
	StoredBytes  int64  `json:"storedBytes,omitempty"`
	SourceFormat string `json:"sourceFormat,omitempty"`
}

// EventImageVersion is the data of image version events.
type EventImageVersion struct {
	Image     string `json:"image"`
	Version   string `json:"version"`
	Region    string `json:"region,omitempty"`
	EndOfLife string `json:"endOfLife,omitempty"`
}

// EventVM is the data of VM events.
type EventVM struct {
	VM                        string            `json:"vm"`
	Image                     string            `json:"image,omitempty"`
	PowerState                PowerState        `json:"powerState,omitempty"`
	ProvisioningState         ProvisioningState `json:"provisioningState,omitempty"`
	PreviousPowerState        PowerState        `json:"previousPowerState,omitempty"`
	PreviousProvisioningState ProvisioningState `json:"previousProvisioningState,omitempty"`
}

// MaxWebhooks bounds a tenant's webhooks: each one is a delivery per event.
const MaxWebhooks = 10

// WebhookCreate asks for a webhook: the server POSTs each event of the tenant
// (an admin's: of every tenant) to URL, signed as Standard Webhooks sign.
type WebhookCreate struct {
	URL string `json:"url"`
	// Types keeps only these event types; empty is every type.
	Types []string `json:"types,omitempty"`
}

// Webhook is a registered receiver of events.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Types     []string  `json:"types,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Pending and Failed count its deliveries in those states.
	Pending int64 `json:"pending"`
	Failed  int64 `json:"failed"`
}

// WebhookCreated is a new webhook with its signing secret, shown once.
type WebhookCreated struct {
	Webhook
	// Secret (whsec_...) is the key of the HMAC-SHA256 signature in each
	// delivery's webhook-signature header (https://www.standardwebhooks.com).
	Secret string `json:"secret"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// EventDelivery is one event on its way to one webhook.
type EventDelivery struct {
	Webhook  string    `json:"webhook"`
	EventID  string    `json:"eventId"`
	Type     string    `json:"type"`
	Subject  string    `json:"subject"`
	State    string    `json:"state"` // pending, delivered or failed
	Attempts int64     `json:"attempts"`
	NextAt   time.Time `json:"nextAttemptAt,omitzero"`
	// LastStatus is the receiver's last HTTP status (0: it did not answer;
	// LastError says why).
	LastStatus int       `json:"lastStatus,omitempty"`
	LastError  string    `json:"lastError,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Validate checks a webhook request: an http or https URL without user
// information, of at most 2,048 characters, and known event types, each once.
func (r *WebhookCreate) Validate() error {
	u, err := url.Parse(r.URL)
	switch {
	case len(r.URL) > 2048:
		return Errorf(CodeInvalid, "webhook URL: at most 2048 characters")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return Errorf(CodeInvalid, "webhook URL %.80q: give an http:// or https:// URL", r.URL)
	case u.User != nil:
		return Errorf(CodeInvalid, "webhook URL: no user:password@ in it; verify deliveries by their signature instead")
	}
	for i, t := range r.Types {
		if !slices.Contains(EventTypes, t) {
			return Errorf(CodeInvalid, "event type %.80q is not one Hangar sends: %s", t, strings.Join(EventTypes, ", "))
		}
		// Each type at most once: what is stored stays as small as the list of types.
		if slices.Contains(r.Types[:i], t) {
			return Errorf(CodeInvalid, "event type %s is given twice", t)
		}
	}
	return nil
}
