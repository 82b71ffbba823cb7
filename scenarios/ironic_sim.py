"""An in-memory Ironic that answers the openstacksdk baremetal calls of nova's Ironic driver.

It hands out real ``openstack.baremetal.v1.node.Node`` objects, honours the
``fields`` filter the way the Ironic API does (so ``driver_info`` only leaves
the simulator when asked for), raises the exceptions openstacksdk raises, and
walks nodes through Ironic's provision-state machine. Transient states
(deploying, deleting, cleaning) advance one step each time the node is read,
so the driver's own polling loops drive them. Like Ironic's API, it masks
password-like ``driver_info`` values as ``'******'`` in what it returns
(``FakeIronic(mask_passwords=False)`` hands them out in clear, which no
real Ironic does).

Node lists filter as Ironic 39's ``GET /v1/nodes`` does for the filters nova
sends (``IronicDriver._refresh_cache``: ``conductor_group`` from API 1.46,
``shard`` from 1.82, ``fields``; ``_validate_instance_and_node`` asks by
``instance_id``):

- ``shard`` is a list (a comma-separated string or a list); each value is
  stripped and lower-cased (``ironic.common.args.string_list``) and matched
  against the node's ``shard`` as stored, which Ironic does not lower-case. On
  SQLite (checked with Ironic 39) and PostgreSQL that comparison is
  case-sensitive, so a node in shard ``RackA`` is listed by no ``shard=RackA``
  query; MySQL's default collation would match it. The simulator compares
  case-sensitively.
- ``conductor_group`` is matched exactly (case-sensitively on SQLite and
  PostgreSQL); Ironic lower-cases a node's group when it is stored
  (``Node._validate_and_format_conductor_group``), and so do ``enroll`` and
  ``set`` here. So ``conductor_group=Rack-1`` lists none of group ``rack-1``'s
  nodes, although nova documents its option as case-insensitive.
- ``sharded`` (true: nodes with a shard; false: without).
- Differences: child nodes (``parent_node``) are not modelled, so the default
  exclusion of child nodes from lists does not arise; a conductor group needs no
  conductor here (real Ironic refuses a group no conductor serves, and at
  creation also a mixed-case spelling of one it serves, which a PATCH
  accepts); the API always answers as version ``MAX_VERSION`` (no microversion negotiation, so
  an old Ironic without shards or groups cannot be simulated).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import random
import threading
import time
import uuid as uuidlib
from collections import Counter
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import jsonpatch
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc
from openstack.baremetal.v1.node import Node, ValidationResult
from oslo_utils import strutils

__all__ = ["FakeIronic", "Fault", "FAULT_KINDS", "MASK", "MAX_VERSION", "MODELLED_VERSION",
           "node_properties"]

# Ironic API field name -> openstacksdk attribute name, where they differ.
_SDK_NAMES = {"uuid": "id", "instance_uuid": "instance_id", "maintenance": "is_maintenance"}
_IRONIC_NAMES = {v: k for k, v in _SDK_NAMES.items()}

# (state, target) -> state reached on the next read. Mirrors ironic's state machine.
_NEXT_STATE = {
    "deploying": "active",
    "wait call-back": "active",
    "deleting": "cleaning",
    "cleaning": "available",
    "clean wait": "available",
    "verifying": "manageable",
}

# set_node_provision_state verbs: allowed source states -> resulting state.
_VERBS = {
    "manage": ({"enroll", "available", "clean failed"}, "verifying"),
    "provide": ({"manageable"}, "cleaning"),
    "active": ({"available"}, "deploying"),
    "rebuild": ({"active", "deploy failed", "error"}, "deploying"),
    "deleted": ({"active", "deploy failed", "error", "wait call-back", "deploying"}, "deleting"),
    "clean": ({"manageable"}, "cleaning"),
}

#: The Ironic release whose API the simulator models (the report's target names it).
MODELLED_VERSION = "39.0.0"

#: The highest API microversion Ironic 39 serves (the simulator's endpoint data says so).
MAX_VERSION = "1.115"

#: What Ironic's API shows in place of a password-like driver_info value.
MASK = "******"

# States from which Ironic's API lets an operator delete a node.
_DELETABLE = {"available", "manageable", "enroll", "adopt failed"}

FAULT_KINDS = ("unavailable", "timeout", "server-error", "vanish", "conflict")


@dataclasses.dataclass
class Fault:
    """A fault to inject: ``kind`` on calls to ``methods`` (all if empty), ``times`` times
    (``None``: every call until ``clear_faults``, an outage)."""

    kind: str
    methods: tuple[str, ...] = ()
    times: int | None = 1
    node: str | None = None
    delay_s: float = 0.0

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")


def node_properties(cpus: Any = 8, memory_mb: Any = 16384, local_gb: Any = 100,
                    cpu_arch: str = "x86_64", capabilities: str | None = "boot_mode:uefi",
                    properties: dict | None = None) -> dict:
    """A node's ``properties`` as scenarios describe hardware (``properties`` wins whole)."""
    if properties is not None:
        return properties
    props = {"cpus": cpus, "memory_mb": memory_mb, "local_gb": local_gb, "cpu_arch": cpu_arch}
    if capabilities is not None:
        props["capabilities"] = capabilities
    return props


def _shard_list(value) -> list[str] | None:
    """The ``shard`` filter as Ironic's API reads it (``args.string_list``): split, lower-cased."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return list(dict.fromkeys(v.strip().lower() for v in items if v.strip()))


def _http_error(cls, status: int, message: str):
    return cls(message=message, http_status=status)


class FakeIronic:
    """The simulator: give it to ``IronicDriver`` as ``_ironic_connection``."""

    def __init__(self, seed: int | str = 0, mask_passwords: bool = True):
        self.mask_passwords = mask_passwords
        self._nodes: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self.rng = random.Random(seed)
        self.calls: Counter[str] = Counter()
        self.latency_s = 0.0
        self._deploy_failures: dict[str, str] = {}
        self._held: set[str] = set()
        self._before: dict[tuple[str, str], Callable[[], None]] = {}

    # -- inventory management (used by scenarios, not by the driver) --------

    def enroll(self, *, uuid: str | None = None, name: str | None = None,
               resource_class: str | None = "baremetal", cpus: Any = 8,
               memory_mb: Any = 16384, local_gb: Any = 100, cpu_arch: str = "x86_64",
               capabilities: str | None = "boot_mode:uefi", traits=(),
               provision_state: str = "available", power_state: str = "power off",
               maintenance: bool = False, conductor_group: str = "", shard: str | None = None,
               driver_info: dict | None = None, properties: dict | None = None,
               last_error: str | None = None) -> str:
        """Add a node (already provided, unless ``provision_state`` says otherwise)."""
        node_uuid = uuid or str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
        props = node_properties(cpus, memory_mb, local_gb, cpu_arch, capabilities, properties)
        with self._lock:
            self._nodes[node_uuid] = {
                "uuid": node_uuid, "name": name or f"bm-{node_uuid[:8]}",
                "provision_state": provision_state, "target_provision_state": None,
                "power_state": power_state, "target_power_state": None,
                "maintenance": maintenance, "maintenance_reason": None,
                "instance_uuid": None, "instance_info": {}, "properties": props,
                "resource_class": resource_class, "traits": list(traits),
                "last_error": last_error, "driver": "ipmi",
                "driver_info": dict(driver_info or {}),
                "conductor_group": conductor_group.lower(), "shard": shard, "extra": {},
            }
        return node_uuid

    def remove(self, node_uuid: str) -> None:
        """Delete a node from Ironic (as ``baremetal node delete`` would)."""
        with self._lock:
            self._nodes.pop(node_uuid, None)

    def set(self, node_uuid: str, **fields) -> None:
        """Change Ironic-side fields of a node (operator or conductor actions)."""
        if fields.get("conductor_group"):
            fields["conductor_group"] = fields["conductor_group"].lower()
        with self._lock:
            self._nodes[node_uuid].update(fields)

    def node(self, node_uuid: str) -> dict[str, Any]:
        """A copy of the raw node record (all fields, Ironic names)."""
        with self._lock:
            return copy.deepcopy(self._nodes[node_uuid])

    def uuids(self) -> list[str]:
        with self._lock:
            return list(self._nodes)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fail_next_deploy(self, node_uuid: str,
                         last_error: str = "Deploy step deploy.deploy failed: IPMI timeout") -> None:
        """Make the node's next deployment end in ``deploy failed`` with ``last_error``."""
        with self._lock:
            self._deploy_failures[node_uuid] = last_error

    def before(self, method: str, node_uuid: str, action: Callable[[], None]) -> None:
        """Run ``action()`` once, in the caller's thread, before answering ``method`` for the node.

        Lets a scenario interleave work at a point inside nova's flows (e.g. a
        periodic just before the driver reserves the node) without touching nova.
        """
        with self._lock:
            self._before[(method, node_uuid)] = action

    def hold(self, node_uuid: str) -> None:
        """Keep the node in its current (transient) state until ``release``: a slow clean."""
        with self._lock:
            self._held.add(node_uuid)

    def release(self, node_uuid: str) -> None:
        with self._lock:
            self._held.discard(node_uuid)

    def settle(self) -> None:
        """Advance every node until no transient state is left."""
        with self._lock:
            for rec in self._nodes.values():
                while rec["provision_state"] in _NEXT_STATE and rec["uuid"] not in self._held:
                    self._advance(rec)

    # -- internals ------------------------------------------------------------

    def _call(self, method: str, node_id: str | None = None) -> None:
        self.calls[method] += 1
        with self._lock:
            action = self._before.pop((method, node_id), None)
        if action is not None:
            action()
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            for fault in self._faults:
                if fault.methods and method not in fault.methods:
                    continue
                if fault.node and fault.node != node_id:
                    continue
                if fault.kind == "vanish":
                    continue  # handled while iterating nodes()
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                break
            else:
                return
        self._raise(fault, method)

    def _raise(self, fault: Fault, method: str):
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.kind == "unavailable":
            raise _http_error(sdk_exc.HttpException, 503,
                              f"503 Service Unavailable: baremetal API is down ({method})")
        if fault.kind == "timeout":
            # what keystoneauth raises when the request times out (the SDK does not wrap it)
            raise ks_exc.ConnectTimeout(
                f"Request to http://127.0.0.1:6385/v1 timed out ({method})")
        if fault.kind == "server-error":
            raise _http_error(sdk_exc.HttpException, 500,
                              f"500 Internal Server Error from baremetal API ({method})")
        raise _http_error(sdk_exc.ConflictException, 409, f"409 Conflict ({method})")

    def _take_vanish(self, node_id: str) -> bool:
        with self._lock:
            rec = self._nodes.get(node_id)
            if rec is None or rec["provision_state"] not in _DELETABLE or rec["instance_uuid"]:
                return False  # Ironic refuses to delete it (e.g. an active node)
            for fault in self._faults:
                if fault.kind == "vanish" and fault.node in (None, node_id):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    self._nodes.pop(node_id, None)
                    return True
        return False

    @contextlib.contextmanager
    def _node_call(self, method: str, node) -> Iterator[dict[str, Any]]:
        """The record of ``node`` (a ``Node``, or its id or name) under the lock, once
        ``method`` has passed ``_call`` (hooks, latency, faults); 404 if there is none."""
        node_id = getattr(node, "id", node)
        self._call(method, node_id)
        with self._lock:
            yield self._record(node_id)

    def _record(self, ident) -> dict[str, Any]:
        node_id = getattr(ident, "id", ident)
        rec = self._nodes.get(node_id)
        if rec is None:
            for candidate in self._nodes.values():
                if candidate["name"] == node_id:
                    return candidate
            raise _http_error(sdk_exc.NotFoundException, 404, f"Node {node_id} could not be found.")
        return rec

    def _advance(self, rec: dict[str, Any]) -> None:
        state = rec["provision_state"]
        if rec["uuid"] in self._held:
            return
        if state == "deploying" and rec["uuid"] in self._deploy_failures:
            rec["provision_state"], rec["target_provision_state"] = "deploy failed", None
            rec["last_error"] = self._deploy_failures.pop(rec["uuid"])
        elif state in _NEXT_STATE:
            rec["provision_state"] = _NEXT_STATE[state]
            if rec["provision_state"] == "active":
                rec["power_state"] = "power on"
            if rec["provision_state"] in ("available", "manageable", "active"):
                rec["target_provision_state"] = None
            if state == "deleting":
                rec["power_state"] = "power off"

    def _to_node(self, rec: dict[str, Any], fields=None) -> Node:
        names = fields or tuple(rec)
        attrs = {_SDK_NAMES.get(f, f): copy.deepcopy(rec[f]) for f in names if f in rec}
        if self.mask_passwords and attrs.get("driver_info"):
            # as ironic.api.controllers.v1.node's node_sanitize does
            attrs["driver_info"] = strutils.mask_dict_password(attrs["driver_info"], MASK)
        return Node.existing(**attrs)

    # -- the openstacksdk baremetal proxy surface the driver uses -------------

    def nodes(self, details: bool = False, fields=None, **filters) -> Iterator[Node]:
        """List nodes, filtered like ``GET /v1/nodes`` (lazily, like the SDK)."""
        self._call("nodes")
        with self._lock:
            snapshot = list(self._nodes.values())
        fields = tuple(_IRONIC_NAMES.get(f, f) for f in fields) if fields else None
        wanted = {_IRONIC_NAMES.get(k, k): v for k, v in filters.items()}
        shards = _shard_list(wanted.pop("shard", None))
        sharded = wanted.pop("sharded", None)
        for rec in snapshot:
            if any(k in rec and rec[k] != v for k, v in wanted.items()):
                continue
            if shards is not None and rec["shard"] not in shards:
                continue
            if sharded is not None and (rec["shard"] is not None) != bool(sharded):
                continue
            if self._take_vanish(rec["uuid"]):
                continue
            with self._lock:
                if rec["uuid"] not in self._nodes:
                    continue
                self._advance(rec)
                node = self._to_node(rec, fields)
            yield node

    def get_node(self, node, fields=None) -> Node:
        with self._node_call("get_node", node) as rec:
            self._advance(rec)
            return self._to_node(rec, tuple(_IRONIC_NAMES.get(f, f) for f in fields)
                                 if fields else None)

    def update_node(self, node, retry_on_conflict: bool = True, **attrs) -> Node:
        with self._node_call("update_node", node) as rec:
            changes = {_IRONIC_NAMES.get(k, k): v for k, v in attrs.items()}
            new_instance = changes.get("instance_uuid", rec["instance_uuid"])
            if (rec["instance_uuid"] is not None and new_instance is not None
                    and new_instance != rec["instance_uuid"]):
                raise _http_error(
                    sdk_exc.ConflictException, 409,
                    f"Node {getattr(node, 'id', node)} is associated with instance "
                    f"{rec['instance_uuid']}.")
            rec.update(copy.deepcopy(changes))
            return self._to_node(rec)

    def patch_node(self, node, patch, reset_interfaces=None, retry_on_conflict=True) -> Node:
        with self._node_call("patch_node", node) as rec:
            try:
                patched = jsonpatch.apply_patch(rec, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise _http_error(sdk_exc.BadRequestException, 400, f"Invalid patch: {e}")
            rec.clear()
            rec.update(patched)
            return self._to_node(rec)

    def set_node_provision_state(self, node, target, config_drive=None, clean_steps=None,
                                 rescue_password=None, wait=False, timeout=None,
                                 deploy_steps=None, **kwargs) -> Node:
        with self._node_call("set_node_provision_state", node) as rec:
            if target not in _VERBS:
                raise _http_error(sdk_exc.BadRequestException, 400,
                                  f"Unknown provision state target {target!r}")
            sources, result = _VERBS[target]
            if rec["provision_state"] not in sources:
                raise _http_error(
                    sdk_exc.ConflictException, 409,
                    f"The requested action \"{target}\" can not be performed on node "
                    f"\"{getattr(node, 'id', node)}\" while it is in state "
                    f"\"{rec['provision_state']}\".")
            rec["provision_state"] = result
            rec["target_provision_state"] = "available" if target == "deleted" else target
            if target == "deleted":
                rec["instance_uuid"] = None
                rec["instance_info"] = {}
            if config_drive is not None:
                rec["instance_info"]["configdrive"] = "***"
            return self._to_node(rec)

    def set_node_power_state(self, node, target, wait=False, timeout=None) -> None:
        with self._node_call("set_node_power_state", node) as rec:
            state = {"power on": "power on", "power off": "power off", "rebooting": "power on",
                     "soft power off": "power off", "soft rebooting": "power on"}.get(target)
            if state is None:
                raise _http_error(sdk_exc.BadRequestException, 400, f"bad power target {target}")
            rec["power_state"] = state

    def validate_node(self, node, required=("boot", "deploy", "power")) -> dict:
        with self._node_call("validate_node", node):  # 404 for an unknown node
            return {name: ValidationResult(True, None)
                    for name in ("boot", "console", "deploy", "inspect", "management",
                                 "network", "power", "raid", "rescue", "storage")}

    def ports(self, details=False, **filters):
        self._call("ports")
        return iter(())

    def port_groups(self, details=False, **filters):
        self._call("port_groups")
        return iter(())

    def volume_targets(self, details=False, **filters):
        self._call("volume_targets")
        return iter(())

    def volume_connectors(self, details=False, **filters):
        self._call("volume_connectors")
        return iter(())

    def attach_vif_to_node(self, node, vif_id, retry_on_conflict=True):
        self._call("attach_vif_to_node", getattr(node, "id", node))

    def detach_vif_from_node(self, node, vif_id, ignore_missing=True):
        self._call("detach_vif_from_node", getattr(node, "id", node))
        return True

    def get_endpoint(self):
        return "http://127.0.0.1:6385"

    #: like an SDK proxy's: no pinned microversion, the highest both sides speak is used
    default_microversion = None

    def get_endpoint_data(self):
        """What ``openstack.utils.supports_microversion`` reads (nova's ``_can_send_version``)."""
        return SimpleNamespace(min_microversion="1.1", max_microversion=MAX_VERSION)
