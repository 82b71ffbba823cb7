"""The timeline of traces: trace-event ``X`` spans (lock waits and holds, calls, entry points)."""

from __future__ import annotations

from typing import Iterable

from auditor.tracing.trace_file import Trace

__all__ = ["trace_events"]

def _us(trace: Trace, t: float) -> float:
    """Monotonic seconds of ``trace`` -> wall-clock microseconds (one axis for all processes)."""
    return round((trace.wall0 + (t - trace.t0)) * 1e6, 3)


def _complete(trace: Trace, name: str, cat: str, t: float, dur_s: float, tid: int,
              args: dict) -> dict:
    return {"name": name, "cat": cat, "ph": "X", "ts": _us(trace, t),
            "dur": round(max(dur_s, 0.0) * 1e6, 3), "pid": trace.pid, "tid": tid, "args": args}


def _site(record: dict) -> str:
    site = record.get("site") or {}
    return f"{site.get('path', '?')}:{site.get('line', 0)} {site.get('function', '?')}"


def trace_events(traces: Iterable[Trace]) -> list[dict]:
    """``X`` (complete) events per span plus ``M`` process/thread names, sorted by time."""
    events: list[dict] = []
    meta: list[dict] = []
    for trace in traces:
        meta.append({"name": "process_name", "ph": "M", "ts": 0, "pid": trace.pid, "tid": 0,
                     "args": {"name": f"{trace.program} ({trace.pid})"}})
        threads: dict[int, str] = {}
        for r in trace.spans:
            tid = int(r.get("owner", 0))
            threads.setdefault(tid, str(r.get("thread", tid)))
            kind = r["event"]
            if kind == "lock":
                if r.get("wait_s", 0.0) > 0:
                    events.append(_complete(trace, f"wait {r['name']}", "lock-wait",
                                            r["t"] - r["wait_s"], r["wait_s"], tid,
                                            {"site": _site(r)}))
                events.append(_complete(trace, f"hold {r['name']}", "lock", r["t"],
                                        r.get("hold_s", 0.0), tid,
                                        {"site": _site(r), "wait_s": r.get("wait_s", 0.0)}))
            elif kind == "call":
                events.append(_complete(trace, f"{r['surface']} {r['name']}", r["surface"],
                                        r["t"], r.get("dur_s", 0.0), tid,
                                        {"site": _site(r), "exception": r.get("exc"),
                                         "locks_held": r.get("held", [])}))
            elif kind == "entry":
                events.append(_complete(trace, f"ResourceTracker.{r['name']}", "entry-point",
                                        r["t"], r.get("dur_s", 0.0), tid,
                                        {"exception": r.get("exc")}))
        meta += [{"name": "thread_name", "ph": "M", "ts": 0, "pid": trace.pid, "tid": tid,
                  "args": {"name": name}} for tid, name in sorted(threads.items())]
    events.sort(key=lambda e: (e["ts"], -e["dur"]))
    return meta + events
