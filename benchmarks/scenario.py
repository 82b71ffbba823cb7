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
the ``attribution`` section). ``hooks`` (an experiment) is ``trace`` whose ``Recorder.emit``
discards every event: the hooks build each one, nothing is handed over (no buffer, tracer,
judging or trace file): what recording alone costs. ``NAME#K`` is variant NAME again under
another name (an A/A control: ``plain#2`` measured against ``plain``).

``"serve": true`` makes this a ``benchmarks.sliced`` worker instead: it prepares, then
runs one pass for each variant name it reads on stdin.

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
KINDS = (*VARIANTS, "hooks")     # ``hooks``: an experiment, never a default


class _Variant:
    """Start/stop one way of running the pass."""

    def __init__(self, name: str, work: Workload, canaries, tmp: str,
                 interval_s: float | None = None):
        self.name = name
        self.interval_s = interval_s
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

        kind, _, surface = self.name.partition("#")[0].partition(":")
        surfaces = (surface,) if surface else None
        if kind == "audit":
            self.session = AuditSession(AuditConfig(surfaces=surfaces),
                                        canaries=self.canaries).start()
            self.session.adopt(self.work.rt)
            self.session.begin_run("bench")
        elif kind in ("trace", "hooks"):
            from auditor.tracing import tracer

            # as ``auditor trace`` runs it, with the benchmark's canaries (live mode: the config's)
            self.tracer = tracer.Tracer(os.path.join(self.tmp, "trace-{pid}.jsonl"), "bench",
                                       interval_s=self.interval_s or tracer.DEFAULT_INTERVAL_S,
                                       surfaces=surfaces).start(self.canaries)
            self.session = self.tracer.session
            self.note = ("auditor.tracing.tracer.Tracer: log records as emitted (root at INFO), "
                         "trace file")
            self.session.adopt(self.work.rt)
            if kind == "hooks":
                self.session._installation._rec.emit = _discard
                self.note = "tracing's hooks; Recorder.emit discards every event"

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


def _discard(event) -> None:
    """The ``hooks`` variant's ``Recorder.emit``."""


def prepare(params: dict):
    """The workload, first periodic done, and one ``_Variant`` per name in ``params``."""
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry, from_config

    nodes = int(params.get("nodes", 100))
    canaries = CanaryRegistry()
    t0 = time.perf_counter()
    work = Workload(nodes, claimers=int(params.get("claimers", 16)), plant=canaries.plant,
                    cycles=int(params.get("cycles", 3)), db=params.get("db", "sqlite"))
    canaries.update(from_config(work.env.conf))
    work.prepare_claims()
    setup_s = time.perf_counter() - t0
    say(f"{mode.current()}: {nodes} nodes enrolled in {setup_s:.1f}s; first periodic ...")
    work.first_periodic()
    say(f"first periodic {work.first_s:.1f}s")
    tmp = tempfile.mkdtemp(prefix="bench-trace-")
    interval_s = float(params.get("interval_s", 0)) or None
    return work, {name: _Variant(name, work, canaries, tmp, interval_s)
                  for name in params.get("variants", VARIANTS)}


def measure(runner: _Variant, serial: bool, full: FullCollections, collector: bool = True) -> dict:
    """One pass under ``runner``: its figures, garbage collections and events. Without
    ``collector`` (an experiment: what the variant costs beside the collections it causes)
    the collector is off during the pass and collects everything before it."""
    events = runner.events
    runner.start()
    if not collector:
        gc.collect()
        gc.disable()
    full.reset()
    try:
        res = runner.work.serial_pass() if serial else runner.work.contended_pass()
    finally:
        full.on = False
        gc.enable()
        runner.stop()
    res.update(gc_full=full.count, gc_full_cpu_s=full.cpu_s, gc_cpu_s=full.all_cpu_s,
               load=loadavg(),
               events=runner.events - events, variant=runner.name, maxrss_mb=maxrss_mb())
    return res


def shaped(params: dict, rows: list[dict], notes: dict[str, str], first_s: float) -> dict:
    """The result: ``rows`` (one per measured pass, with ``variant``) summarised per variant."""
    by_name: dict[str, list[dict]] = {name: [] for name in notes}
    for row in rows:
        by_name[row["variant"]].append(row)
    return {
        "mode": params.get("mode", "threading"), "nodes": int(params.get("nodes", 100)),
        "claimers": int(params.get("claimers", 16)), "cycles": int(params.get("cycles", 3)),
        "serial": bool(params.get("serial")), "sliced": bool(params.get("sliced")),
        "reps": int(params.get("reps", 3)), "warmup": int(params.get("warmup", 1)),
        "first_periodic_plain_s": first_s,
        "variants": {name: {"wall": summary(r["wall_s"] for r in rows),
                            "periodic": summary(r["periodic_s"] for r in rows),
                            "cpu": summary(r["cpu_s"] for r in rows),
                            "claim": summary(r["claim_median_s"] for r in rows
                                             if r["claim_median_s"] is not None),
                            "gc_full": sum(r["gc_full"] for r in rows),
                            "gc_full_cpu_s": sum(r["gc_full_cpu_s"] for r in rows),
                            "gc_cpu_s": sum(r.get("gc_cpu_s", 0.0) for r in rows),
                            "raw": rows, "note": notes[name],
                            "events_per_pass": summary(r["events"] for r in rows)["median"]}
                     for name, rows in by_name.items()},
        "maxrss_mb": max((r["maxrss_mb"] for r in rows), default=float("nan")),
    }


def say_pass(label: str, res: dict) -> None:
    say(f"{label} {res['variant']:<19} wall {res['wall_s']:.2f}s cpu {res['cpu_s']:.2f}s "
        f"claims {res['claims']} full GCs {res['gc_full']} ({res['gc_full_cpu_s']:.2f}s; "
        f"all GCs {res['gc_cpu_s']:.2f}s) "
        f"load {res['load']}" + (f" errors {res['errors']}" if res["errors"] else ""))


def main(params: dict) -> dict:
    """Every variant once per repetition, in one process, the order rotating."""
    reps, warmup = int(params.get("reps", 3)), int(params.get("warmup", 1))
    serial = bool(params.get("serial"))
    work, runners = prepare(params)
    variants = tuple(runners)
    rows: list[dict] = []
    full = FullCollections()   # whichever pass a full collection lands in pays for all of it
    gc.callbacks.append(full)
    for rep in range(warmup + reps):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for name in order:
            res = measure(runners[name], serial, full, params.get("gc", "on") != "off")
            res["rep"] = rep - warmup
            if rep >= warmup:
                rows.append(res)
            say_pass(f"rep {rep - warmup:>2}", res)
    gc.callbacks.remove(full)
    return shaped(params, rows, {name: r.note for name, r in runners.items()}, work.first_s)


def serve(params: dict) -> None:
    """A ``benchmarks.sliced`` worker: prepare, say ready, then run one pass per variant
    name read from stdin and emit its figures, until stdin ends."""
    serial = bool(params.get("serial"))
    work, runners = prepare(params)
    full = FullCollections()
    gc.callbacks.append(full)
    emit({"ready": True, "first_periodic_plain_s": work.first_s,
          "notes": {name: r.note for name, r in runners.items()}})
    for line in sys.stdin:
        res = measure(runners[line.strip()], serial, full, params.get("gc", "on") != "off")
        emit(res)

if __name__ == "__main__":
    _params = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    serve(_params) if _params.get("serve") else emit(main(_params))
