"""Summarise a native-aware profile of the traced or audited pass (``py-spy --native``).

    py-spy record --native -r 250 -f raw -o prof.txt --pid PID   # a scenario child, after setup
    .venv/bin/python -m benchmarks.native_profile prof.txt

Each sample is charged to the innermost Python frame on its stack: ``auditor``
(our hooks, checks, tracer; with the native frames below it, e.g. structlog's
JSON or ``os.write``), ``wrapt`` (its Python fallback, if any), or the audited
code. Samples whose native leaf frames are in wrapt's C extension under
audited code (a proxied container or wrapped function forwarding) are counted
apart: they are the cost a Python-frame profile cannot see.
"""

from __future__ import annotations

import collections
import sys

__all__ = ["summarise"]

_OURS = ("auditor/", "wrapt/", "structlog/")


def _python(frame: str) -> str | None:
    """``file:line`` of a Python frame (``func (file.py:12)``), else None (native)."""
    if not frame.endswith(")") or ".py:" not in frame:
        return None
    return frame[frame.rfind("(") + 1:-1]


def summarise(lines) -> dict:
    """Samples by owner and the auditor's innermost functions, from py-spy raw lines."""
    owners: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        inner = next((i for i in range(len(frames) - 1, -1, -1) if _python(frames[i])), None)
        if inner is None:
            owners["native only"] += n
            continue
        where = _python(frames[inner])
        above = [_python(f) or "" for f in frames[:inner]]
        if where.startswith(_OURS) and (not where.startswith("structlog/")
                                        or any(a.startswith("auditor/") for a in above)):
            owners["auditor (innermost Python frame ours)"] += n
            ours[frames[inner]] += n
        elif any("_wrappers" in f for f in frames[inner + 1:]):
            owners["wrapt C extension under audited code"] += n
        else:
            owners["audited code and libraries"] += n
    return {"total": total, "owners": dict(owners), "ours": ours.most_common(15)}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m benchmarks.native_profile PY_SPY_RAW_FILE\n")
        return 2
    with open(argv[0]) as f:
        res = summarise(f)
    total = max(1, res["total"])
    print(f"{res['total']} samples")
    for owner, n in sorted(res["owners"].items(), key=lambda kv: -kv[1]):
        print(f"  {n / total:7.2%}  {n:>7}  {owner}")
    print("innermost auditor frames:")
    for frame, n in res["ours"]:
        print(f"  {n / total:7.2%}  {n:>7}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
