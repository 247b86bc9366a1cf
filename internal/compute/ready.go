package compute

import "github.com/hangarvm/hangar/internal/hangar"

// mediumDevices is where a VM's guest looks for its provisioning disc: hangar-agent
// on a virtio disk, cloud-init and waagent on a CD (where Azure puts it); both
// when the image does not say.
func mediumDevices(want hangar.ProvisioningAgent) MediumDevices {
	switch want {
	case hangar.AgentHangar:
		return MediumVirtio
	case hangar.AgentAzure, hangar.AgentNoCloud:
		return MediumCD
	}
	return MediumVirtio | MediumCD
}

// agentSource is the agent in a guest that a report came from.
type agentSource int

const (
	agentFromHangar  agentSource = iota // hangar-agent, over its virtio-serial channel
	agentFromAzure                      // cloud-init's Azure datasource or waagent: a health report to the WireServer
	agentFromNoCloud                    // cloud-init with NoCloud: its end, read through qemu-guest-agent
)

// name is how messages to the user call the agent.
func (s agentSource) name() string {
	switch s {
	case agentFromAzure:
		return "the guest's Azure agent (cloud-init or waagent)"
	case agentFromNoCloud:
		return "cloud-init (asked through qemu-guest-agent)"
	}
	return "hangar-agent"
}

// heeds says whether a VM made from an image that expects the agent want takes
// the reports of agent from. An image says which agent provisions it, so that a
// report from another one (a waagent left in an image that cloud-init provisions)
// cannot declare the VM ready before its agent is done.
func heeds(want hangar.ProvisioningAgent, from agentSource) bool {
	switch want {
	case hangar.AgentAzure:
		return from == agentFromAzure
	case hangar.AgentNoCloud:
		return from == agentFromNoCloud
	case hangar.AgentHangar:
		return from == agentFromHangar
	case hangar.AgentNone:
		return false
	}
	return true // auto: whichever reports
}
