"""Concurrent instance claims onto Ironic nodes while nova's periodic update runs."""

from __future__ import annotations

import math
import threading

from scenarios.framework import Run, scenario
from scenarios.nodes import start_fleet

__all__ = ["concurrent_claims"]


@scenario("concurrent-claims",
          "8+ workers boot, fail, reschedule and delete baremetal instances while the periodic runs",
          nodes=24, workers=8)
def concurrent_claims(run: Run) -> None:
    _, flavor = start_fleet(run)

    stop = threading.Event()

    def periodic_loop() -> None:
        while not stop.is_set():
            run.periodic()

    ticker = threading.Thread(target=periodic_loop, name="periodic", daemon=True)
    ticker.start()
    attempts = math.ceil(run.nodes * 1.25 / run.workers)

    def worker(index: int, rng) -> None:
        mine = []
        for _ in range(attempts):
            # 10 % of deploys fail; nova reschedules half of them (the rest: max_attempts 1)
            fail = rng.random() < 0.1
            run.count("boots-attempted")
            run.count("faults-injected", int(fail))
            boot = run.ops.boot(flavor, fail_deploy=fail, reschedule=rng.random() < 0.5)
            run.count(f"boot-{boot.outcome}")
            run.count("rescheduled", max(len(boot.attempts) - 1, 0))
            if boot.outcome == "active":
                mine.append(boot)
            if mine and rng.random() < 0.2:
                run.ops.delete(mine.pop(rng.randrange(len(mine))))
                run.count("deleted")

    try:
        run.parallel(worker, label="claimers")
    finally:
        stop.set()
        ticker.join()
    run.cluster.ironic.settle()
    run.periodic()
    run.checkpoint("end")
