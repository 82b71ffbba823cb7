"""Child: the thread CPU each piece of the auditor takes inside a pass, timed where it runs.

``micro`` times an event in a tight loop, where the auditor's code and data stay in the
CPU's caches; in a pass nova's own work between two events evicts them, and an event costs
several times its ``micro`` figure. This times the pieces in the pass itself: every guarded
hook step (``auditor.hooks.recorder.guarded``: what a hook does beside the audited call,
handing its event on included), and inside them the hand-over (``Recorder.emit``: the
session's buffer, the tracer), the judging (``AuditSession._drain``), the tracer's
looking for findings at points between operations (``Tracer._announce``), its span
records (``SpanRecorder.observe``) and its span writes (``Tracer._write_spans``). Thread CPU
(``time.thread_time``, ~0.65 us per reading here) around each call; ``steps_s`` counts
only the outermost step of a nesting (a step inside another is in the other's time). Not
timed: the wrappers around the steps (wrapt's dispatch, the checks of ``rec.active``),
the recording proxies' forwarding.

Per variant (``trace``, ``audit``, ``trace:SURFACE``, ...), after one unmeasured pass: the
pass's process CPU, the steps' total, and each piece's calls and microseconds per call
(the ``top`` pieces by time, default 16). The workload's compute service is removed at
the end, so that later clusters in the same process get all their nodes.
The pass is ``benchmarks.calls``'s (serial; ``"contended": true``, eventlet only: the
scenario's contended pass, every greenthread on this OS thread, where the clock sees it).

Usage: python -m benchmarks.steps '{"nodes": 30}'
       python -m benchmarks.steps '{"mode": "eventlet", "contended": true, "nodes": 300,
                                    "claimers": 16, "cycles": 3}'
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import threading
import time
import types
from typing import Any, Callable

from benchmarks.common import Workload, emit, say

_clock = time.thread_time


class _Clocks:
    """Thread CPU per piece: ``inner`` every call, ``outer`` outermost guarded steps only."""

    def __init__(self):
        self.inner: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.outer = 0.0
        self._depth = threading.local()

    def reset(self) -> None:
        self.inner.clear()
        self.calls.clear()
        self.outer = 0.0

    def step(self, where: str, run: Callable[..., Any]) -> Callable[..., Any]:
        """The guarded step ``run`` (``guarded(where)``'s wrapper, errors handled there), timed."""
        depth, inner, calls = self._depth, self.inner, self.calls

        def timed(rec, *args):
            d = getattr(depth, "d", 0)
            depth.d = d + 1
            t0 = _clock()
            try:
                return run(rec, *args)
            finally:
                spent = _clock() - t0
                depth.d = d
                inner[where] += spent
                calls[where] += 1
                if d == 0:
                    self.outer += spent
        return timed

    def piece(self, owner: Any, attr: str, label: str) -> Callable[[], None]:
        """Time ``owner.attr`` (a function or method) as ``label``; returns the undo."""
        original = getattr(owner, attr)
        inner, calls = self.inner, self.calls

        def timed(*args, **kwargs):
            t0 = _clock()
            try:
                return original(*args, **kwargs)
            finally:
                inner[label] += _clock() - t0
                calls[label] += 1
        setattr(owner, attr, timed)
        return lambda: setattr(owner, attr, original)


def _guarded_steps() -> list[tuple[types.ModuleType, str, types.FunctionType]]:
    """Every module-level guarded step of the hook modules: ``(module, name, run)``."""
    import auditor.hooks  # noqa: F401 - imports every hook module

    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("auditor.hooks."):
            continue
        for attr, fn in vars(module).items():
            if (isinstance(fn, types.FunctionType) and fn.__code__.co_name == "run"
                    and hasattr(fn, "__wrapped__") and fn.__closure__
                    and set(fn.__code__.co_freevars) >= {"where", "default", "step"}):
                found.append((module, attr, fn))
    if not found:
        raise SystemExit("no guarded hook steps found: auditor.hooks.recorder.guarded changed?")
    return found


def install(clocks: _Clocks) -> tuple[int, Callable[[], None]]:
    """Replace every guarded step and the hand-over pieces with timed ones: how many steps,
    and the undo."""
    from auditor.hooks.recorder import Recorder
    from auditor.session import AuditSession
    from auditor.tracing.spans import SpanRecorder
    from auditor.tracing.tracer import Tracer

    steps = _guarded_steps()
    undo = [lambda m=module, a=attr, f=fn: setattr(m, a, f) for module, attr, fn in steps]
    for module, attr, fn in steps:
        where = fn.__closure__[fn.__code__.co_freevars.index("where")].cell_contents
        setattr(module, attr, clocks.step(where, fn))
    undo += [clocks.piece(Recorder, "emit", "hand-over (Recorder.emit)"),
             clocks.piece(AuditSession, "_drain", "judging (AuditSession._drain)"),
             clocks.piece(Tracer, "_announce", "tracer: findings at points (_announce)"),
             clocks.piece(SpanRecorder, "observe", "tracer: span records (SpanRecorder.observe)"),
             clocks.piece(Tracer, "_write_spans", "tracer: span writes (_write_spans)")]

    def undo_all() -> None:
        for step in reversed(undo):
            step()
    return len(steps), undo_all


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry

    clocks = _Clocks()
    n_steps, undo = install(clocks)   # the wrappers look their steps up when called
    work = None
    try:
        canaries = CanaryRegistry()
        work = Workload.counted(params, 30, canaries.plant)
        return _passes(params, clocks, n_steps, work, canaries)
    finally:
        if work is not None:
            work.cluster.close()   # its compute service would take nodes from later clusters
        undo()


def _passes(params: dict, clocks: _Clocks, n_steps: int, work: Workload, canaries) -> dict:
    """Two passes per variant, the second measured."""
    from benchmarks.scenario import _Variant

    variants = params.get("variants") or ["trace", "audit"]
    one_pass = work.counted_pass(bool(params.get("contended")))
    tmp = tempfile.mkdtemp(prefix="bench-steps-")
    top = int(params.get("top", 16))
    out = {}
    for rep in range(2):
        for name in variants:
            runner = _Variant(name, work, canaries, tmp)
            runner.start()
            clocks.reset()
            c0 = time.process_time()
            try:
                one_pass()
            finally:
                cpu = time.process_time() - c0
                runner.stop()
            if not rep:
                continue
            pieces = sorted(clocks.inner, key=lambda k: -clocks.inner[k])[:top]
            out[name] = {"pass_cpu_s": round(cpu, 3), "steps_s": round(clocks.outer, 4),
                         "pieces": {k: {"calls": clocks.calls[k],
                                        "s": round(clocks.inner[k], 4),
                                        "us_per_call": round(clocks.inner[k]
                                                             / clocks.calls[k] * 1e6, 1)}
                                    for k in pieces}}
            say(f"{name:<20} pass CPU {cpu:.2f} s, guarded steps {clocks.outer:.3f} s "
                f"({clocks.outer / cpu:.1%})")
            for k in pieces:
                row = out[name]["pieces"][k]
                say(f"    {row['s']:8.4f} s {row['calls']:7} calls "
                    f"{row['us_per_call']:8.1f} us  {k}")
    return {"nodes": work.nodes, "claimers": work.claimers, "cycles": work.cycles,
            "contended": bool(params.get("contended")), "guarded_steps": n_steps,
            "variants": out}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
