package hangar

import "time"

// APIKey describes one of a tenant's API keys. The key itself is never stored
// (only its SHA-256) nor shown again after KeyCreated.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hint is the key's last characters, to tell keys apart ("…x1Yz").
	Hint string `json:"hint"`
	// Bootstrap marks the admin key made at first start or given by
	// HANGAR_ADMIN_KEY: a new HANGAR_ADMIN_KEY replaces it.
	Bootstrap bool      `json:"bootstrap,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// KeyCreate asks for a new API key.
type KeyCreate struct {
	// Name says what the key is for (default: "key").
	Name string `json:"name,omitempty"`
}

// Normalize checks the request and fills in the default name.
func (r *KeyCreate) Normalize() error {
	if r.Name == "" {
		r.Name = "key"
	}
	return ValidateName("key", r.Name)
}

// KeyCreated answers KeyCreate: the key is shown this once and never again.
type KeyCreated struct {
	APIKey
	Tenant string `json:"tenant"`
	Key    string `json:"key"`
}
