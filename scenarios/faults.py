"""Placement and Ironic failing under the tracker: conflicts, 5xx, slow answers, dropped connections, API down."""

from __future__ import annotations

from scenarios.api import Run, scenario
from scenarios.nodes import enroll_fleet
from scenarios.standins.http import HttpFault

__all__ = ["placement_faults", "ironic_faults"]

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
    enroll_fleet(run, run.nodes)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)
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
        # Placement refuses the allocation delete: the instance is gone, its allocation stays
        # until the periodic heals it.
        if boots:
            victim = boots.pop()
            faults.arm(HttpFault("server-error", "DELETE", r"/allocations/", times=1))
            try:
                run.ops.delete(victim)
            except Exception as exc:  # noqa: BLE001 - the delete flow surfaces it
                run.count(f"delete-error-{type(exc).__name__}")
            faults.clear()
            run.tolerant_periodic()   # the instance is DELETED but not destroyed: no heal
            # The user deletes again; the API's local delete destroys the record while
            # placement is still failing, and the compute's periodic heals the allocation.
            victim.instance.destroy()
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


@scenario("ironic-faults",
          "Ironic API down during the periodic, timeouts and 5xx on node reads, nodes "
          "vanishing mid-listing", hosts=1, nodes=5, workers=2)
def ironic_faults(run: Run) -> None:
    from scenarios.ironic_sim import Fault

    ironic = run.cluster.ironic
    nodes = enroll_fleet(run, run.nodes)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)
    compute = run.computes[0]
    run.count(f"boot-{run.ops.boot(flavor).outcome}")
    steps = (
        ("api-down", Fault("unavailable", methods=("nodes",), times=1)),
        ("list-timeout", Fault("timeout", methods=("nodes",), times=1)),
        ("vanish", Fault("vanish", node=nodes[-1])),
    )
    for label, fault in steps:
        ironic.inject(fault)
        for failure in run.tolerant_periodic():
            run.count(f"periodic-error-{label}")
    # A node missing from the driver's cache is read from Ironic during the update: 5xx, timeout.
    for label, kind in (("get-node-500", "server-error"), ("get-node-timeout", "timeout")):
        compute.driver.node_cache.pop(nodes[0], None)
        ironic.inject(Fault(kind, methods=("get_node",), node=nodes[0], times=1))
        try:
            with compute.env.as_host(compute.host):
                compute.rt.update_available_resource(compute.env.admin_context(), nodes[0])
        except Exception as exc:  # noqa: BLE001 - recorded; the manager logs and goes on
            run.count(f"update-error-{label}-{type(exc).__name__}")
    ironic.clear_faults()
    run.periodic()
    run.checkpoint("end")
