package fabric

import (
	"net"
	"net/netip"
)

// testInstance is a VM as the tests see it.
func testInstance() Instance {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	return Instance{
		Name:                          "vm1",
		ComputerName:                  "host1",
		VMID:                          "6f1f3f28-4b0c-4c55-9d3e-2a1c3c7f0e11",
		Location:                      "local",
		VMSize:                        "Standard_B2s",
		ResourceGroup:                 "rg1",
		SubscriptionID:                "00000000-0000-0000-0000-000000000001",
		ContainerID:                   "c1d2e3f4-0000-4000-8000-000000000001",
		InstanceID:                    "6f1f3f28-4b0c-4c55-9d3e-2a1c3c7f0e11._vm1",
		Incarnation:                   1,
		AdminUsername:                 "azureuser",
		DisablePasswordAuthentication: true,
		PublicKeys: []PublicKey{{
			Path:    "/home/azureuser/.ssh/authorized_keys",
			KeyData: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4f1n0a3VHcXJ1YfE7tq7oQ7r3gG9m6n2tD8jWv9Yy test@hangar",
		}},
		UserData: "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtbdG91Y2gsIC90bXAvdWRdXQo=",
		Network: Network{
			MAC:         mac,
			PrivateIPv4: netip.MustParsePrefix("10.0.0.4/24"),
			Gateway:     netip.MustParseAddr("10.0.0.1"),
		},
	}
}
