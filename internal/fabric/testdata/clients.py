#!/usr/bin/python3
"""Drives the real cloud-init (22.4) and WALinuxAgent (2.7) client code of Debian's
packages against Hangar's fabric handlers, and writes what the clients parsed as
JSON to the file named by $OUT. Run by clients_test.go.

Only the transport is redirected: the clients build their URLs for 168.63.129.16,
168.63.129.16:32526 and 169.254.169.254 as in a VM, and the requests are sent to
the test servers named by $WIRE, $HGAP and $IMDS (host:port) instead. Every
document is parsed by the clients' own code."""

import base64
import json
import os
import sys
import traceback
import urllib.parse

WIRE, HGAP, IMDS, WORK, OUT = (os.environ[k] for k in ("WIRE", "HGAP", "IMDS", "WORK", "OUT"))
ROUTES = {
    ("168.63.129.16", 80): WIRE,
    ("168.63.129.16", 32526): HGAP,
    ("169.254.169.254", 80): IMDS,
}
result = {"errors": []}


def route(host, port):
    target = ROUTES.get((host, port or 80))
    if target is None:
        raise RuntimeError("request to %s:%s, not a platform address" % (host, port))
    h, p = target.rsplit(":", 1)
    return h, int(p)


def step(name):
    """Runs a check, recording its exception instead of stopping."""
    def wrap(fn):
        try:
            fn()
        except Exception:
            result["errors"].append("%s: %s" % (name, traceback.format_exc()))
        return fn
    return wrap


# cloud-init ---------------------------------------------------------------

from cloudinit import url_helper  # noqa: E402
from cloudinit.sources import DataSourceAzure as dsaz  # noqa: E402
from cloudinit.sources.helpers import azure as azh  # noqa: E402

_readurl = url_helper.readurl


def readurl(url, *args, **kwargs):
    u = urllib.parse.urlsplit(url)
    h, p = route(u.hostname, u.port)
    return _readurl(u._replace(netloc="%s:%d" % (h, p)).geturl(), *args, **kwargs)


url_helper.readurl = readurl
dsaz.readurl = readurl

# The WireServer client retries for 20 minutes; one try is enough here.
_http_with_retries = azh.http_with_retries


def http_with_retries(url, **kwargs):
    kwargs["timeout_minutes"] = 0
    kwargs["retry_sleep"] = 0
    return _http_with_retries(url, **kwargs)


azh.http_with_retries = http_with_retries
ci = result["cloudinit"] = {}


@step("cloud-init IMDS")
def _():
    md = dsaz.get_metadata_from_imds(retries=0, api_version=dsaz.IMDS_VER_WANT)
    ci["username"] = dsaz._username_from_imds(md)
    ci["hostname"] = dsaz._hostname_from_imds(md)
    ci["disable_password"] = dsaz._disable_password_from_imds(md)
    ci["userdata"] = base64.b64decode("".join(dsaz._userdata_from_imds(md).split())).decode()
    ci["public_keys"] = dsaz.DataSourceAzure._get_public_keys_from_imds(None, md)
    ci["location"] = md["compute"]["location"]
    ci["pps_type"] = dsaz.DataSourceAzure._ppstype_from_imds(None, md)
    ci["network_config"] = dsaz.generate_network_config_from_instance_network_metadata(md["network"])


@step("cloud-init IMDS fallback")
def _():
    # An api-version the IMDS refuses: 400, then cloud-init's fallback.
    try:
        dsaz.get_metadata_from_imds(retries=0, api_version="2099-01-01")
        ci["unknown_version_code"] = 200
    except url_helper.UrlError as e:
        ci["unknown_version_code"] = e.code
    want = dsaz.IMDS_VER_WANT
    dsaz.IMDS_VER_WANT = "2099-01-01"
    try:
        md = dsaz.DataSourceAzure.get_imds_data_with_api_fallback(None, retries=0)
    finally:
        dsaz.IMDS_VER_WANT = want
    ci["fallback_vm_id"] = md.get("compute", {}).get("vmId")


@step("cloud-init report ready")
def _():
    ci["ready_keys"] = azh.get_metadata_from_fabric(endpoint="168.63.129.16")
    ci["ready"] = True


@step("cloud-init report failure")
def _():
    azh.report_failure_to_fabric(endpoint="168.63.129.16", description=os.environ["FAILURE"])
    ci["failure_reported"] = True


# WALinuxAgent -------------------------------------------------------------

import azurelinuxagent.common.conf as conf  # noqa: E402
from azurelinuxagent.common.utils import restutil  # noqa: E402

conf.__conf__.values["Lib.Dir"] = WORK
_http_request = restutil._http_request


def waagent_http_request(method, host, rel_uri, port=None, **kwargs):
    h, p = route(host, port)
    return _http_request(method, h, rel_uri, port=p, **kwargs)


restutil._http_request = waagent_http_request
wa = result["waagent"] = {}

from azurelinuxagent.common.protocol.wire import WireProtocol  # noqa: E402
from azurelinuxagent.common.protocol.restapi import ProvisionStatus, VMStatus  # noqa: E402
from azurelinuxagent.common.protocol.imds import get_imds_client  # noqa: E402
from azurelinuxagent.common.protocol.healthservice import HealthService  # noqa: E402

protocol = WireProtocol("168.63.129.16")


@step("waagent detect")
def _():
    protocol.detect()  # versions, goal state, its documents, vmSettings
    gs = protocol.client.get_goal_state()
    wa["incarnation"] = gs.incarnation
    wa["container_id"] = gs.container_id
    wa["role_instance_id"] = gs.role_instance_id
    wa["role_config_name"] = gs.role_config_name
    vm = protocol.get_vminfo()
    wa["vm_name"] = vm.vmName
    wa["role_name"] = vm.roleName
    wa["tenant_name"] = vm.tenantName
    ext = protocol.get_extensions_goal_state()
    wa["extensions"] = len(ext.extensions)
    wa["agent_manifests"] = len(ext.agent_manifests)
    wa["status_upload_blob"] = ext.status_upload_blob
    wa["vm_settings_supported"] = protocol.client._host_plugin_supports_vm_settings


@step("waagent steady goal state")
def _():
    # The extension handler's loop asks again; the same incarnation needs no
    # full fetch.
    protocol.update_goal_state()
    wa["incarnation_again"] = protocol.get_incarnation()


@step("waagent provisioning reports")
def _():
    protocol.report_provision_status(ProvisionStatus(status="NotReady", subStatus="Provisioning", description="Starting"))
    protocol.report_provision_status(ProvisionStatus(status="NotReady", subStatus="ProvisioningFailed", description=os.environ["FAILURE"]))
    protocol.report_provision_status(ProvisionStatus(status="Ready"))
    wa["provision_reported"] = True


@step("waagent status")
def _():
    protocol.report_vm_status(VMStatus(status="Ready", message="Guest Agent is running"))
    wa["host_plugin"] = protocol.client.get_host_plugin().ensure_initialized()
    wa["status_reported"] = True


@step("waagent telemetry")
def _():
    protocol.client.send_encoded_event("69B669B9-4AF8-4C50-BDC4-6006FA76E975", b'<Event id="1"><![CDATA[<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" />]]></Event>')
    HealthService("168.63.129.16").report_host_plugin_heartbeat(True)
    wa["telemetry_sent"] = True


@step("waagent IMDS")
def _():
    client = get_imds_client("168.63.129.16")
    c = client.get_compute()
    wa["imds_compute"] = {k: getattr(c, k) for k in ("name", "location", "vmSize", "vmId", "osType", "subscriptionId", "resourceGroupName")}
    wa["imds_valid"] = list(client.validate())


with open(OUT, "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
