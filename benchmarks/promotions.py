"""Child: objects each variant promotes to the garbage collector's oldest generation per pass.

A full collection walks the whole heap (0.2-0.3 s of CPU at 30-100 nodes) and comes once
the objects promoted since the last one exceed a quarter of the heap: what a variant
promotes per pass brings the next one closer, wherever it then lands. Counted, not
timed: the load does not move it. Per variant: start it, run one pass (first-use
costs), ``gc.collect()``, then count what each middle-generation collection of the next
pass (one steady periodic, then the claimers' cycles in sequence on this thread, as
``benchmarks.calls``) moves to the oldest generation, and the full collections in it.

``"contended": true`` (eventlet only): the scenario's contended pass instead, as
``benchmarks.calls``.

Usage: python -m benchmarks.promotions '{"nodes": 30, "reps": 3}'
       python -m benchmarks.promotions '{"mode": "eventlet", "contended": true, "nodes": 100,
                                         "claimers": 16, "cycles": 3}'
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile

from benchmarks.common import FullCollections, Workload, emit, say, summary


class _Counter(FullCollections):
    """Also objects moved into generation 2 by generation-1 collections."""

    def __init__(self):
        super().__init__()
        self.promoted = self._before = 0

    def reset(self) -> None:
        super().reset()
        self.promoted = 0

    def __call__(self, phase: str, info: dict) -> None:
        super().__call__(phase, info)
        if not self.on or info["generation"] != 1:
            return
        if phase == "start":
            self._before = len(gc.get_objects(2))
        else:
            self.promoted += len(gc.get_objects(2)) - self._before


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry
    from benchmarks.scenario import _Variant

    variants = params.get("variants") or ["plain", "trace", "audit"]
    canaries = CanaryRegistry()
    work = Workload.counted(params, 30, canaries.plant)
    one_pass = work.counted_pass(bool(params.get("contended")))
    tmp = tempfile.mkdtemp(prefix="bench-promotions-")
    counter = _Counter()
    gc.callbacks.append(counter)
    rows: dict[str, list[dict]] = {name: [] for name in variants}

    for rep in range(int(params.get("reps", 3))):
        for name in variants:
            runner = _Variant(name, work, canaries, tmp)
            runner.start()
            try:
                one_pass()
                gc.collect()
                counter.reset()
                one_pass()
            finally:
                counter.on = False
                runner.stop()
            rows[name].append({"promoted": counter.promoted, "full": counter.count})
            say(f"rep {rep} {name:<20} promoted {counter.promoted:>7}  full collections "
                f"{counter.count}")
    gc.callbacks.remove(counter)
    return {"nodes": work.nodes, "heap": len(gc.get_objects()), "rows": rows,
            "promoted": {name: summary(r["promoted"] for r in rs) for name, rs in rows.items()}}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
