"""Instance lifecycle on baremetal: claim, build success/failure/abort, delete, rebuild, evacuate."""

from __future__ import annotations

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["instance_lifecycle"]


def _abort_on_unavailable_node(run: Run, flavor):
    """Schedule, then put the chosen node into maintenance before the driver deploys.

    ``prepare_for_spawn`` refuses the node (ComputeResourcesUnavailable) inside
    the claim, so the claim is aborted (``abort_instance_claim``) and nova
    reschedules the build to another node.
    """
    from scenarios.operations import Boot

    ops = run.ops
    boot = Boot(ops.create_instance(flavor))
    compute, node = ops.schedule(boot.instance)
    run.cluster.ironic.set(node, maintenance=True, maintenance_reason="BMC unreachable")
    try:
        ops.build(boot, compute, node)
    finally:
        run.cluster.ironic.set(node, maintenance=False, maintenance_reason=None)
    return boot


@scenario("instance-lifecycle",
          "boot, rescheduled, failed and aborted builds, delete, rebuild (ok and failing), evacuate",
          hosts=2, nodes=8, workers=3)
def instance_lifecycle(run: Run) -> None:
    from scenarios import moves

    _, flavor = start_fleet(run)

    active: list = []

    def worker(index: int, rng) -> None:
        for attempt in range(2):
            # One deploy failure nova reschedules, one it cannot (max_attempts = 1).
            boot = run.ops.boot(flavor, fail_deploy=index == 0, reschedule=attempt == 0,
                                admin_password=run.secret("instance.admin_pass"))
            run.count("rescheduled", max(len(boot.attempts) - 1, 0))
            run.count(f"boot-{boot.outcome}")
            if boot.outcome == "active":
                active.append(boot)

    run.parallel(worker, label="builders")
    run.periodic()
    run.checkpoint("after-builds")

    boot = _abort_on_unavailable_node(run, flavor)
    run.count(f"aborted-then-{boot.outcome}")
    run.periodic()
    run.checkpoint("after-abort")

    if active:
        run.count("rebuild-" + moves.rebuild(run.ops, active[0],
                                             admin_password=run.secret("instance.admin_pass")))
    if len(active) > 1:
        # A failed rebuild leaves the instance in ERROR on its node.
        run.count("rebuild-" + moves.rebuild(run.ops, active[1], fail=True))
        active.pop(1)
    run.cluster.ironic.settle()
    run.periodic()
    run.checkpoint("after-rebuilds")

    for victim in active[2:4]:
        run.ops.delete(victim)
        run.count("deleted")
    run.cluster.ironic.settle()
    run.periodic()
    run.checkpoint("after-deletes")

    # Evacuate: the host of a surviving instance goes down, the instance moves away.
    survivors = [b for b in active if b.outcome == "active"]
    if len(run.computes) > 1 and survivors:
        victim = survivors[0]
        source = run.cluster.computes[victim.host]
        source.set_up(False)
        run.periodic()
        # The source's process still runs while the evacuation is accepted (fencing).
        run.count("evacuate-" + moves.evacuate(run.ops, victim, in_flight=source.periodic))
        run.cluster.ironic.settle()
        run.converge()
        run.checkpoint("after-evacuate")
        source.set_up(True)
    run.converge()
    run.checkpoint("end")
