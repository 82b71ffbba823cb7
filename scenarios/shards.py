"""Compute services limited to Ironic shards and a conductor group; nodes moved between shards.

Ironic's shard CI job leaves a TODO to check that its two nova-computes never
see each other's nodes; here the ``accounting/isolation`` invariant checks it
at every checkpoint, with builds and deletes in between. On real Ironic the
conductor-group service stays down (real Ironic refuses a node in a conductor
group no conductor serves; see docs/scenarios.md).
"""

from __future__ import annotations

from scenarios.framework import Run, scenario
from scenarios.nodes import enroll_fleet

__all__ = ["shard_isolation", "SHARDS", "GROUP"]

#: the two shards (``[ironic] shard`` of the first two services) and the third's group
SHARDS = ("shard-a", "shard-b")
GROUP = "rack-1"


def _move(run: Run, node: str, **fields) -> None:
    """The operator moves ``node`` (shard / conductor group); two periodics let nova follow."""
    run.cluster.ironic.set(node, **fields)
    run.converge()


def _free(run: Run, nodes: list[str]) -> str:
    """A node of ``nodes`` with no instance on it (nova leaves an instance's node where it is)."""
    return next(n for n in nodes if run.cluster.ironic.node(n)["instance_uuid"] is None)


def _followed(run: Run, node: str, old, new) -> None:
    """Count a move nova followed: the new service tracks and reports the node, the old does not."""
    tree = new.rt.reportclient._provider_tree
    if node in new.rt.compute_nodes and node not in old.rt.compute_nodes and tree.exists(node):
        run.count("moved")


@scenario("shard-isolation",
          "2 compute services on 2 Ironic shards ([ironic] shard, API 1.82) and one on a "
          "conductor group (simulator only); builds, and nodes moved between shards",
          hosts=3, nodes=8, workers=2)
def shard_isolation(run: Run) -> None:
    first, second, third = run.computes
    real = run.cluster.env.backends.ironic == "real"
    first.configure_ironic(shard=SHARDS[0])
    second.configure_ironic(shard=SHARDS[1])
    if real:
        third.set_up(False)
    else:
        third.configure_ironic(conductor_group=GROUP, peer_list=[third.host])
    grouped = 0 if real else max(1, run.nodes // 4)
    per_shard = max(2, (run.nodes - grouped) // 2)
    in_a = enroll_fleet(run, per_shard, shard=SHARDS[0])
    in_b = enroll_fleet(run, per_shard, shard=SHARDS[1])
    enroll_fleet(run, grouped, conductor_group=GROUP)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)
    run.converge()
    run.checkpoint("start")

    boots = [run.ops.boot(flavor) for _ in range(run.workers)]
    for boot in boots:
        run.count(f"boot-{boot.outcome}")
    run.periodic()
    run.checkpoint("booted")

    node = _free(run, in_a)
    _move(run, node, shard=SHARDS[1])
    _followed(run, node, first, second)
    run.checkpoint("moved-a-to-b")
    node = _free(run, in_b)
    _move(run, node, shard=SHARDS[0])
    _followed(run, node, second, first)
    run.checkpoint("moved-b-to-a")
    if not real:
        node = _free(run, [n for n in in_b if n != node])
        _move(run, node, shard=None, conductor_group=GROUP)
        _followed(run, node, second, third)
        run.checkpoint("moved-b-to-group")

    for boot in boots:
        if boot.outcome == "active":
            run.ops.delete(boot)
            run.count("deleted")
    run.cluster.ironic.settle()
    run.converge()
    run.checkpoint("end")
