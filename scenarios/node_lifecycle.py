"""Node lifecycle: cleaning after delete, maintenance, node deleted and re-enrolled, restarts, upgrades."""

from __future__ import annotations

import threading

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["node_lifecycle"]


def _monitors(run: Run, names: list[str]) -> None:
    """Configure ``[DEFAULT] compute_monitors`` and reload the trackers' monitors."""
    from nova.compute import monitors

    run.cluster.env.conf.set_override("compute_monitors", names)
    try:
        for compute in run.computes:
            compute.rt.monitors = monitors.MonitorHandler(compute.rt).monitors
    finally:
        run.cluster.env.conf.clear_override("compute_monitors")


def _stale_migrations(run: Run, node: str, instance, flavor) -> None:
    """Migration records a crash left 'migrating': one whose instance is deleted (nova
    soft-deletes), one whose instance row is gone altogether, one for an instance that is
    not moving. nova filters such records defensively; drive that code. A database server
    refuses the row-less one (foreign key to ``instances``); SQLite does not check it."""
    import uuid as uuidlib

    from nova import objects
    from oslo_db import exception as db_exc

    def new_uuid() -> str:
        return str(uuidlib.UUID(int=run.rng.getrandbits(128), version=4))

    deleted = run.ops.create_instance(flavor)
    deleted.destroy()
    compute_id = objects.ComputeNode.get_by_uuid(run.ops.ctx, node).id
    for instance_uuid in (deleted.uuid, new_uuid(), instance.uuid):
        try:
            objects.Migration(
                context=run.ops.ctx, uuid=new_uuid(), source_compute=instance.host,
                dest_compute=instance.host, source_node=node, dest_node=node,
                dest_compute_id=compute_id,
                instance_uuid=instance_uuid, status="migrating", migration_type="evacuation",
            ).create()
        except db_exc.DBReferenceError:
            run.count("stale-migration-refused-by-foreign-key")


def _legacy_records(run: Run, instances) -> None:
    """Data an upgrade leaves: instances without (or with a wrong) compute_id."""
    if instances:
        instances[0].compute_id = None
        instances[0].save()
    if len(instances) > 1:
        instances[1].compute_id = instances[1].compute_id + 100000
        instances[1].save()


@scenario("node-lifecycle",
          "cleaning after delete, maintenance on/off, node deleted in Ironic and re-enrolled, "
          "service restart and re-registration, upgrade leftovers",
          hosts=1, nodes=6, workers=2)
def node_lifecycle(run: Run) -> None:
    from nova import objects

    from scenarios.operations import Boot

    ironic = run.cluster.ironic
    nodes, flavor = start_fleet(run)
    compute = run.computes[0]
    boots = [run.ops.boot(flavor) for _ in range(3)]
    active = [b for b in boots if b.outcome == "active"]
    run.count("boot-active", len(active))

    # Scheduled but not yet on the host: the periodic sees the allocation first.
    pending = Boot(run.ops.create_instance(flavor))
    try:
        pending_compute, pending_node = run.ops.schedule(pending.instance)
    except Exception as exc:  # noqa: BLE001 - no capacity left
        run.count(f"pending-skipped-{type(exc).__name__}")
    else:
        run.periodic()
        run.ops.build(pending, pending_compute, pending_node)
        if pending.outcome == "active":
            active.append(pending)

    # Delete an instance while a periodic runs; its node goes through automated
    # cleaning and stays there a while.
    if active:
        victim = active.pop()
        ticker = threading.Thread(target=run.periodic, name="periodic")
        ticker.start()
        run.ops.delete(victim)
        ticker.join()
        ironic.hold(victim.node)
        run.periodic()
        run.checkpoint("while-cleaning")
        ironic.release(victim.node)
        ironic.settle()

    # Maintenance on a free node and on a node with an instance, then off again.
    free = [n for n in nodes if ironic.node(n)["instance_uuid"] is None]
    busy = [b.node for b in active]
    for node in free[:1] + busy[:1]:
        ironic.set(node, maintenance=True, maintenance_reason="disk replacement")
    run.periodic()
    run.checkpoint("in-maintenance")
    for node in free[:1] + busy[:1]:
        ironic.set(node, maintenance=False, maintenance_reason=None)

    # A free node is deleted from Ironic: nova's periodic deletes the orphan
    # compute node and its provider; then it is enrolled again with the same uuid.
    gone = free[-1]
    record = ironic.node(gone)
    ironic.remove(gone)
    run.periodic()
    run.checkpoint("node-deleted")
    ironic.enroll(uuid=gone, resource_class=record["resource_class"],
                  driver_info=record["driver_info"])
    run.periodic()
    run.checkpoint("node-re-enrolled")

    # Upgrade leftovers, then a restart (fresh tracker) and a re-registration.
    _legacy_records(run, [b.instance for b in active])
    live = [b for b in active if b.outcome == "active"]
    if live:
        _stale_migrations(run, live[0].node, live[0].instance, flavor)
    _monitors(run, ["cpu.virt_driver"])
    run.periodic()
    _monitors(run, [])
    ctx = run.cluster.env.admin_context()
    cn = objects.ComputeNode.get_by_uuid(ctx, nodes[0])
    cn.service_id = None
    cn.save()
    compute.restart()
    run.periodic(startup=True)
    run.periodic()
    # The operator deletes the service record while the process still runs, then it re-registers.
    compute.service.destroy()
    run.tolerant_periodic()
    compute.restart(new_service=True)
    run.periodic(startup=True)
    run.periodic()
    run.checkpoint("end")
