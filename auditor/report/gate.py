"""The CI gate: one ``--fail-on`` default for every door, and which findings count toward it.

Default ``medium`` for ``auditor run``, ``auditor report`` and ``pytest --audit``
alike: medium findings (I/O under the semaphore, long waits, usage numbers that
disagree, unavailable nodes offered) are defects worth a red build; findings already known go into a
baseline or an allow entry with a reason instead of under a laxer threshold;
``low`` (informational) findings never fail by default. ``model.failing`` applies it.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

__all__ = ["DEFAULT_FAIL_ON", "counts", "allow"]

DEFAULT_FAIL_ON = "medium"


def counts(finding: Mapping[str, Any]) -> bool:
    """Whether the finding counts toward the gate: not baselined, not allowed by configuration."""
    return "baseline" not in finding and "allowed" not in finding


def allow(report: Mapping[str, Any], entries: Iterable[Mapping[str, str]], source: str) -> dict:
    """A copy of ``report`` whose findings covered by an allow entry (its ``rule`` a rule id or
    a category) are marked ``"allowed": {"reason", "source"}``; the first matching entry wins.
    """
    out = copy.deepcopy(dict(report))
    entries = list(entries)
    for f in out["findings"]:
        for entry in entries:
            if entry["rule"] in (f["rule"], f["category"]):
                f["allowed"] = {"reason": entry["reason"], "source": source}
                break
    return out

