"""The stack's workload, through nova's real RPC path into the traced computes.

This process plays nova-api and the conductor's last step after scheduling:
it writes the instance record (nova's objects, the cell database), claims the
node's allocation in placement as the scheduler does, and casts
``build_and_run_instance`` / ``terminate_instance`` with nova's own
``nova.compute.rpcapi.ComputeAPI`` over RabbitMQ. nova-api and nova-scheduler
are not run: both need keystone for their own API (or noauth plus a request
layer this process would play anyway) and the scheduler adds only its filter
choice, which is not what is audited. Every step waits on observable state
(placement providers and allocations, Ironic provision states, the instance
and compute node records), never on a sleep alone.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from types import SimpleNamespace
from typing import Callable

from scenarios.backends.process import BackendError
from scenarios.stack.services import Stack, compute_host

__all__ = ["Workload", "StepTimeout"]

RESOURCE_CLASS = "CUSTOM_BAREMETAL"
#: A trait no node has; a build whose image requires it fails in Ironic's deploy validation.
MISSING_TRAIT = "CUSTOM_AUDITOR_NOT_ON_ANY_NODE"


class StepTimeout(BackendError):
    """A step's observable state never came (one line: what, and which log to read)."""


class Workload:
    """Steps over a started ``Stack``; ``run`` does them all."""

    def __init__(self, stack: Stack, say: Callable[[str], None], timeout_s: float = 180.0):
        """``say``: told each step's outcome as it happens."""
        import nova.config
        from nova import context, objects
        from nova.compute import rpcapi
        from nova.scheduler.client import report
        from scenarios.operations import PROJECT, USER, Operations

        objects.register_all()
        nova.config.parse_args(["auditor-stack"], default_config_files=[stack.driver_conf])
        self.stack, self.timeout_s = stack, timeout_s
        self.ctx = context.RequestContext(user_id=USER, project_id=PROJECT, is_admin=True)
        self.rpc = rpcapi.ComputeAPI()
        self.placement = report.SchedulerReportClient()
        # nova-api's part (flavor, instance record, instance actions), as scenarios play it
        self.api = Operations(SimpleNamespace(conductor=SimpleNamespace(
            uuids=random.Random(stack.workdir))))
        self.api.ctx = self.ctx
        self.flavor = self.api.flavor("baremetal")
        self._say = say

    # -- observing -----------------------------------------------------------

    def wait(self, what: str, done: Callable[[], bool], log: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise StepTimeout(f"{what}: not within {self.timeout_s:.0f}s; see {log}")
            time.sleep(0.5)

    def providers(self) -> set[str]:
        resp = self.placement.get(f"/resource_providers?resources={RESOURCE_CLASS}:1",
                                  version="1.36")
        return {rp["uuid"] for rp in resp.json()["resource_providers"]} if resp else set()

    def allocations(self, consumer: str) -> dict:
        return self.placement.get(f"/allocations/{consumer}", version="1.28").json()[
            "allocations"]

    def nodes_by_host(self) -> dict[str, str]:
        """Compute node records: node uuid -> host."""
        from nova import objects

        return {cn.uuid: cn.host for cn in objects.ComputeNodeList.get_all(self.ctx)}

    def instance(self, uuid: str):
        from nova import exception, objects

        try:
            return objects.Instance.get_by_uuid(self.ctx, uuid)
        except exception.InstanceNotFound:
            return None

    def _log(self, what: str) -> None:
        self._say(what)

    # -- steps ---------------------------------------------------------------

    def wait_for_nodes(self, count: int, hosts: set[str]) -> None:
        """Until ``count`` nodes have providers and records, all on ``hosts``."""
        self.wait(f"{count} nodes reported to placement by {sorted(hosts)}",
                  lambda: len(self.providers()) == count and
                  set(self.nodes_by_host().values()) <= hosts and
                  len(self.nodes_by_host()) == count, self.stack.log(compute_host(1)))
        self._log(f"{count} nodes in placement, hosts {sorted(hosts)}")


    def free_node(self, exclude=()) -> tuple[str, str]:
        """A node with free capacity (not in ``exclude``) and the compute that owns it."""
        free = self.providers() - set(exclude)
        owned = [(n, h) for n, h in sorted(self.nodes_by_host().items()) if n in free]
        if not owned:
            raise BackendError("workload: no node with free capacity left")
        return owned[0]

    def build(self, node: str, host: str, fail: bool = False) -> str:
        """Cast a build for ``node`` on ``host``; wait for ACTIVE (or ERROR when ``fail``)."""
        from nova.compute import vm_states
        from scenarios.operations import PROJECT, USER
        from scenarios.standins.conductor import build_request

        inst = self.api.create_instance(self.flavor)
        alloc = {"allocations": {node: {"resources": {RESOURCE_CLASS: 1}}}}
        if not self.placement.claim_resources(self.ctx, inst.uuid, alloc, PROJECT, USER,
                                              allocation_request_version="1.36"):
            raise BackendError(f"workload: placement refused the claim on node {node}")
        req = build_request()
        if fail:
            # the image asks for a trait the node lacks: Ironic refuses the deployment
            req["image"]["properties"] = {f"trait:{MISSING_TRAIT}": "required"}
        # no retry information: a failed build is not rescheduled (max_attempts = 1)
        self.rpc.build_and_run_instance(
            self.ctx, inst, host, req["image"], None, {}, None, [],
            req["requested_networks"], [], req["block_device_mapping"], node=node,
            limits=None, host_list=[], accel_uuids=[])
        want = vm_states.ERROR if fail else vm_states.ACTIVE
        self.wait(f"build of {inst.uuid} on {host} to end {want}",
                  lambda: self._settled(inst.uuid, want), self.stack.log(host))
        if not fail:
            self.wait(f"Ironic node {node} active", lambda: self.stack.ironic.node(node)[
                "provision_state"] == "active", self.stack.ironic_server.workdir)
        self._log(f"build on {host} node {node}: {want}")
        return inst.uuid

    def _settled(self, uuid: str, vm_state: str) -> bool:
        inst = self.instance(uuid)
        return inst is not None and inst.vm_state == vm_state and inst.task_state is None

    def delete(self, uuid: str, node: str) -> None:
        """The API marks the instance DELETING and casts ``terminate_instance``; wait until
        the record is gone, its allocation freed and Ironic's node available again."""
        from nova import objects
        from nova.compute import task_states

        inst = objects.Instance.get_by_uuid(self.ctx, uuid)
        inst.task_state = task_states.DELETING
        inst.save()
        self.api.record_action(inst, "delete")
        bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(self.ctx, uuid)
        self.rpc.terminate_instance(self.ctx, inst, bdms)
        self.wait(f"delete of {uuid}", lambda: self.instance(uuid) is None and
                  not self.allocations(uuid), self.stack.log(inst.host))
        self.wait(f"Ironic node {node} available after delete", lambda: self.stack.ironic.node(
            node)["provision_state"] == "available", self.stack.ironic_server.workdir)
        self._log(f"delete of {uuid}: record gone, allocation freed, node available")

    def remove_node(self, node: str) -> None:
        """Delete a node from Ironic; wait for the periodic to drop its record and provider."""
        self.stack.ironic.remove(node)
        self.wait(f"node {node} removed from nova", lambda: node not in self.providers() and
                  node not in self.nodes_by_host(), self.stack.log(compute_host(1)))
        self._log(f"node {node} removed from Ironic: provider and record gone")

    def stop_compute(self, i: int, count: int) -> None:
        """SIGTERM one compute; wait until the hash ring gives its nodes to the others."""
        host = compute_host(i)
        self.stack.stop_service(host)
        others = {compute_host(j) for j in range(1, self.stack.computes + 1) if j != i}
        self.wait(f"nodes of {host} rebalanced to {sorted(others)}",
                  lambda: set(self.nodes_by_host().values()) <= others and
                  len(self.nodes_by_host()) == count and len(self.providers()) == count,
                  self.stack.log(min(others)))
        self._log(f"{host} stopped (SIGTERM): its nodes rebalanced to {sorted(others)}")

    def run(self) -> None:
        """Build, failed deploy, delete, node removed, compute stopped (needs 2 computes)."""
        n = self.stack.nodes
        hosts = {compute_host(i) for i in range(1, self.stack.computes + 1)}
        self.wait_for_nodes(n, hosts)
        node, host = self.free_node()
        uuid = self.build(node, host)
        self.build(*self.free_node(exclude=[node]), fail=True)
        self.delete(uuid, node)
        self.remove_node(self.free_node()[0])
        if self.stack.computes > 1:
            self.stop_compute(self.stack.computes, n - 1)
