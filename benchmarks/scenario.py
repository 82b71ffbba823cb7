"""Child: the N-node Ironic periodic with 16 concurrent claimers, plain vs audit vs tracing.

One process per concurrency mode. The Environment and the Cluster are built
once and the first periodic runs once (not measured); then each repetition
measures one steady-state periodic pass running concurrently with the
claimers, once per variant, interleaved (the order rotates every repetition).
Variants: ``plain`` (no hooks), ``audit`` (``AuditSession``, every hook and
check), ``trace`` (``auditor.tracing.tracer.Tracer`` in process, as ``auditor trace`` runs
it: every hook and check, log records judged as the logging configuration
emits them, plus the JSON-lines trace file). ``audit:SURFACE`` and
``trace:SURFACE`` install one hook surface only (``auditor.hooks.SURFACES``;
the ``attribution`` section).

Usage: python -m benchmarks.scenario '{"mode": "threading", "nodes": 100, "reps": 2}'
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time

from benchmarks.common import FullCollections, Workload, emit, loadavg, maxrss_mb, say, summary

VARIANTS = ("plain", "audit", "trace")


class _Variant:
    """Start/stop one way of running the pass."""

    def __init__(self, name: str, work: Workload, canaries, tmp: str):
        self.name = name
        self.work = work
        self.canaries = canaries
        self.tmp = tmp
        self.session = None
        self.tracer = None
        self.note = ""
        self.findings = 0
        self.events = 0

    def start(self) -> None:
        from auditor.session import AuditConfig, AuditSession

        kind, _, surface = self.name.partition(":")
        surfaces = (surface,) if surface else None
        if kind == "audit":
            self.session = AuditSession(AuditConfig(surfaces=surfaces),
                                        canaries=self.canaries).start()
            self.session.adopt(self.work.rt)
            self.session.begin_run("bench")
        elif kind == "trace":
            from auditor.tracing import tracer

            # as ``auditor trace`` runs it, with the benchmark's canaries (live mode: the config's)
            self.tracer = tracer.Tracer(os.path.join(self.tmp, "trace-{pid}.jsonl"), "bench",
                                       interval_s=tracer.DEFAULT_INTERVAL_S,
                                       surfaces=surfaces).start(self.canaries)
            self.session = self.tracer.session
            self.note = ("auditor.tracing.tracer.Tracer: log records as emitted (root at INFO), "
                         "trace file")
            self.session.adopt(self.work.rt)

    def stop(self) -> None:
        if self.tracer is not None:
            self.tracer.close("bench")
            path = self.tracer.path
            if path and os.path.exists(path):
                os.unlink(path)
        elif self.session is not None:
            self.findings += len(self.session.end_run("passed", 0.0))
            self.session.stop()
        if self.session is not None:
            self.events += sum(self.session.event_counts.values())
        self.session = self.tracer = None


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry, from_config

    nodes = int(params.get("nodes", 100))
    reps = int(params.get("reps", 3))
    warmup = int(params.get("warmup", 1))
    variants = tuple(params.get("variants", VARIANTS))
    serial = bool(params.get("serial"))
    canaries = CanaryRegistry()
    t0 = time.perf_counter()
    work = Workload(nodes, claimers=int(params.get("claimers", 16)), plant=canaries.plant,
                    cycles=int(params.get("cycles", 3)), db=params.get("db", "sqlite"))
    canaries.update(from_config(work.env.conf))
    work.prepare_claims()
    setup_s = time.perf_counter() - t0
    say(f"{mode.current()}: {nodes} nodes enrolled in {setup_s:.1f}s; first periodic ...")
    first_s, _ = work.first_periodic()
    say(f"first periodic {first_s:.1f}s")
    tmp = tempfile.mkdtemp(prefix="bench-trace-")
    runners = {name: _Variant(name, work, canaries, tmp) for name in variants}
    results: dict[str, list[dict]] = {name: [] for name in variants}
    full = FullCollections()   # whichever pass a full collection lands in pays for all of it
    gc.callbacks.append(full)
    for rep in range(warmup + reps):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for name in order:
            runner = runners[name]
            runner.start()
            full.count, full.cpu_s, full.on = 0, 0.0, True
            try:
                res = work.serial_pass() if serial else work.contended_pass()
            finally:
                full.on = False
                runner.stop()
            res["gc_full"], res["gc_full_cpu_s"] = full.count, full.cpu_s
            res["rep"] = rep - warmup
            res["load"] = loadavg()
            if rep >= warmup:
                results[name].append(res)
            say(f"rep {rep - warmup:>2} {name:<19} wall {res['wall_s']:.2f}s cpu {res['cpu_s']:.2f}s "
                f"claims {res['claims']} full GCs {full.count} ({full.cpu_s:.2f}s) "
                f"load {res['load']}"
                + (f" errors {res['errors']}" if res["errors"] else ""))
    gc.callbacks.remove(full)
    return {
        "mode": mode.current(), "nodes": nodes, "claimers": work.claimers, "serial": serial,
        "cycles": work.cycles, "reps": reps, "warmup": warmup,
        "first_periodic_plain_s": first_s,
        "variants": {name: {"wall": summary(r["wall_s"] for r in rows),
                            "periodic": summary(r["periodic_s"] for r in rows),
                            "cpu": summary(r["cpu_s"] for r in rows),
                            "claim": summary(r["claim_median_s"] for r in rows
                                             if r["claim_median_s"] is not None),
                            "gc_full": sum(r["gc_full"] for r in rows),
                            "gc_full_cpu_s": sum(r["gc_full_cpu_s"] for r in rows),
                            "raw": rows, "note": runners[name].note,
                            "events_per_pass": runners[name].events / max(1, warmup + reps)}
                     for name, rows in results.items()},
        "maxrss_mb": maxrss_mb(),
    }


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
