"""Child: how cost grows with the node count (one process per node count and variant).

Builds a Cluster of N nodes; ``audit`` starts an ``AuditSession`` (adopting the
tracker) before the first periodic. Measures the first periodic (creates the
compute nodes and providers) and ``passes`` steady-state periodics (no
claimers), wall and process CPU time, peak RSS and the sizes of the audit's own structures.

Usage: python -m benchmarks.scale '{"nodes": 100, "variant": "audit", "passes": 2}'
"""

from __future__ import annotations

import json
import sys

from benchmarks.common import Workload, emit, maxrss_mb, rss_mb, say, summary


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry, from_config
    from auditor.session import AuditSession

    nodes = int(params.get("nodes", 100))
    variant = params.get("variant", "plain")
    passes = int(params.get("passes", 2))
    canaries = CanaryRegistry()
    work = Workload(nodes, plant=canaries.plant)
    canaries.update(from_config(work.env.conf))
    rss0 = rss_mb()
    session = None
    if variant == "audit":
        session = AuditSession(canaries=canaries).start()
        session.adopt(work.rt)
        session.begin_run("scale")
    say(f"{nodes} nodes {variant}: first periodic ...")
    first, first_cpu = work.first_periodic()
    rss_first = rss_mb()
    say(f"first periodic {first:.1f}s (cpu {first_cpu:.1f}s)")
    steady, steady_cpu = [], []
    for i in range(passes):
        wall, cpu = work.periodic()
        steady.append(wall)
        steady_cpu.append(cpu)
        say(f"steady {i} {steady[-1]:.2f}s (cpu {steady_cpu[-1]:.2f}s)")
    sizes = session.statistics() if session is not None else {}
    events = 0
    if session is not None:
        session.end_run("passed", 0.0)
        session.stop()
        events = sum(session.event_counts.values())
    return {"nodes": nodes, "variant": variant, "mode": mode.current(),
            "first_s": first, "first_cpu_s": first_cpu, "steady": summary(steady),
            "steady_raw": steady, "steady_cpu": summary(steady_cpu),
            "rss_before_mb": rss0, "rss_after_first_mb": rss_first, "rss_end_mb": rss_mb(),
            "maxrss_mb": maxrss_mb(), "events": events, "sizes": sizes}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
