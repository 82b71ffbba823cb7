"""Tracing-mode overhead: time nova's periodic over N simulated Ironic nodes, plain vs traced.

Usage: python benchmarks/trace_overhead.py [--nodes N] [--passes K] [--reps R]
Each measurement is a child process (``python this --child``), run plainly or
under ``auditor trace``, alternating; prints the median steady-state pass time
of each and their ratio. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["main"]


def child(nodes: int, passes: int) -> None:
    from scenarios import mode

    mode.apply("threading")
    from scenarios.environment import Cluster, Environment

    env = Environment.get()
    cluster = Cluster(env, [f"bench-{os.getpid()}"])
    for _ in range(nodes):
        cluster.ironic.enroll(resource_class="baremetal-gold")
    compute = next(iter(cluster.computes.values()))
    compute.periodic(startup=True)          # creates records and providers: not timed
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        compute.periodic()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"nodes": nodes, "times": times}))


def measure(traced: bool, nodes: int, passes: int, out: str) -> list[float]:
    cmd = [sys.executable, __file__, "--child", "--nodes", str(nodes), "--passes", str(passes)]
    if traced:
        cmd = [sys.executable, "-m", "auditor.cli", "trace", "--output", out, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["times"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args.nodes, args.passes)
    plain, traced = [], []
    with tempfile.TemporaryDirectory(prefix="trace-overhead-") as tmp:
        for rep in range(args.reps):
            plain += measure(False, args.nodes, args.passes, "")
            traced += measure(True, args.nodes, args.passes, os.path.join(tmp, f"t{rep}.jsonl"))
            print(f"rep {rep}: plain {statistics.median(plain):.3f}s "
                  f"traced {statistics.median(traced):.3f}s", file=sys.stderr)
    p, t = statistics.median(plain), statistics.median(traced)
    print(json.dumps({"nodes": args.nodes, "passes": len(plain), "plain_median_s": round(p, 4),
                      "traced_median_s": round(t, 4), "ratio": round(t / p, 3),
                      "plain": [round(x, 4) for x in plain],
                      "traced": [round(x, 4) for x in traced]}))


if __name__ == "__main__":
    main()
