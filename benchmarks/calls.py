"""Child: the Python calls each hook surface adds to a pass, counted (cProfile), not timed.

The attribution's work measure for a shared machine, where CPU time moves with
the load: the same pass (one steady periodic, then every claimer's
claim+abort cycles one after another, all on the profiled main thread) is run
plain and under each variant of ``benchmarks.scenario`` (``trace``,
``trace:SURFACE``, ``audit``, ``audit:SURFACE``); after one unmeasured
repetition per variant (first-use costs), the next one is counted. Prints the
calls added over plain, in total and in the auditor's own code.

Also per variant: how often the session judged (``AuditSession.fresh`` and ``_drain``
calls) and the auditor's functions with the most calls (``top``, default 8), to find the
next cost to cut.

``"contended": true`` (eventlet mode only) counts the scenario's contended pass instead:
the periodic and the claimers as greenthreads, all on the profiled OS thread, so every
call of the pass is counted, as the budgets' pass interleaves them.

Usage: python -m benchmarks.calls '{"nodes": 10, "variants": ["plain", "trace"]}'
       python -m benchmarks.calls '{"mode": "eventlet", "contended": true, "nodes": 50,
                                    "claimers": 16, "cycles": 3}'
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import tempfile

from benchmarks.common import Workload, emit, say

OURS = ("/auditor/", "/wrapt/", "/structlog/")


#: Functions counted by name: the session's judgements.
JUDGED = (("auditor/session.py", "fresh"), ("auditor/session.py", "_drain"))


def _count(prof: cProfile.Profile, top: int) -> dict:
    """All calls, calls of functions in the auditor, wrapt or structlog, the ``JUDGED``
    functions' calls and the ``top`` auditor functions by calls (``path:line(name)``)."""
    total = ours = 0
    judged = dict.fromkeys((name for _, name in JUDGED), 0)
    mine: list[tuple[int, str]] = []
    for (path, line, name), row in pstats.Stats(prof).stats.items():
        total += row[1]
        if any(part in path for part in OURS):
            ours += row[1]
            mine.append((row[1], f"{path.rsplit('/auditor/', 1)[-1]}:{line}({name})"))
        for suffix, fn in JUDGED:
            if name == fn and path.endswith(suffix):
                judged[fn] += row[1]
    mine.sort(reverse=True)
    return {"calls": total, "ours": ours, "judged": judged,
            "top": [f"{n} {where}" for n, where in mine[:top]]}


def main(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from auditor.canaries import CanaryRegistry
    from auditor.hooks import SURFACES
    from benchmarks.scenario import _Variant

    surfaces = [s for s in SURFACES if s != "config"]
    variants = params.get("variants") or ["plain"] + [
        f"{k}{s}" for k in ("trace", "audit") for s in ("", *(":" + s for s in surfaces))]
    contended = bool(params.get("contended"))
    canaries = CanaryRegistry()
    work = Workload.counted(params, 10, canaries.plant)
    one_pass = work.counted_pass(contended)
    tmp = tempfile.mkdtemp(prefix="bench-calls-")
    counts = {}
    for rep in range(2):
        for name in variants:
            runner = _Variant(name, work, canaries, tmp)
            runner.start()
            prof = cProfile.Profile()
            try:
                prof.enable()
                one_pass()
            finally:
                prof.disable()
                runner.stop()
            if rep:
                counts[name] = c = _count(prof, int(params.get("top", 8)))
                say(f"{name:<20} calls {c['calls']:>9} (auditor, wrapt, structlog "
                    f"{c['ours']}); judged: fresh {c['judged']['fresh']}, "
                    f"_drain {c['judged']['_drain']}")
                for row in c["top"]:
                    say(f"    {row}")
    return {"nodes": work.nodes, "claimers": work.claimers, "cycles": work.cycles,
            "contended": contended, "counts": counts}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
