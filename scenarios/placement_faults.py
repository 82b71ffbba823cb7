"""Placement failing under the tracker: 409 conflicts, 5xx, slow answers, dropped connections."""

from __future__ import annotations

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet
from scenarios.standins.http import HttpFault

__all__ = ["placement_faults"]

#: (label, fault) armed around one periodic each; real HTTP still flows to placement.
_PERIODIC_FAULTS = (
    ("inventory-409", HttpFault("conflict", "PUT", r"/inventories", times=2)),
    ("inventory-500", HttpFault("server-error", "PUT", r"/inventories", times=6)),
    ("providers-503", HttpFault("unavailable", "GET", r"^/resource_providers\?", times=3)),
    ("allocations-disconnect", HttpFault("disconnect", "GET", r"/allocations", times=2)),
    ("slow-traits", HttpFault("slow", "GET", r"/traits", times=3, delay_s=0.3)),
)


@scenario("placement-faults",
          "409 generation conflicts, 500/503, dropped connections and slow answers from "
          "placement during periodics, deletes and a failed rebuild", hosts=1, nodes=4, workers=2)
def placement_faults(run: Run) -> None:
    from scenarios import moves

    faults = run.cluster.env.placement.faults
    _, flavor = start_fleet(run)
    boots = [b for b in (run.ops.boot(flavor) for _ in range(3)) if b.outcome == "active"]
    # Make every provider's inventory change on the next pass, so the PUTs happen.
    for node in run.cluster.ironic.uuids():
        run.cluster.ironic.set(node, traits=["CUSTOM_FAULTY"])
    try:
        for label, fault in _PERIODIC_FAULTS:
            faults.arm(fault)
            for failure in run.tolerant_periodic():
                run.count(f"periodic-error-{label}")
            faults.clear()
        # Placement refuses the allocation delete: nova puts the instance in ERROR with its
        # allocation kept (docs/findings.md, 10); the user deletes it again.
        if boots:
            victim = boots.pop()
            faults.arm(HttpFault("server-error", "DELETE", r"/allocations/", times=1))
            try:
                run.ops.delete(victim)
            except Exception as exc:  # noqa: BLE001 - terminate_instance re-raises it
                run.count(f"delete-error-{type(exc).__name__}")
            faults.clear()
            run.tolerant_periodic()
            run.ops.delete(victim)
            run.count("deleted-again")
            run.tolerant_periodic()
        # A failed rebuild whose allocation clean-up placement refuses.
        if boots:
            faults.arm(HttpFault("conflict", "PUT", r"^/allocations/", times=4))
            run.count("rebuild-" + moves.rebuild(run.ops, boots[0], fail=True))
            faults.clear()
    finally:
        faults.clear()
    run.cluster.ironic.settle()
    run.tolerant_periodic()
    run.periodic()
    run.checkpoint("end")
