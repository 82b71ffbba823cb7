"""Child: memory over a long trace: many periodic passes under a tracing-like session.

The ``auditor.tracing.tracer.Tracer`` itself runs, long-lived, with ``debug`` (every
DEBUG record captured and scanned: the most events a trace can take), trace
file in a temp dir; each flush (every ``interval_s``) ends the session's run
and begins the next, as in tracing mode.
Samples RSS and the sizes of the audit's structures after every pass; the
first ``warm`` passes are excluded from the growth figures.

Usage: python -m benchmarks.memory '{"nodes": 100, "passes": 50}'
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from benchmarks.common import Workload, emit, rss_mb, say


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.tracing.tracer import Tracer
    from auditor.canaries import CanaryRegistry, from_config

    nodes = int(params.get("nodes", 100))
    passes = int(params.get("passes", 50))
    warm = int(params.get("warm", 5))
    interval = float(params.get("interval_s", 2.0))
    canaries = CanaryRegistry()
    work = Workload(nodes, plant=canaries.plant, claimers=4, cycles=1)
    canaries.update(from_config(work.env.conf))
    work.prepare_claims()
    work.first_periodic()
    tmp = tempfile.mkdtemp(prefix="bench-memory-")
    tracer = Tracer(os.path.join(tmp, "trace-{pid}.jsonl"), "bench", interval_s=interval,
                          debug=True).start(canaries)
    session = tracer.session
    how = f"auditor.tracing.tracer.Tracer (debug), flush/rotation every {interval:g}s"
    session.adopt(work.rt)
    samples = []
    t0 = time.perf_counter()
    for i in range(passes):
        work.contended_pass()
        events = sum(session.event_counts.values())
        samples.append({"pass": i, "t": time.perf_counter() - t0, "rss_mb": rss_mb(),
                        "events": events, "sizes": session.statistics()})
        if i % 10 == 0 or i == passes - 1:
            say(f"pass {i} rss {samples[-1]['rss_mb']:.1f} MB events {events}")
    size = os.path.getsize(tracer.path) if tracer.path and os.path.exists(tracer.path) else 0
    tracer.close("bench")
    steady = samples[warm:] or samples
    first, last = steady[0], steady[-1]
    ev = max(1, last["events"] - first["events"])
    return {"nodes": nodes, "passes": passes, "warm": warm, "how": how,
            "rss_first_mb": first["rss_mb"], "rss_last_mb": last["rss_mb"],
            "rss_max_mb": max(s["rss_mb"] for s in steady),
            "events_first": first["events"], "events_last": last["events"],
            "bytes_per_event": (last["rss_mb"] - first["rss_mb"]) * 2**20 / ev,
            "trace_file_bytes": size, "samples": samples}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
