"""Read the cloud's real state (Ironic, nova DB, placement, trackers) into an AccountingSnapshot."""

from __future__ import annotations

from nova import objects

from auditor.events import (
    AccountingSnapshot, InstanceView, NodeUsage, NodeView, Partition, UsageSnapshot, stamp,
)
from scenarios.environment import Cluster

__all__ = ["take_snapshot", "take_usage_snapshot"]



def _placement_view(cluster: Cluster, node_uuid: str) -> tuple[int, int | None, tuple[str, ...]]:
    client = cluster.conductor.placement
    resp = client.get(f"/resource_providers?name={node_uuid}", version="1.14")
    providers = resp.json()["resource_providers"] if resp else []
    if not providers:
        return 0, None, ()
    rp = providers[0]["uuid"]
    inv = client.get(f"/resource_providers/{rp}/inventories", version="1.14").json()
    reserved = sum(i["reserved"] for i in inv.get("inventories", {}).values()) \
        if inv.get("inventories") else None
    allocs = client.get(f"/resource_providers/{rp}/allocations", version="1.14").json()
    return len(providers), reserved, tuple(sorted(allocs.get("allocations", {})))


def take_snapshot(cluster: Cluster, label: str, *, settled: bool = True) -> AccountingSnapshot:
    """Everything the accounting check compares, read from the real services."""
    ctx = cluster.env.admin_context()
    hosts = list(cluster.computes)
    db_nodes: dict[str, list[str]] = {}
    for host in hosts:
        try:
            for cn in objects.ComputeNodeList.get_all_by_host(ctx, host):
                db_nodes.setdefault(cn.hypervisor_hostname, []).append(host)
        except Exception:  # ComputeHostNotFound: no nodes on that host
            continue
    ironic_uuids = set(cluster.ironic.uuids())
    node_uuids = sorted(ironic_uuids | set(db_nodes))
    # a service that is down runs nothing: its in-memory view does not count
    running = {h: c for h, c in cluster.computes.items() if not c.service.forced_down}
    nodes = []
    for uuid in node_uuids:
        rec = cluster.ironic.node(uuid) if uuid in ironic_uuids else None
        providers, reserved, consumers = _placement_view(cluster, uuid)
        nodes.append(NodeView(
            uuid=uuid, in_ironic=rec is not None,
            ironic_instance=rec["instance_uuid"] if rec else None,
            provision_state=rec["provision_state"] if rec else None,
            maintenance=bool(rec and rec["maintenance"]),
            db_records=tuple(sorted(db_nodes.get(uuid, ()))), providers=providers,
            reserved=reserved, consumers=consumers,
            tracked_by=tuple(h for h, c in running.items() if uuid in c.rt.compute_nodes),
            shard=rec.get("shard") if rec else None,
            conductor_group=(rec.get("conductor_group") or "") if rec else "",
            # the report client's cache of what it reported (it has no public reader)
            reported_by=tuple(h for h, c in running.items()
                              if c.rt.reportclient._provider_tree.exists(uuid)),
            managed_by=tuple(h for h, c in running.items()
                             if uuid in c.driver.node_cache)))
    instances = []
    for host in hosts:
        for inst in objects.InstanceList.get_by_host(ctx, host):
            instances.append(InstanceView(
                uuid=inst.uuid, vm_state=inst.vm_state, host=inst.host, node=inst.node,
                tracked_by=tuple(h for h, c in cluster.computes.items()
                                 if inst.uuid in c.rt.tracked_instances)))
    partitions = tuple(Partition(h, *c.partition) for h, c in running.items()
                       if c.partition != (None, None))
    return AccountingSnapshot(
        *stamp(), label=label, nodes=tuple(nodes),
        instances=tuple(sorted(instances, key=lambda i: i.uuid)), settled=settled,
        partitions=partitions)


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1


def take_usage_snapshot(cluster: Cluster, label: str, *, settled: bool = True) -> UsageSnapshot:
    """Each tracker's per-node usage, and what the node's live instances in the DB add up to.

    Mirrors ``_update_usage_from_instances``: reserved host resources plus each
    instance's flavor, for instances whose state does not allow resource removal.
    """
    from nova.compute import vm_states

    conf = cluster.env.conf
    ctx = cluster.env.admin_context()
    rows = []
    for host, compute in cluster.computes.items():
        expected: dict[str, list[int]] = {}
        for inst in objects.InstanceList.get_by_host(ctx, host, expected_attrs=["flavor"]):
            if vm_states.allow_resource_removal(vm_state=inst.vm_state,
                                                task_state=inst.task_state):
                continue
            fl = inst.flavor
            acc = expected.setdefault(inst.node, [0, 0, 0, 0])
            acc[0] += fl.memory_mb
            acc[1] += fl.vcpus
            acc[2] += fl.root_gb + fl.ephemeral_gb + fl.swap // 1024
            acc[3] += 1
        for nodename, cn in list(compute.rt.compute_nodes.items()):
            inst_sum = expected.get(nodename, [0, 0, 0, 0])
            rows.append(NodeUsage(
                uuid=nodename, host=host,
                used=(_int(cn.memory_mb_used), _int(cn.vcpus_used), _int(cn.local_gb_used),
                      _int(cn.running_vms)),
                expected=(conf.reserved_host_memory_mb + inst_sum[0],
                          conf.reserved_host_cpus + inst_sum[1],
                          conf.reserved_host_disk_mb // 1024 + inst_sum[2], inst_sum[3])))
    return UsageSnapshot(*stamp(), label=label, nodes=tuple(rows), settled=settled)
