"""Ironic nodes rebalanced between compute services as they go down and up, under claims."""

from __future__ import annotations

import threading
import uuid as uuidlib

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["rebalance"]


def _claim_across_ring_change(run: Run, flavor, other) -> str:
    """Claim on one host; before the driver reserves the node, another host's periodic runs.

    The node has no instance_uuid in Ironic yet, so after a ring change the other
    host may adopt it and find an allocation of an instance that lives elsewhere.
    """
    from scenarios.operations import Boot

    ops = run.ops
    boot = Boot(ops.create_instance(flavor))
    compute, node = ops.schedule(boot.instance)
    # In nova's build, after the claim: the driver reserves the node with update_node.
    run.cluster.ironic.before("update_node", node, other.periodic)
    ops.build(boot, compute, node)
    return boot.outcome


def _orphan_allocation(run: Run, flavor) -> str:
    """The scheduler allocates for an instance the cell DB does not have yet (API race)."""
    from scenarios.operations import PROJECT, USER

    sched = run.cluster.conductor.placement
    rc = next(k.split(":", 1)[1] for k in flavor.extra_specs if k.startswith("resources:CUSTOM_"))
    resp = sched.get(f"/allocation_candidates?resources={rc}:1&limit=1", version="1.36").json()
    consumer = str(uuidlib.UUID(int=run.rng.getrandbits(128), version=4))
    if resp["allocation_requests"]:
        sched.claim_resources(run.ops.ctx, consumer, resp["allocation_requests"][0], PROJECT,
                              USER, allocation_request_version="1.36")
    return consumer


@scenario("rebalance",
          "3 compute services go down and up (forced_down) while claims and periodics run; "
          "the hash ring moves nodes between them",
          hosts=3, nodes=9, workers=3)
def rebalance(run: Run) -> None:
    _, flavor = start_fleet(run)  # each host joins the ring in turn: not settled yet
    run.converge()
    run.checkpoint("start")
    computes = run.computes

    def with_claims(label: str) -> None:
        """Two claimers boot while a third worker runs the periodic until they finish."""
        left = [run.workers - 1]
        lock = threading.Lock()

        def work(index: int, rng) -> None:
            if index == 0:
                while left[0] > 0:
                    run.tolerant_periodic()
                return
            try:
                for _ in range(2):
                    run.count(f"boot-{run.ops.boot(flavor).outcome}")
            finally:
                with lock:
                    left[0] -= 1
        run.parallel(work, label=label)

    for step, down in enumerate(computes[:2]):
        down.set_up(False)
        with_claims(f"down-{step}")
        run.converge()
        run.checkpoint(f"{down.host}-down")
        down.set_up(True)
        run.converge()
        run.checkpoint(f"{down.host}-up")

    # Races the tracker must survive: an allocation for an instance the DB does not
    # have yet, and a claim on one host while another host's periodic runs.
    consumer = _orphan_allocation(run, flavor)
    computes[2].set_up(False)
    run.periodic()
    computes[2].set_up(True)
    # The API's build request failed after all: it removes the allocation.
    run.cluster.conductor.placement.delete_allocation_for_instance(run.ops.ctx, consumer,
                                                               force=True)
    try:
        outcome = _claim_across_ring_change(run, flavor, computes[0])
    except Exception as exc:  # noqa: BLE001 - NoValidHost when the fleet is full
        run.count(f"race-skipped-{type(exc).__name__}")
    else:
        run.count(f"race-{outcome}")
    run.cluster.ironic.settle()
    run.converge()
    run.checkpoint("end")
