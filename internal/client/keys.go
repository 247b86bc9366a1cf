package client

import (
	"context"

	"github.com/hangarvm/hangar/internal/hangar"
)

// CreateKey makes a new API key for a tenant (an admin: any tenant; a tenant: its
// own). The key is in the answer only.
func (c *Client) CreateKey(ctx context.Context, tenant string, req hangar.KeyCreate) (hangar.KeyCreated, error) {
	var out hangar.KeyCreated
	return out, c.do(ctx, "POST", "/v1/tenants/"+esc(tenant)+"/keys", req, &out)
}

// ListKeys lists a tenant's API keys, without the keys themselves.
func (c *Client) ListKeys(ctx context.Context, tenant string) ([]hangar.APIKey, error) {
	var out []hangar.APIKey
	return out, c.do(ctx, "GET", "/v1/tenants/"+esc(tenant)+"/keys", nil, &out)
}

// RevokeKey revokes one of a tenant's API keys by ID.
func (c *Client) RevokeKey(ctx context.Context, tenant, id string) error {
	return c.do(ctx, "DELETE", "/v1/tenants/"+esc(tenant)+"/keys/"+esc(id), nil, nil)
}
