"""The claims view: what a static review of the tracker asserts, and the runtime verdict on each.

A claim is refuted by any finding that speaks against it. It is upheld only with coverage
behind it: at least ``MIN_EVENTS`` events of the kinds that exercise it and at least
``UPHELD_SHARE`` of its reachable sites, calls or entry points run. Less coverage is
"partly exercised", none "not exercised". A claim whose evidence is known to be
incomplete (``cap``, or a hook surface no run installed: ``auditor trace --surfaces``) is
at most "partly exercised", and says why.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from auditor.events import SURFACE_NAMES, SURFACE_OF
from auditor.nova.reachable import UNREACHABLE

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["Claim", "REVIEW_CLAIMS", "evaluate", "unhooked", "render", "render_markdown", "render_json", "UPHELD",
           "REFUTED", "PARTLY", "NOT_EXERCISED", "UPHELD_SHARE", "MIN_EVENTS"]

UPHELD, REFUTED, PARTLY, NOT_EXERCISED = "upheld", "refuted", "partly exercised", "not exercised"
UPHELD_SHARE = 0.8
MIN_EVENTS = 2

#: Where an exception from an external call surfaces (placement client, Ironic driver).
_EXTERNAL_PATHS = ("nova/scheduler/client/report.py", "nova/virt/ironic/")
_EXTERNAL_EXC = ("openstack.", "keystoneauth1.", "ironicclient.", "requests.",
                 "nova.exception.ResourceProvider", "nova.exception.Placement")
#: Report coverage sections, as a reviewer names them.
_SECTIONS = {"log_call_sites": "tracker LOG call sites",
             "ironic_log_call_sites": "Ironic driver LOG call sites",
             "synchronized_entry_points": "entry points under the semaphore",
             "report_client_calls": "report client calls the tracker makes",
             "scanned_modules": "modules whose loaded code was scanned",
             "endpoints": "peers reached over the wire (placement, Ironic, database, "
                          "message bus)"}
#: Facts shown with a claim but not counted in its share.
_FACTS = {"channels": "channel", "bad_inputs": "planted malformed input"}


def _external_exception(f: Mapping[str, Any]) -> bool:
    exc = str(f.get("evidence", {}).get("exception", ""))
    return (f["location"]["path"].startswith(_EXTERNAL_PATHS)
            or exc.startswith(_EXTERNAL_EXC))


def _refutes_external(f: Mapping[str, Any]) -> bool:
    """Channel findings, I/O under the lock, failures of external calls escaping, and
    malformed Ironic responses used without validation (not a claim's own arguments)."""
    category = f["category"]
    return (category in ("external-call", "lock-io")
            or (category == "leaked-exception" and _external_exception(f))
            or (category == "input-validation"
                and not str(f.get("evidence", {}).get("input", "")).startswith("instance.")))


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a review: which findings refute it, which events and coverage exercise it."""

    area: str
    claim: str
    refutes: Callable[[Mapping[str, Any]], bool]
    exercised_by: tuple[str, ...]   # event types
    coverage: tuple[str, ...]       # report coverage sections (reachable totals)
    cap: str = ""                   # why it can be at most partly exercised (evidence missing)
    every: bool = False             # upheld only if every event type of exercised_by ran
    facts: tuple[str, ...] = ()     # coverage sections shown as facts (``_FACTS``)


REVIEW_CLAIMS: tuple[Claim, ...] = (
    Claim("logging of sensitive data", "Nothing sensitive is logged.",
          lambda f: f["category"] == "sensitive-log", ("LogEvent",),
          ("log_call_sites", "ironic_log_call_sites")),
    Claim("exception handling", "Exceptions are handled: none escapes a tracker entry point "
          "unexpectedly or carries a secret.", lambda f: f["category"] == "leaked-exception",
          ("EntryEvent", "ExitEvent"), ("synchronized_entry_points",)),
    Claim("input validation", "Input needs no further validation (no external user input).",
          lambda f: f["category"] == "input-validation", ("BadInput",), (),
          "only planted malformed input (scenarios) exercises it, and the reachable total of "
          "malformed inputs is not measured", facts=("bad_inputs",)),
    Claim("locking", "Locks are used properly: shared tracker state only under the semaphore, "
          "no lock cycles, leaks or starvation.",
          lambda f: f["category"] == "unheld-lock" or f["category"].startswith("lock-"),
          ("LockEvent", "StateAccess"), ("synchronized_entry_points",)),
    Claim("hard-coded sensitive values", "No hard-coded sensitive values.",
          lambda f: f["category"] == "hard-coded", ("LoadedCode", "WireEvent"),
          ("scanned_modules", "endpoints"), every=True),
    Claim("external calls", "External calls (scheduler client, Ironic) are as secure as their "
          "channels.", _refutes_external, ("CallEvent", "WireEvent"),
          ("report_client_calls", "endpoints"), every=True, facts=("channels",)),
)


def _unreachable(name: str, report: Mapping[str, Any]) -> frozenset[str]:
    """Ids of coverage section ``name`` this run could not reach: nova's (``UNREACHABLE``),
    and the Ironic endpoint when Ironic was the in-process simulator (no wire)."""
    never = UNREACHABLE.get(name, frozenset())
    ironic = report.get("target", {}).get("ironic")
    if name == "endpoints" and isinstance(ironic, Mapping) and ironic.get("backend") == "sim":
        never = never | {"ironic"}
    return never


def _coverage(claim: Claim, report: Mapping[str, Any]) -> list[dict]:
    out = []
    for name in claim.coverage:
        entry = report.get("coverage", {}).get(name)
        if isinstance(entry, Mapping) and entry.get("total"):
            never = set(entry.get("ids_missed", ())) & _unreachable(name, report)
            total = int(entry["total"]) - len(never)
            if total:
                out.append({"section": name, "label": _SECTIONS[name], "hit": int(entry["hit"]),
                            "total": total, "unreachable": len(never),
                            "ids_hit": list(entry.get("ids_hit", ()))})
    return out


def unhooked(report: Mapping[str, Any]) -> set[str]:
    """Hook surfaces no run installed: each run's ``surfaces`` (a trace made with
    ``auditor trace --surfaces``) leaves the others off; a run without it hooked all."""
    runs = report.get("runs") or [{}]
    return set.intersection(*(set(SURFACE_NAMES) - set(run.get("surfaces", SURFACE_NAMES))
                              for run in runs))


def _verdict(claim: Claim, hits: list, counts: Mapping[str, int], covered: list[dict],
             share: float | None, blind: list[str]) -> tuple[str, str]:
    """The verdict and the sentence that explains it (``blind``: its surfaces not hooked)."""
    events = sum(counts.values())
    off = f"{', '.join(blind)} not hooked (auditor trace --surfaces)" if blind else ""
    if hits:
        return REFUTED, f"{len(hits)} finding(s) refute it"
    if not events and not any(c["hit"] for c in covered):
        return NOT_EXERCISED, off or "no runtime evidence reached it"
    shortfalls = [off] if blind else []
    if events < MIN_EVENTS:
        shortfalls.append(f"{events} event(s), fewer than {MIN_EVENTS}")
    if claim.every and (absent := [k for k, n in counts.items() if not n]):
        shortfalls.append(f"no {' or '.join(absent)} ran")
    if share is None:
        shortfalls.append("no reachable total is measured")
    elif share < UPHELD_SHARE:
        shortfalls.append(f"{share:.0%} of the reachable total ran, below {UPHELD_SHARE:.0%}")
    if claim.cap:
        shortfalls.append(claim.cap)
    if shortfalls:
        return PARTLY, "; ".join(shortfalls)
    return UPHELD, f"no finding, {share:.0%} of the reachable total ran over {events} events"


def evaluate(report: Mapping[str, Any]) -> list[dict]:
    """One verdict per claim, with the coverage and findings behind it."""
    counts = report.get("summary", {}).get("events", {})
    off = unhooked(report)
    out = []
    for claim in REVIEW_CLAIMS:
        hits = [f for f in report.get("findings", []) if claim.refutes(f)]
        events = {name: int(counts.get(name, 0)) for name in claim.exercised_by}
        covered = _coverage(claim, report)
        total = sum(c["total"] for c in covered)
        share = sum(c["hit"] for c in covered) / total if total else None
        blind = sorted({s for e in claim.exercised_by if (s := SURFACE_OF.get(e)) in off})
        verdict, reason = _verdict(claim, hits, events, covered, share, blind)
        out.append({"area": claim.area, "claim": claim.claim, "verdict": verdict,
                    "reason": reason, "share": None if share is None else round(share, 3),
                    "coverage": covered, "events": events, "findings": len(hits),
                    "facts": {name: list(report.get("coverage", {}).get(name, {})
                                         .get("ids_hit", ())) for name in claim.facts},
                    "occurrences": sum(f.get("count", 1) for f in hits),
                    "rules": sorted({f["rule"] for f in hits}),
                    "fingerprints": [f["fingerprint"] for f in hits],
                    "refuting": [{"rule": f["rule"], "severity": f["severity"],
                                  "message": f["message"], "location": f["location"],
                                  "fingerprint": f["fingerprint"]} for f in hits]})
    return out


def _coverage_lines(row: Mapping[str, Any]) -> list[str]:
    lines = [f"{c['hit']}/{c['total']} reachable {c['label']}"
             f"{f' ({u} unreachable with Ironic left out)' if (u := c['unreachable']) else ''}: "
             f"{', '.join(c['ids_hit']) or 'none'}" for c in row["coverage"]]
    events = ", ".join(f"{k} {v}" for k, v in row["events"].items())
    facts = [f"{_FACTS[name]}: {item}" for name, items in row.get("facts", {}).items()
             for item in items]
    return lines + [f"events: {events}"] + facts


def _where(f: Mapping[str, Any]) -> str:
    loc = f["location"]
    return f"{loc['path']}:{loc['line']} {loc['function']}"


def render(report: Mapping[str, Any], traces: "Sequence[Trace]" = ()) -> str:
    """Plain text: each claim's wording, its verdict and why, its coverage and findings."""
    lines = ["Claims of a static review, checked against runtime evidence", ""]
    for row in evaluate(report):
        lines.append(f"{row['verdict'].upper():17} {row['claim']}")
        lines.append(f"{'':19}why: {row['reason']}")
        lines += [f"{'':19}{text}" for text in _coverage_lines(row)]
        lines += [f"{'':19}- {f['severity'].upper()} {f['rule']} {_where(f)}: {f['message']}"
                  for f in row["refuting"]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Mapping[str, Any], traces: "Sequence[Trace]" = ()) -> str:
    """Markdown for a code review: a table of claim | verdict | evidence, then the findings."""
    lines = ["## Review claims, checked at runtime", "",
             "| Claim | Verdict | Evidence |", "|---|---|---|"]
    details = []
    for row in evaluate(report):
        evidence = "<br>".join(_cell(t) for t in [row["reason"], *_coverage_lines(row)])
        lines.append(f"| {_cell(row['claim'])} | **{row['verdict']}** | {evidence} |")
        if row["refuting"]:
            details += [f"### Refuting: {row['area']}", ""]
            details += [f"- **{f['severity']}** `{f['rule']}` `{_where(f)}`: "
                        f"{_cell(f['message'])}" for f in row["refuting"]]
            details.append("")
    return "\n".join(lines + [""] + details).rstrip() + "\n"


def render_json(report: Mapping[str, Any], traces: "Sequence[Trace]" = ()) -> str:
    """The verdicts as JSON: ``{"claims": [...]}``, one object per claim."""
    return json.dumps({"claims": evaluate(report)}, indent=2, ensure_ascii=False) + "\n"
