"""The claims view: what a static review of the tracker asserts, and the runtime verdict on each."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["Claim", "REVIEW_CLAIMS", "evaluate", "render", "UPHELD", "REFUTED", "NOT_EXERCISED"]

UPHELD, REFUTED, NOT_EXERCISED = "upheld", "refuted", "not exercised"

#: Where an exception from an external call surfaces (placement client, Ironic driver).
_EXTERNAL_PATHS = ("nova/scheduler/client/report.py", "nova/virt/ironic/")
_EXTERNAL_EXC = ("openstack.", "keystoneauth1.", "ironicclient.", "requests.",
                 "nova.exception.ResourceProvider", "nova.exception.Placement")


def _external_exception(f: Mapping[str, Any]) -> bool:
    exc = str(f.get("evidence", {}).get("exception", ""))
    return (f["location"]["path"].startswith(_EXTERNAL_PATHS)
            or exc.startswith(_EXTERNAL_EXC))


@dataclasses.dataclass(frozen=True)
class Claim:
    """One area a static review speaks to: its claim, which findings refute it, what exercises it."""

    area: str
    claim: str
    refutes: Callable[[Mapping[str, Any]], bool]
    exercised_by: tuple[str, ...]   # event types; any of them > 0 means the area ran
    note: str = ""


REVIEW_CLAIMS: tuple[Claim, ...] = (
    Claim("logging of sensitive data", "no secret reaches a log record",
          lambda f: f["category"] == "sensitive-log", ("LogEvent",)),
    Claim("exception handling", "exceptions are handled; none escapes a tracker entry point "
          "unexpectedly or carries a secret", lambda f: f["category"] == "leaked-exception",
          ("ExitEvent", "EntryEvent")),
    Claim("input validation", "malformed Ironic or claim input is rejected or skipped",
          lambda f: f["category"] == "input-validation", ("BadInput",),
          "exercised only where bad input was planted (scenarios); live traces cannot tell"),
    Claim("locking", "shared tracker state is only touched under the semaphore; no lock "
          "cycles, leaks or starvation",
          lambda f: f["category"] == "unheld-lock" or f["category"].startswith("lock-"),
          ("LockEvent", "StateAccess")),
    Claim("hard-coded secrets", "no hard-coded credential is used",
          lambda f: f["rule"] == "sensitive-log/pattern", (),
          "runtime evidence can refute (a secret-shaped value with no known source reached a "
          "log) but never uphold this claim"),
    Claim("external calls", "placement and Ironic calls are safe: not under the semaphore, "
          "their failures handled",
          lambda f: f["category"] == "lock-io" or (
              f["category"] == "leaked-exception" and _external_exception(f)),
          ("CallEvent",)),
)


def evaluate(report: Mapping[str, Any]) -> list[dict]:
    """One verdict per claim: refuted (findings), upheld (exercised, no finding), not exercised."""
    events = report.get("summary", {}).get("events", {})
    out = []
    for claim in REVIEW_CLAIMS:
        hits = [f for f in report.get("findings", []) if claim.refutes(f)]
        counts = {name: int(events.get(name, 0)) for name in claim.exercised_by}
        if hits:
            verdict = REFUTED
        elif any(counts.values()):
            verdict = UPHELD
        else:
            verdict = NOT_EXERCISED
        out.append({"area": claim.area, "claim": claim.claim, "verdict": verdict,
                    "findings": len(hits), "occurrences": sum(f.get("count", 1) for f in hits),
                    "events": counts, "rules": sorted({f["rule"] for f in hits}),
                    "fingerprints": [f["fingerprint"] for f in hits], "note": claim.note})
    return out


def render(report: Mapping[str, Any], traces: "Sequence[Trace]" = ()) -> str:
    """A plain-text table of the verdicts, each refuted claim followed by its findings."""
    lines = ["Claims of a static review, checked against runtime evidence", ""]
    by_fp = {f["fingerprint"]: f for f in report.get("findings", [])}
    for row in evaluate(report):
        events = ", ".join(f"{k} {v}" for k, v in row["events"].items()) or "no runtime signal"
        lines.append(f"{row['verdict'].upper():14} {row['area']}: {row['claim']}")
        lines.append(f"{'':14} {row['findings']} finding(s); events: {events}")
        for fp in row["fingerprints"]:
            f = by_fp[fp]
            loc = f["location"]
            lines.append(f"{'':16}- {f['rule']} [{fp}] {loc['path']}:{loc['line']} "
                         f"{loc['function']}")
        if row["note"]:
            lines.append(f"{'':14} note: {row['note']}")
    return "\n".join(lines)
