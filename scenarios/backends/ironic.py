"""Real Ironic: the all-in-one ``ironic`` process (API and conductor) with fake hardware.

``IronicServer`` writes the configuration (fake-hardware, noauth, its own
SQLite, ``rpc_transport = none``, images from the Glance stand-in), creates
the schema with ``ironic-dbsync`` and runs ``ironic`` as a child process on
a free loopback port. ``RealIronic`` is what scenarios hold in place of the
simulator: it enrols and changes nodes through Ironic's API (as an operator
would) and arms faults on the proxy between nova and Ironic.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from importlib import metadata
from typing import Any

from scenarios.backends.process import BackendError, Server, check_bindable, free_port
from scenarios.standins.http import SERVER_THREAD_PREFIX

__all__ = ["IronicServer", "RealIronic", "API_VERSION", "check_installed"]

#: The microversion the auditor's own client speaks (Ironic 39 serves up to 1.115).
API_VERSION = "1.115"

_INTERFACES = ("bios", "boot", "console", "deploy", "firmware", "inspect", "management",
               "power", "raid", "rescue", "vendor")

_CONF = """\
[DEFAULT]
host = auditor-ironic
enabled_hardware_types = fake-hardware
{interfaces}
enabled_network_interfaces = noop
enabled_storage_interfaces = noop
default_network_interface = noop
rpc_transport = none
auth_strategy = noauth
state_path = {workdir}
log_file = {workdir}/ironic.log
debug = false
[api]
host_ip = 127.0.0.1
port = {port}
api_workers = 1
[conductor]
automated_clean = true
file_url_allowed_paths = {workdir}
heartbeat_interval = 5
sync_power_state_interval = -1
[database]
connection = sqlite:///{workdir}/ironic.sqlite
[dhcp]
dhcp_provider = none
[glance]
auth_type = none
endpoint_override = {glance}
[oslo_concurrency]
lock_path = {workdir}/locks
"""


def check_installed() -> None:
    """Raise BackendError unless Ironic and its console scripts are installed here."""
    if importlib.util.find_spec("ironic") is None:
        raise BackendError("--ironic real needs the 'ironic' package: "
                           "pip install -c constraints.txt -e '.[backends]'")
    for script in ("ironic", "ironic-dbsync"):
        if _script(script) is None:
            raise BackendError(f"--ironic real: the {script!r} command of the ironic "
                               f"package is not installed next to {sys.executable}")


def _script(name: str) -> str | None:
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.access(local, os.X_OK) else shutil.which(name)


class IronicServer:
    """Ironic all-in-one as a child process; ``endpoint`` once started."""

    def __init__(self, workdir: str, glance_endpoint: str, port: int | None = None,
                 record=None):
        """``record``: told each process group started (``Server``'s ``record``)."""
        self.workdir = os.path.join(workdir, "ironic")
        self._record = record
        self.port = port or free_port()
        self.glance_endpoint = glance_endpoint
        self.conf_file = os.path.join(self.workdir, "ironic.conf")
        self._server: Server | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        return metadata.version("ironic")

    def start(self) -> "IronicServer":
        check_installed()
        check_bindable(self.port)
        os.makedirs(os.path.join(self.workdir, "locks"), exist_ok=True)
        interfaces = "\n".join(f"enabled_{i}_interfaces = fake" for i in _INTERFACES)
        with open(self.conf_file, "w") as f:
            f.write(_CONF.format(workdir=self.workdir, port=self.port, interfaces=interfaces,
                                 glance=self.glance_endpoint))
        sync = subprocess.run([_script("ironic-dbsync"), "--config-file", self.conf_file,
                               "create_schema"], capture_output=True, text=True)
        if sync.returncode != 0:
            tail = " | ".join((sync.stderr or sync.stdout).strip().splitlines()[-2:])
            raise BackendError(f"ironic-dbsync failed ({sync.returncode}): {tail[-400:]}")
        self._server = Server("ironic", [_script("ironic"), "--config-file", self.conf_file],
                              os.path.join(self.workdir, "ironic.out"), ready=self._answers,
                              record=self._record)
        self._server.start(timeout_s=90)
        return self

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/v1", timeout=2) as resp:
            return resp.status == 200

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


# -- the operator's side ------------------------------------------------------

# scenario field -> (Ironic API field) for fields a PATCH may change
_PATCHABLE = {"instance_uuid", "instance_info", "properties", "extra", "resource_class",
              "name", "shard", "conductor_group", "driver_info"}
# transient provision states that settle without anyone's action
_TRANSIENT = {"deploying", "wait call-back", "deleting", "cleaning", "clean wait",
              "verifying", "undeploying"}


class RealIronic:
    """Scenario-facing inventory over a real Ironic: enrol, change, remove, read nodes.

    Speaks to Ironic directly (not through the fault proxy): it plays the
    operator and the hardware, not nova. Public methods run their API calls on
    the operator threads (``_op``).
    """

    def __init__(self, endpoint: str, proxy=None, glance=None):
        import openstack

        self.conn = openstack.connection.Connection(
            auth_type="none", baremetal_endpoint_override=f"{endpoint}/",
            baremetal_api_version=API_VERSION)
        self.api = self.conn.baremetal
        self.proxy = proxy
        self.glance = glance
        # Every operator call runs in these threads: the auditor ignores them (an
        # operator's SDK logging is not nova's), as it ignores the stand-ins' servers.
        self._pool = concurrent.futures.ThreadPoolExecutor(
            4, thread_name_prefix=f"{SERVER_THREAD_PREFIX}ironic-operator")
        self._pending: dict[str, concurrent.futures.Future] = {}

    # -- inventory -----------------------------------------------------------

    def _enroll(self, *, uuid: str | None = None, name: str | None = None,
                resource_class: str | None = "baremetal", traits=(),
                provision_state: str = "available", power_state: str = "power off",
                maintenance: bool = False, conductor_group: str = "",
                shard: str | None = None, driver_info: dict | None = None,
                last_error: str | None = None, **hardware) -> str:
        """``hardware``: ``node_properties``' arguments. ``last_error`` is Ironic's to set."""
        from scenarios.ironic_sim import node_properties

        props = node_properties(**hardware)
        fields = {"driver": "fake-hardware", "driver_info": dict(driver_info or {}),
                  "properties": props, "resource_class": resource_class}
        if uuid:
            fields["uuid"] = uuid
        if name:
            fields["name"] = name
        if conductor_group:
            fields["conductor_group"] = conductor_group
        if shard:
            fields["shard"] = shard
        node = self.api.create_node(**fields)
        # The rest runs in the background, several nodes at a time; settle() waits.
        self._pending[node.id] = self._pool.submit(
            self._bring_up, node.id, list(traits), provision_state, power_state, maintenance)
        return node.id

    def _bring_up(self, node_id: str, traits: list, provision_state: str, power_state: str,
                  maintenance: bool) -> None:
        if traits:
            self.api.set_node_traits(node_id, traits)
        if provision_state in ("manageable", "available"):
            self._provision(node_id, "manage", "manageable")
        if provision_state == "available":
            self._provision(node_id, "provide", "available")
        if power_state:
            # fake power leaves power_state None, which nova reports as reserved
            self.api.set_node_power_state(node_id, power_state)
            deadline = time.monotonic() + 30
            while self._node(node_id)["power_state"] != power_state:
                if time.monotonic() > deadline:
                    raise BackendError(f"Ironic node {node_id} never reached {power_state!r}")
                time.sleep(0.05)
        if maintenance:
            self.api.set_node_maintenance(node_id, "enrolled in maintenance")

    def _ready(self, node_id: str | None = None) -> None:
        """Wait for background enrolment of one node (or all) to finish; raise its error."""
        ids = [node_id] if node_id else list(self._pending)
        for nid in ids:
            future = self._pending.pop(nid, None)
            if future is not None:
                future.result()

    def _provision(self, node_id: str, verb: str, expect: str, timeout_s: float = 60) -> None:
        self.api.set_node_provision_state(node_id, verb)
        self._wait(node_id, expect, timeout_s)

    def _wait(self, node_id: str, expect: str | None, timeout_s: float = 60) -> dict:
        """Poll until the node leaves transient states (and is in ``expect``, if given)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rec = self._node(node_id)
            state = rec["provision_state"]
            if state not in _TRANSIENT and (expect is None or state == expect):
                return rec
            if state not in _TRANSIENT and expect is not None:
                raise BackendError(f"Ironic node {node_id} is {state!r}, not {expect!r}: "
                                   f"{rec.get('last_error')}")
            if time.monotonic() > deadline:
                raise BackendError(f"Ironic node {node_id} still {state!r} after "
                                   f"{timeout_s:.0f}s")
            time.sleep(0.05)

    def _remove(self, node_uuid: str) -> None:
        self.api.delete_node(node_uuid, ignore_missing=True)

    def _set(self, node_uuid: str, **fields) -> None:
        """``driver``: real Ironic here runs fake-hardware only; the hardware type the
        simulator labels a node with is kept in ``extra``.
        """
        if "maintenance" in fields:
            reason = fields.pop("maintenance_reason", None)
            if fields.pop("maintenance"):
                self.api.set_node_maintenance(node_uuid, reason)
            else:
                self.api.unset_node_maintenance(node_uuid)
        fields.pop("maintenance_reason", None)
        if "traits" in fields:
            self.api.set_node_traits(node_uuid, list(fields.pop("traits")))
        if "power_state" in fields:
            self.api.set_node_power_state(node_uuid, fields.pop("power_state"))
        if "driver" in fields:
            fields.setdefault("extra", {})["hardware_type"] = fields.pop("driver")
        patch = []
        for key, value in fields.items():
            if key not in _PATCHABLE:
                raise ValueError(f"real Ironic does not let an operator set {key!r}")
            patch.append({"op": "replace" if value is not None else "remove",
                          "path": f"/{key}", **({"value": value} if value is not None else {})})
        if patch:
            self.api.patch_node(node_uuid, patch)

    def _node(self, node_uuid: str) -> dict[str, Any]:
        resp = self.api.get(f"/nodes/{node_uuid}", microversion=API_VERSION)
        if resp.status_code == 404:
            from openstack import exceptions as sdk_exc

            raise sdk_exc.NotFoundException(f"Node {node_uuid} could not be found.")
        resp.raise_for_status()
        return resp.json()

    def _uuids(self) -> list[str]:
        return [n.id for n in self.api.nodes(fields=["uuid"])]

    def _settle(self, timeout_s: float = 120) -> None:
        for node_id in self._uuids():
            self._wait(node_id, None, timeout_s)

    def _purge(self) -> None:
        for node_id in self._uuids():
            self.api.set_node_maintenance(node_id, "scenario finished")
            self.api.delete_node(node_id, ignore_missing=True)

    def _op(self, fn, *args, **kwargs):
        if threading.current_thread().name.startswith(SERVER_THREAD_PREFIX):
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    def enroll(self, **fields) -> str:
        """Create a fake-hardware node; manage, provide (real cleaning) and power it off
        in the background (``settle`` waits). Takes the simulator's keyword arguments."""
        return self._op(self._enroll, **fields)

    def remove(self, node_uuid: str) -> None:
        """Delete the node (Ironic refuses active nodes outside maintenance, as it should)."""
        self._ready(node_uuid)
        self._op(self._remove, node_uuid)

    def set(self, node_uuid: str, **fields) -> None:
        """Operator actions: maintenance, traits, power, node fields (by PATCH)."""
        self._ready(node_uuid)
        self._op(self._set, node_uuid, **fields)

    def node(self, node_uuid: str) -> dict[str, Any]:
        """The node as Ironic's API shows it (Ironic field names; passwords masked)."""
        return self._op(self._node, node_uuid)

    def uuids(self) -> list[str]:
        return self._op(self._uuids)

    def settle(self, timeout_s: float = 120) -> None:
        """Wait until enrolments are done and no node is in a transient provision state."""
        self._ready()
        self._op(self._settle, timeout_s)

    def purge(self) -> None:
        """Delete every node (maintenance first: Ironic deletes active nodes only so)."""
        self.settle()
        self._op(self._purge)
        self._pool.shutdown()

    # -- failures ------------------------------------------------------------

    def fail_next_deploy(self, node_uuid: str, last_error: str = "") -> None:
        """Make Ironic refuse the next deployment: Glance answers its image lookup 404."""
        self.glance.fail_next_lookup()

    def hold(self, node_uuid: str) -> None:
        """Real Ironic's fake cleaning takes ~0.1 s: nothing to hold (see docs/target.md)."""

    def release(self, node_uuid: str) -> None:
        """See ``hold``."""

    def inject(self, fault) -> None:
        """Arm a simulator ``Fault`` as the equivalent HTTP fault on the proxy."""
        from scenarios.fault_proxy import http_fault

        self.proxy.faults.arm(http_fault(fault))

    def clear_faults(self) -> None:
        self.proxy.faults.clear()
