"""Findings 10 and 11 of docs/findings.md, reproduced through nova's own manager flows."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def cloud(env):
    """One compute service with three nodes and an Operations front."""
    from scenarios.environment import Cluster
    from scenarios.operations import Operations

    cluster = Cluster(env, [f"findings-{uuid.uuid4().hex[:6]}"])
    try:
        for _ in range(3):
            cluster.ironic.enroll(resource_class="baremetal-findings")
        ops = Operations(cluster)
        flavor = ops.flavor("baremetal-findings")
        compute = next(iter(cluster.computes.values()))
        compute.periodic(startup=True)
        yield ops, flavor, compute
    finally:
        env.placement.faults.clear()
        cluster.close()


def _allocation(ops, instance_uuid: str) -> dict:
    return ops.conductor.placement.get_allocations_for_consumer(ops.ctx, instance_uuid)


def test_finding_10_failed_allocation_delete_leaves_an_error_instance_holding_the_node(
        cloud, env):
    """A 500 on DELETE /allocations during terminate_instance: the machine is unprovisioned,
    the instance goes to ERROR (not DELETED), its allocation stays and the periodic keeps it,
    so the node's capacity is lost until the user deletes again."""
    from nova.compute import vm_states

    from scenarios.standins.http import HttpFault

    ops, flavor, compute = cloud
    boot = ops.boot(flavor)
    assert boot.outcome == "active", boot.error
    node = boot.node
    env.placement.faults.arm(HttpFault("server-error", "DELETE", r"^/allocations/", times=1))
    with pytest.raises(Exception):
        ops.delete(boot)
    env.placement.faults.clear()
    ops.cluster.ironic.settle()
    compute.periodic()
    ops.refresh(boot)
    assert boot.instance.vm_state == vm_states.ERROR and boot.node == node
    assert ops.cluster.ironic.node(node)["instance_uuid"] is None
    assert _allocation(ops, boot.instance.uuid)  # still allocated after the periodic
    ops.delete(boot)                             # the user deletes again
    assert _allocation(ops, boot.instance.uuid) == {}


def test_finding_11_failed_same_host_rebuild_drops_the_instances_own_allocation(cloud):
    """rebuild_instance defaults scheduled_node to instance.node and, on a failure, removes
    the allocation there: the ERROR instance still holds the Ironic node, placement has
    nothing for it."""
    from nova.compute import vm_states

    from scenarios import moves

    ops, flavor, compute = cloud
    boot = ops.boot(flavor)
    assert boot.outcome == "active", boot.error
    assert _allocation(ops, boot.instance.uuid)
    assert moves.rebuild(ops, boot, fail=True).startswith("failed")
    assert boot.instance.vm_state == vm_states.ERROR and boot.node is not None
    assert ops.cluster.ironic.node(boot.node)["instance_uuid"] == boot.instance.uuid
    assert _allocation(ops, boot.instance.uuid) == {}


def test_finding_13_allocation_read_failure_escapes_the_periodic_and_skips_the_db_save(
        cloud, env):
    """Placement answering 503 to GET /resource_providers/{uuid}/allocations: the tracker's
    eager allocation fetch in ``_update_to_placement`` raises
    ResourceProviderAllocationRetrievalFailed out of ``update_available_resource`` (the same
    exception ``_remove_deleted_instances_allocations`` catches a few lines earlier), so the
    node's changed record is not saved to nova's database until placement answers again."""
    from nova import context as nova_context
    from nova import exception, objects

    from scenarios.standins.http import HttpFault

    ops, flavor, compute = cloud
    node = next(iter(compute.rt.compute_nodes))
    ctx = nova_context.get_admin_context()

    def saved_arch():
        return objects.ComputeNode.get_by_host_and_nodename(
            ctx, compute.host, node).stats.get("cpu_arch")

    assert saved_arch() == "x86_64"
    props = dict(ops.cluster.ironic.node(node)["properties"], cpu_arch="aarch64")
    ops.cluster.ironic.update_node(node, properties=props)
    env.placement.faults.arm(HttpFault(
        "unavailable", "GET", r"^/resource_providers/[^/]+/allocations", times=None))
    try:
        compute.periodic()  # nova's manager logs the escape per node and goes on
        assert compute.rt.compute_nodes[node].stats.get("cpu_arch") == "aarch64"
        assert saved_arch() == "x86_64"  # the database record was not updated
        with env.as_host(compute.host):
            with pytest.raises(exception.ResourceProviderAllocationRetrievalFailed):
                compute.rt.update_available_resource(ctx, node)
    finally:
        env.placement.faults.clear()
    compute.periodic()
    assert saved_arch() == "aarch64"
