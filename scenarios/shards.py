"""Compute services limited to Ironic shards and a conductor group; nodes moved between shards.

What a sharded deployment relies on, that its nova-computes never see each
other's nodes, is the ``accounting/isolation`` invariant, checked at every
checkpoint with builds, deletes and moves in between. On real Ironic the
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


def _move(run: Run, old, shard: str | None, group: str = "", moved=()) -> str | None:
    """The operator moves a free node of ``old``'s shard (not one in ``moved``) to
    ``shard``/``group``.

    A node with an instance stays where it is (nova keeps an instance's node on
    the instance's host). Returns the node (None, counted, when none is free).
    """
    ironic = run.cluster.ironic
    source, _ = old.partition
    records = (ironic.node(n) for n in ironic.uuids() if n not in moved)
    node = next((r["uuid"] for r in records
                 if r["shard"] == source and r["instance_uuid"] is None), None)
    if node is None:
        run.count("move-skipped")
    else:
        ironic.set(node, shard=shard, conductor_group=group)
    return node


def _followed(run: Run, node: str | None, old, new) -> None:
    """Count a move nova followed: the new service tracks the node and has its provider
    in its provider tree; the old one has neither."""
    old_tree, new_tree = old.rt.reportclient._provider_tree, new.rt.reportclient._provider_tree
    if (node and node in new.rt.compute_nodes and new_tree.exists(node)
            and node not in old.rt.compute_nodes and not old_tree.exists(node)):
        run.count("moved")


@scenario("shard-isolation",
          "2 compute services on 2 Ironic shards ([ironic] shard, API 1.82) and one on a "
          "conductor group (simulator only); builds, and nodes moved between shards",
          hosts=3, nodes=9, workers=2)
def shard_isolation(run: Run) -> None:
    first, second, third = run.computes
    real = run.cluster.env.backends.ironic == "real"
    first.configure_ironic(shard=SHARDS[0])
    second.configure_ironic(shard=SHARDS[1])
    if real:
        third.set_up(False)
    else:
        third.configure_ironic(conductor_group=GROUP, peer_list=[third.host])
    grouped = 0 if real else max(1, run.nodes // 8)
    # two free nodes leave shard b even when every build landed there
    per_shard = max(run.workers + 2, (run.nodes - grouped) // 2)
    enroll_fleet(run, per_shard, shard=SHARDS[0])
    enroll_fleet(run, per_shard, shard=SHARDS[1])
    enroll_fleet(run, grouped, conductor_group=GROUP)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)  # each service hashes its shard or group onto itself alone
    run.checkpoint("start")

    boots = [run.ops.boot(flavor) for _ in range(run.workers)]
    for boot in boots:
        run.count(f"boot-{boot.outcome}")
    run.periodic()
    run.checkpoint("booted")

    # All at once, then the two periodics nova needs: the gaining service takes the
    # node's record in the first, the losing one drops it from its cache in the second.
    plan = [(first, second, SHARDS[1], ""), (second, first, SHARDS[0], "")]
    if not real:
        plan.append((second, third, None, GROUP))
    moves = []
    for old, new, shard, group in plan:
        moves.append((_move(run, old, shard, group, [m for m, _, _ in moves]), old, new))
    run.converge()
    for node, old, new in moves:
        _followed(run, node, old, new)
    run.checkpoint("moved")

    for boot in boots:
        if boot.outcome == "active":
            run.ops.delete(boot)
            run.count("deleted")
    run.cluster.ironic.settle()
    run.periodic()
    run.checkpoint("end")
