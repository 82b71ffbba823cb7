"""Ironic failing under the tracker: API down, timeouts and 5xx on node reads, nodes vanishing."""

from __future__ import annotations

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["ironic_faults"]


@scenario("ironic-faults",
          "Ironic API down during the periodic, timeouts and 5xx on node reads, nodes "
          "vanishing mid-listing", hosts=1, nodes=5, workers=2)
def ironic_faults(run: Run) -> None:
    from scenarios.ironic_sim import Fault

    ironic = run.cluster.ironic
    nodes, flavor = start_fleet(run)
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
