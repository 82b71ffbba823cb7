"""Sustained outages: Ironic's API, then placement, down for whole periodics and longer, then back.

Clouds lose a service for minutes, not for one request. Every call nova makes
to the service fails for three periodics (and, placement down, a build
attempt the scheduler cannot place; a build while Ironic is down belongs to
nova's real build flow, whose clean-up then fails too); the accounting
invariants are checked during the outage (compute node records, providers and
allocations of nodes that still exist must survive it) and after recovery.
"""

from __future__ import annotations

import contextlib

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["sustained_outages"]

#: periodics run while a service is down (the periodic's interval is 60 s by default)
PERIODICS_DOWN = 3


@contextlib.contextmanager
def _placement_down(run: Run):
    """Every request to placement answers 503 until the block ends."""
    from scenarios.standins.http import HttpFault

    faults = run.cluster.env.placement.faults
    faults.arm(HttpFault("unavailable", times=None))
    try:
        yield faults
    finally:
        faults.clear()


@contextlib.contextmanager
def _ironic_down(run: Run):
    """Every call nova makes to Ironic fails with 503 until the block ends."""
    from scenarios.ironic_sim import Fault

    run.cluster.ironic.inject(Fault("unavailable", times=None))
    try:
        yield
    finally:
        run.cluster.ironic.clear_faults()


def _while_down(run: Run, label: str, flavor=None) -> None:
    """Periodics while the service is down, then (``flavor``) a build attempt."""
    for _ in range(PERIODICS_DOWN):
        for failure in run.tolerant_periodic():
            run.count(f"periodic-error-{label}")
    if flavor is not None:
        run.count(f"boot-{label}-{run.ops.boot(flavor).outcome}")


@scenario("sustained-outages",
          "Ironic's API, then placement, down for three periodics (and a build attempt); "
          "records, providers and allocations must survive; then recovery",
          hosts=1, nodes=5, workers=2)
def sustained_outages(run: Run) -> None:
    _, flavor = start_fleet(run)
    for _ in range(2):
        run.count(f"boot-{run.ops.boot(flavor).outcome}")
    run.checkpoint("before")

    with _ironic_down(run):
        _while_down(run, "ironic-down")
        run.checkpoint("ironic-down")  # read from Ironic directly: the operator's view
    run.periodic()
    run.checkpoint("ironic-recovered")

    with _placement_down(run) as faults:
        _while_down(run, "placement-down", flavor)
        # The checkpoint reads placement: let the auditor through, nova does nothing meanwhile.
        faults.clear()
        run.checkpoint("placement-down")
    run.cluster.ironic.settle()
    run.periodic()
    run.periodic()
    run.checkpoint("end")
