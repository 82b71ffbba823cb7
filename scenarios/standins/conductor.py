"""A nova-conductor and scheduler stand-in: where builds are placed and rescheduled.

nova's compute manager calls the conductor through ``compute_task_api``
(``build_instances`` when a build fails and must be rescheduled). This
stand-in answers that call the way ``ComputeTaskManager.build_instances``
does: it counts the attempt with nova's own ``populate_retry`` (``[scheduler]
max_attempts``), asks the scheduler for another node, and casts
``build_and_run_instance`` to the chosen host; when the attempts are used up
it puts the instance in ERROR with nova's ``set_vm_state_and_notify``.

The scheduler part picks among placement's allocation candidates at random
and claims the allocation in placement (placement's generation check makes
concurrent schedulers retry), as nova's scheduler does minus its filters and
weighers. A "cast" is a direct call of the target manager's RPC method:
``build_and_run_instance`` then spawns the build on nova's own executor and
returns, as it does behind a real RPC server; ``wait`` blocks until every
build task the managers recorded for an instance has ended.
"""

from __future__ import annotations

import random
import threading
import time

from scenarios.framework import PerThreadRandom
from scenarios.standins.images import IMAGE

__all__ = ["Conductor", "NoValidHost", "BuildTimeout", "build_request"]


class NoValidHost(Exception):
    """The scheduler found no provider with free capacity."""


class BuildTimeout(RuntimeError):
    """A build task did not end in time (reported, never waited on forever)."""


def build_request(admin_password: str | None = None) -> dict:
    """The arguments the conductor casts with, besides instance, node and retry.

    ``--nic none``: baremetal instances here get no port, so nova allocates
    no network (it still asks neutron on clean-up and delete).
    """
    from nova import objects

    return dict(image=dict(IMAGE), request_spec=None, accel_uuids=[], admin_password=admin_password,
                injected_files=[], security_groups=[],
                requested_networks=objects.NetworkRequestList(
                    objects=[objects.NetworkRequest(network_id="none")]),
                block_device_mapping=objects.BlockDeviceMappingList(objects=[]))


class Conductor:
    """The conductor and scheduler of one ``Cluster`` (given to each manager as ``compute_task_api``)."""

    def __init__(self, cluster, hosts: list[str], seed: int):
        from nova.scheduler.client import report

        self.cluster = cluster
        # The scheduler's choices depend on the run's seed only (not on host names), so a
        # sequence of operations replays the same on a fresh cluster, and are drawn per
        # calling thread (not in the order threads interleave); instance uuids must
        # differ between clusters (they share one DB), so they also depend on the hosts.
        self.rng = PerThreadRandom(f"{seed}:scheduler")
        self.uuids = random.Random(f"{','.join(hosts)}:{seed}:instances")
        # The scheduler's own placement client (not the computes').
        self.placement = report.SchedulerReportClient()
        self.attempts: dict[str, list[str]] = {}  # instance uuid -> nodes tried, in order
        self._lock = threading.Lock()

    # -- scheduler -------------------------------------------------------------------

    def schedule(self, ctx, inst, attempts: int = 8, exclude_host: str | None = None,
                 exclude_nodes=()):
        """Pick a provider from placement's allocation candidates and claim it: ``(compute, node)``."""
        from nova import objects
        from scenarios.operations import PROJECT, USER

        rc = next(k.split(":", 1)[1] for k in inst.flavor.extra_specs
                  if k.startswith("resources:CUSTOM_"))
        for _ in range(attempts):
            resp = self.placement.get(f"/allocation_candidates?resources={rc}:1", version="1.36")
            mine = set(self.cluster.ironic.uuids())  # other clusters share this placement
            requests = [r for r in (resp.json().get("allocation_requests", []) if resp else [])
                        if next(iter(r["allocations"])) in mine
                        and next(iter(r["allocations"])) not in exclude_nodes]
            if exclude_host is not None:
                requests = [r for r in requests if self._host_of(ctx, next(iter(r["allocations"])))
                            not in (exclude_host, None)]
            if not requests:
                raise NoValidHost(f"no {rc} capacity for {inst.uuid}")
            alloc_req = self.rng.choice(requests)
            rp_uuid = next(iter(alloc_req["allocations"]))
            if self.placement.claim_resources(ctx, inst.uuid, alloc_req, PROJECT, USER,
                                              allocation_request_version="1.36"):
                cn = objects.ComputeNode.get_by_uuid(ctx, rp_uuid)
                return self.cluster.computes[cn.host], cn.hypervisor_hostname
        raise NoValidHost(f"placement kept rejecting claims for {inst.uuid}")

    @staticmethod
    def _host_of(ctx, rp_uuid: str) -> str | None:
        from nova import exception, objects

        try:
            return objects.ComputeNode.get_by_uuid(ctx, rp_uuid).host
        except exception.NotFound:
            return None

    # -- conductor -------------------------------------------------------------------

    def cast_build(self, ctx, inst, compute, node: str, filter_properties: dict,
                   request: dict) -> None:
        """Cast ``build_and_run_instance`` to ``compute`` for ``node`` (the conductor's last step)."""
        from nova.scheduler import utils as scheduler_utils

        scheduler_utils._add_retry_host(filter_properties, compute.host, node)
        with self._lock:
            self.attempts.setdefault(inst.uuid, []).append(node)
        # The RPC layer hands the compute its own copy of the instance.
        compute.manager.build_and_run_instance(
            ctx, inst.obj_clone(), request["image"], request["request_spec"], filter_properties,
            request["accel_uuids"], request["admin_password"], request["injected_files"],
            request["requested_networks"], request["security_groups"],
            request["block_device_mapping"], node=node, limits=None, host_list=[])

    def build_instances(self, context, instances, image, filter_properties, admin_password,
                        injected_files, requested_networks, security_groups,
                        block_device_mapping, legacy_bdm=True, request_spec=None,
                        host_lists=None):
        """The reschedule nova's compute asks for after a failed build attempt."""
        from nova import exception
        from nova.compute import vm_states
        from nova.scheduler import utils as scheduler_utils

        request = dict(image=image, request_spec=request_spec, accel_uuids=[],
                       admin_password=admin_password, injected_files=injected_files,
                       security_groups=security_groups, requested_networks=requested_networks,
                       block_device_mapping=block_device_mapping)
        for inst in instances:
            tried = {node for _, node in filter_properties.get("retry", {}).get("hosts", [])}
            try:
                scheduler_utils.populate_retry(filter_properties, inst.uuid)
                compute, node = self.schedule(context, inst, exclude_nodes=tried)
            except (exception.MaxRetriesExceeded, NoValidHost) as exc:
                scheduler_utils.set_vm_state_and_notify(
                    context, inst.uuid, "compute_task", "build_instances",
                    {"vm_state": vm_states.ERROR, "task_state": None}, exc, request_spec)
                continue
            self.cast_build(context, inst, compute, node, filter_properties, request)

    def wait(self, instance_uuid: str, timeout_s: float = 120.0) -> None:
        """Block until no manager of the cluster has a task in progress for the instance.

        A reschedule records the next host's task before the failed one ends,
        so one pass that finds no task means the build is over.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            busy = [c.manager for c in self.cluster.computes.values()
                    if _has_task(c.manager, instance_uuid)]
            if not busy:
                return
            for manager in busy:
                with manager._in_progress_task_cond:
                    while _has_task(manager, instance_uuid):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise BuildTimeout(f"the build of {instance_uuid} did not end in "
                                               f"{timeout_s:.0f} s")
                        manager._in_progress_task_cond.wait(min(left, 0.05))


def _has_task(manager, instance_uuid: str) -> bool:
    """Whether nova's manager has recorded a task for the instance that has not ended."""
    return any(t["instance_uuid"] == instance_uuid for t in list(manager._in_progress_tasks.values()))
