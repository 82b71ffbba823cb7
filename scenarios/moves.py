"""Rebuild and evacuate: the API's and conductor's part, then nova's ``ComputeManager.rebuild_instance``."""

from __future__ import annotations

from typing import Callable

from nova import objects
from nova.compute import task_states

from scenarios.environment import Compute
from scenarios.operations import Boot, NoValidHost, Operations

__all__ = ["rebuild", "evacuate"]


def _cast_rebuild(ops: Operations, compute: Compute, boot: Boot, *, evacuate: bool,
                  admin_password=None, migration=None, scheduled_node=None) -> str:
    """Cast ``rebuild_instance`` as the conductor does; ``rebuilt`` or ``failed: <exception>``.

    A rebuild names the instance's own image (nova reads it through the image
    stand-in); an evacuation names none (nova uses the instance's image meta).
    """
    inst = boot.instance
    bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(ops.ctx, inst.uuid)
    try:
        compute.manager.rebuild_instance(
            ops.ctx, inst.obj_clone(), orig_image_ref=inst.image_ref,
            image_ref=None if evacuate else inst.image_ref,
            injected_files=[], new_pass=admin_password,
            orig_sys_metadata=dict(inst.system_metadata), bdms=bdms, recreate=evacuate,
            on_shared_storage=False, preserve_ephemeral=False, migration=migration,
            scheduled_node=scheduled_node, limits={}, request_spec=None, accel_uuids=[],
            reimage_boot_volume=False, target_state=None)
    except Exception as exc:  # noqa: BLE001 - an RPC cast's error stays on the compute
        ops.refresh(boot)
        return f"failed: {type(exc).__name__}"
    ops.refresh(boot)
    return "rebuilt" if boot.outcome == "active" else f"failed: {boot.outcome}"


def rebuild(ops: Operations, boot: Boot, fail: bool = False,
            admin_password: str | None = None) -> str:
    """Rebuild on the same host with the same image; ``fail`` makes Ironic's deploy fail.

    Returns ``rebuilt`` or ``failed: <exception>``.
    """
    inst = boot.instance
    inst.task_state = task_states.REBUILDING   # the API's part
    inst.save()
    ops.record_action(inst, "rebuild")
    if fail:
        ops.cluster.ironic.fail_next_deploy(inst.node, "Rebuild failed: deploy step timed out")
    return _cast_rebuild(ops, ops.cluster.computes[boot.host], boot, evacuate=False,
                         admin_password=admin_password)


def evacuate(ops: Operations, boot: Boot, in_flight: Callable[[], None] | None = None) -> str:
    """Evacuate ``boot`` from its (down) host: the API, the scheduler, then nova's manager.

    The API records an evacuation Migration and sets REBUILDING; the scheduler
    claims a node on another host; the conductor records the destination on
    the migration and casts ``rebuild_instance(recreate=True)`` to that host.
    Returns ``evacuated``, ``no-valid-host`` or ``failed: <exception>``.
    ``in_flight()`` runs once the API accepted the evacuation, before the
    scheduler (e.g. a periodic on the source host).
    """
    inst = boot.instance
    migration = objects.Migration(
        context=ops.ctx.elevated(), source_compute=inst.host, source_node=inst.node,
        instance_uuid=inst.uuid, status="accepted", migration_type="evacuation")
    migration.create()
    inst.task_state = task_states.REBUILDING
    inst.save()
    ops.record_action(inst, "evacuate")
    if in_flight is not None:
        in_flight()
    try:
        dest, node = ops.schedule(inst, exclude_host=boot.host)
    except NoValidHost:
        migration.status = "error"
        migration.save()
        inst.task_state = None
        inst.save()
        return "no-valid-host"
    migration.dest_compute, migration.dest_node = dest.host, node
    migration.dest_compute_id = objects.ComputeNode.get_by_uuid(ops.ctx, node).id
    migration.save()
    outcome = _cast_rebuild(ops, dest, boot, evacuate=True, migration=migration,
                            scheduled_node=node)
    return "evacuated" if outcome == "rebuilt" else outcome
