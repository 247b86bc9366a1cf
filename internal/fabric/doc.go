// Package fabric is Azure's host platform as stock guests see it: the WireServer
// (168.63.129.16:80), the HostGAPlugin (168.63.129.16:32526) and the Instance
// Metadata Service (169.254.169.254:80) of one VM, served from its Instance, so
// that cloud-init's Azure datasource and the Azure Linux agent (waagent) provision
// an unmodified image and report ready. docs/azure-platform.md gives the whole
// conversation; this package serves it.
//
// Vocabulary:
//   - Instance: the facts of one VM its guest may see (names, ids, admin user,
//     keys, user data, NIC).
//   - goal state: the WireServer's document naming the VM's container, role
//     instance and incarnation, with the URLs of its configuration documents
//     (hosting environment, shared and extensions configuration).
//   - health report: the XML an agent posts to say NotReady (provisioning, or
//     failed with a substatus and its own description) or Ready. It is the only
//     guest document parsed here (ParseHealth); Health is its meaning.
//   - IMDS: the JSON of compute and network facts behind a "Metadata: true" header.
//
// Sources, the clients as packaged in Debian 12 (cloud-init 22.4.2, waagent
// 2.7.3.0); the answers here are what their code parses:
//   - cloud-init cloudinit/sources/DataSourceAzure.py: crawl_metadata,
//     get_imds_data_with_api_fallback, _get_metadata_from_imds (the IMDS request,
//     api-versions 2021-08-01 then 2019-06-01), _username_from_imds,
//     _hostname_from_imds, _userdata_from_imds, _get_public_keys_from_imds,
//     generate_network_config_from_instance_network_metadata, read_azure_ovf.
//   - cloud-init cloudinit/sources/helpers/azure.py: ChassisAssetTag,
//     AzureEndpointHttpClient, GoalState (Container/ContainerId,
//     RoleInstance/InstanceId, Incarnation, Certificates), GoalStateHealthReporter
//     (the health report, Ready or NotReady/ProvisioningFailed), OvfEnvXml.
//   - WALinuxAgent azurelinuxagent/common/protocol/wire.py: WireProtocol.detect,
//     WireClient.check_wire_protocol_version (/?comp=versions), update_goal_state,
//     report_health and _build_health_report, send_encoded_event (telemetry),
//     upload_status_blob, _fetch_vm_settings_goal_state (the HostGAPlugin's 404).
//   - WALinuxAgent common/protocol/goal_state.py: GoalState, fetch_full_goal_state
//     (HostingEnvironmentConfig, SharedConfig, ExtensionsConfig), HostingEnv.
//   - WALinuxAgent common/protocol/hostplugin.py: HostPluginProtocol
//     (/versions, /vmSettings, /status); common/protocol/imds.py: ImdsClient
//     (get_compute, validate); common/dhcp.py: DhcpHandler, parse_dhcp_resp
//     (option 245).
//
// Invariants: every answer is a function of the Instance and the request alone,
// rendered once by New, so the same request gets the same bytes; no guest body is
// read past its bound (MaxHealthReport, and the bounds of telemetry, status and
// logs, which are read and dropped), and a body over it is refused with 413;
// nothing a guest sends is kept but a health report's state, substatus and
// description, the last two cleaned of control characters and bounded. Each
// Server knows one VM only: health reports naming another container or instance
// are refused, and configuration URLs of another are not found.
//
// This package does no I/O of its own: the handlers are served by the VM's network
// (internal/netstack) at the addresses of Handlers.
package fabric
