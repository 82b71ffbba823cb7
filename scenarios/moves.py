"""Rebuild and evacuate, in the order ``ComputeManager.rebuild_instance`` drives the tracker."""

from __future__ import annotations

from typing import Callable

from nova import exception, objects
from nova.compute import power_state, task_states, vm_states
from nova.network import model as network_model

from scenarios.environment import Compute
from scenarios.operations import IMAGE, Boot, NoValidHost, Operations

__all__ = ["rebuild", "evacuate"]


def _driver_rebuild(ops: Operations, compute: Compute, inst, admin_password, evacuate):
    compute.driver.rebuild(
        ops.ctx, inst, objects.ImageMeta.from_dict(IMAGE), injected_files=[],
        admin_password=admin_password, allocations=None, bdms=[],
        detach_block_devices=None, attach_block_devices=None,
        network_info=network_model.NetworkInfo(), evacuate=evacuate)


def _finish(inst) -> None:
    inst.power_state = power_state.RUNNING
    inst.vm_state, inst.task_state = vm_states.ACTIVE, None
    inst.save(expected_task_state=[task_states.REBUILD_SPAWNING])


def rebuild(ops: Operations, boot: Boot, fail: bool = False,
            admin_password: str | None = None) -> str:
    """Rebuild on the same host: a NopClaim, ``driver.rebuild``, ``rt.finish_evacuation``.

    On failure the manager marks the instance ERROR and (as ``scheduled_node``
    defaults to ``instance.node``) removes the instance's allocation from its node.
    Returns the outcome: ``rebuilt`` or ``failed: <exception>``.
    """
    compute = ops.cluster.computes[boot.host]
    inst = boot.instance
    inst.task_state = task_states.REBUILDING   # the API's part
    inst.save()
    scheduled_node = inst.node
    try:
        if fail:
            ops.cluster.ironic.fail_next_deploy(scheduled_node, "Rebuild failed: deploy step timed out")
        _driver_rebuild(ops, compute, inst, admin_password, evacuate=False)
    except Exception as exc:  # the manager's generic branch
        compute.rt.delete_allocation_for_evacuated_instance(
            ops.ctx, inst, scheduled_node, node_type="destination")
        inst.vm_state, inst.task_state = vm_states.ERROR, None
        inst.save()
        boot.outcome, boot.error = "failed", f"{type(exc).__name__}: {exc}"
        return f"failed: {type(exc).__name__}"
    _finish(inst)
    compute.rt.finish_evacuation(inst, scheduled_node, None)
    return "rebuilt"


def evacuate(ops: Operations, boot: Boot, dest: Compute,
             in_flight: Callable[[], None] | None = None) -> str:
    """Evacuate ``boot`` from its (down) host to ``dest``: the API, scheduler and manager steps.

    The API records an evacuation Migration and sets REBUILDING; the scheduler
    adds an allocation on a node with free capacity; the destination manager
    claims it with ``rt.rebuild_claim``, calls ``driver.rebuild`` and
    ``rt.finish_evacuation``. Returns ``evacuated``, ``no-valid-host`` or
    ``failed: <exception>``. ``in_flight()`` runs once the API accepted the
    evacuation, before the scheduler (e.g. a periodic on the source host).
    """
    inst = boot.instance
    migration = objects.Migration(
        context=ops.ctx.elevated(), source_compute=inst.host, source_node=inst.node,
        instance_uuid=inst.uuid, status="accepted", migration_type="evacuation")
    migration.create()
    inst.task_state = task_states.REBUILDING
    inst.save()
    if in_flight is not None:
        in_flight()
    try:
        _, node, _ = ops.schedule(inst, exclude_host=boot.host)
    except NoValidHost:
        migration.status = "error"
        migration.save()
        inst.task_state = None
        inst.save()
        return "no-valid-host"
    allocs = dest.manager.reportclient.get_allocations_for_consumer(ops.ctx, inst.uuid)
    try:
        with dest.rt.rebuild_claim(ops.ctx, inst, node, allocs, limits=None,
                                   image_meta=objects.ImageMeta.from_dict(IMAGE),
                                   migration=migration):
            _driver_rebuild(ops, dest, inst, None, evacuate=True)
    except Exception as exc:
        migration.status = "failed"
        migration.save()
        try:
            dest.rt.delete_allocation_for_evacuated_instance(
                ops.ctx, inst, node, node_type="destination")
        finally:
            if not isinstance(exc, exception.ComputeResourcesUnavailable):
                inst.vm_state = vm_states.ERROR
            inst.task_state = None
            inst.save()
        return f"failed: {type(exc).__name__}"
    _finish(inst)
    dest.rt.finish_evacuation(inst, node, migration)
    boot.host, boot.node = dest.host, node
    return "evacuated"
