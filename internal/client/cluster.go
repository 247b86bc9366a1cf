package client

import (
	"context"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Replicate adds target regions to an image version.
func (c *Client) Replicate(ctx context.Context, name, version string, req hangar.ImageReplicate) ([]hangar.ReplicationStatus, error) {
	var out []hangar.ReplicationStatus
	err := c.do(ctx, "POST", "/v1/images/"+esc(name)+"/versions/"+esc(version)+"/replication", req, &out)
	return out, err
}

// Replication shows the regions of an image version and the progress of its copies.
func (c *Client) Replication(ctx context.Context, name, version string) ([]hangar.ReplicationStatus, error) {
	var out []hangar.ReplicationStatus
	err := c.do(ctx, "GET", "/v1/images/"+esc(name)+"/versions/"+esc(version)+"/replication", nil, &out)
	return out, err
}

// Hosts lists the compute hosts (administrators).
func (c *Client) Hosts(ctx context.Context) ([]hangar.ComputeHost, error) {
	var out []hangar.ComputeHost
	err := c.do(ctx, "GET", "/v1/admin/hosts", nil, &out)
	return out, err
}
