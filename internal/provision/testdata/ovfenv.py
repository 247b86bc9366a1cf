#!/usr/bin/python3
"""Parses the ovf-env.xml named by argv[1] with the real parsers of Debian's
cloud-init (22.4: DataSourceAzure.read_azure_ovf) and waagent (2.7:
common/protocol/ovfenv.py OvfEnv), and prints what each read as JSON. Run by
ovfenv_clients_test.go."""

import json
import sys
import traceback

contents = open(sys.argv[1], "rb").read()
out = {"errors": []}

try:
    from cloudinit.sources import DataSourceAzure as dsaz
    md, ud, cfg = dsaz.read_azure_ovf(contents)
    user = cfg.get("system_info", {}).get("default_user", {})
    out["cloudinit"] = {
        "hostname": md.get("local-hostname"),
        "username": user.get("name"),
        "password_hashed": bool(user.get("hashed_passwd", "").startswith("$6$")),
        "lock_passwd": user.get("lock_passwd"),
        "ssh_pwauth": cfg.get("ssh_pwauth"),
        "pubkeys": cfg.get("_pubkeys", []),
        "userdata": ud.decode() if isinstance(ud, bytes) else ud,
        "preprovisioned": cfg.get("PreprovisionedVm"),
    }
except Exception:
    out["errors"].append("cloud-init: " + traceback.format_exc())

try:
    from azurelinuxagent.common.protocol.ovfenv import OvfEnv
    env = OvfEnv(contents.decode("utf-8"))
    out["waagent"] = {
        "hostname": env.hostname,
        "username": env.username,
        "password": env.user_password,
        "customdata": env.customdata,
        "disable_ssh_password_auth": env.disable_ssh_password_auth,
        "pubkeys": [{"path": p, "fingerprint": f, "value": v} for (p, f, v) in env.ssh_pubkeys],
        "provision_guest_agent": env.provision_guest_agent,
    }
except Exception:
    out["errors"].append("waagent: " + traceback.format_exc())

json.dump(out, sys.stdout, indent=2, sort_keys=True)
