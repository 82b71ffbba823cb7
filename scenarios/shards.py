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


def _move(run: Run, old, new, shard: str | None, group: str = "") -> None:
    """The operator moves a free node of ``old``'s shard to ``shard``/``group``; nova follows.

    A node with an instance stays where it is (nova keeps an instance's node on
    the instance's host). Counts ``moved`` when, after two periodics, the new
    service tracks the node and has its provider, and the old one has neither.
    """
    ironic = run.cluster.ironic
    source, _ = old.partition
    records = (ironic.node(n) for n in ironic.uuids())
    node = next((r["uuid"] for r in records
                 if r["shard"] == source and r["instance_uuid"] is None), None)
    if node is None:
        run.count("move-skipped")
        return
    ironic.set(node, shard=shard, conductor_group=group)
    run.converge()
    old_tree, new_tree = old.rt.reportclient._provider_tree, new.rt.reportclient._provider_tree
    if (node in new.rt.compute_nodes and new_tree.exists(node)
            and node not in old.rt.compute_nodes and not old_tree.exists(node)):
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
    per_shard = max(run.workers + 1, (run.nodes - grouped) // 2)  # a free node to move
    enroll_fleet(run, per_shard, shard=SHARDS[0])
    enroll_fleet(run, per_shard, shard=SHARDS[1])
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

    _move(run, first, second, SHARDS[1])
    run.checkpoint("moved-a-to-b")
    _move(run, second, first, SHARDS[0])
    run.checkpoint("moved-b-to-a")
    if not real:
        _move(run, second, third, None, GROUP)
        run.checkpoint("moved-b-to-group")

    for boot in boots:
        if boot.outcome == "active":
            run.ops.delete(boot)
            run.count("deleted")
    run.cluster.ironic.settle()
    run.converge()
    run.checkpoint("end")
