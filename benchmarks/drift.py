"""How much this machine's speed drifts: one fixed pure-Python loop, timed again and again.

The loop does the same work every time, so any spread in its CPU time is the machine's
(other tenants, frequency), not the code's; it is why ``--sliced`` exists.

Usage: python -m benchmarks.drift '{"times": 30}'
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from benchmarks.common import emit, say, summary


def loop() -> int:
    total, seen = 0, {}
    for i in range(2_000_000):
        total += i * i % 7
        seen[i % 1000] = total
    return total


def main(params: dict) -> dict:
    cpu = []
    for _ in range(int(params.get("times", 30))):
        c0 = time.process_time()
        loop()
        cpu.append(time.process_time() - c0)
    res = {"cpu": summary(cpu), "raw": cpu,
           "cv": statistics.stdev(cpu) / statistics.fmean(cpu) if len(cpu) > 1 else 0.0}
    say(f"fixed loop CPU {res['cpu']['median']:.3f} s [{res['cpu']['min']:.3f}-"
        f"{res['cpu']['max']:.3f}], coefficient of variation {res['cv']:.1%}")
    return res


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
