"""Read the cloud's real state (Ironic, nova DB, placement, trackers) into an AccountingSnapshot."""

from __future__ import annotations

import itertools
import threading
import time

from nova import objects

from auditor.events import AccountingSnapshot, InstanceView, NodeView
from scenarios.environment import Cluster

__all__ = ["take_snapshot"]

_seq = itertools.count(1_000_000_000)


def _placement_view(cluster: Cluster, node_uuid: str) -> tuple[int, int | None, tuple[str, ...]]:
    client = cluster.scheduler_client
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
            tracked_by=tuple(h for h, c in cluster.computes.items() if uuid in c.rt.compute_nodes)))
    instances = []
    for host in hosts:
        for inst in objects.InstanceList.get_by_host(ctx, host):
            instances.append(InstanceView(
                uuid=inst.uuid, vm_state=inst.vm_state, host=inst.host, node=inst.node,
                tracked_by=tuple(h for h, c in cluster.computes.items()
                                 if inst.uuid in c.rt.tracked_instances)))
    return AccountingSnapshot(
        seq=next(_seq), t=time.monotonic(), owner=threading.get_ident(),
        thread=threading.current_thread().name, label=label, nodes=tuple(nodes),
        instances=tuple(sorted(instances, key=lambda i: i.uuid)), settled=settled)
