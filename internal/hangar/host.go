package hangar

import "time"

// Host states: a host is up while it heartbeats.
const (
	HostUp   = "up"
	HostDown = "down"
)

// ComputeHost is a node that runs VMs, as an administrator sees it.
type ComputeHost struct {
	Name          string    `json:"name"`
	Region        string    `json:"region"`
	URL           string    `json:"url"`
	State         string    `json:"state"` // up or down
	VCPUs         int64     `json:"vcpus"`
	UsedVCPUs     int64     `json:"usedVcpus"`
	MemoryMiB     int64     `json:"memoryMiB"`
	UsedMemoryMiB int64     `json:"usedMemoryMiB"`
	VMs           int       `json:"vms"` // VMs holding its resources
	LastHeartbeat time.Time `json:"lastHeartbeat"`
}
