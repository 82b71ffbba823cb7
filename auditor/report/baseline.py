"""Baselines: known findings, each with a reason; applied to a report, only new findings count.

A baseline file (``auditor.baseline/1``, JSON) lists findings by fingerprint,
with their rule and location for people and a ``reason`` to be filled in.
Applying it marks the findings it knows (``"baseline": {"reason": ...}``), so
``model.failing`` skips them, and records in the report's ``baseline`` section
how many are new and which entries were not seen (stale: fixed, or not reached).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from auditor.report.gate import allow
from auditor.report.model import read_json

__all__ = ["SCHEMA", "DEFAULT_REASON", "BaselineError", "create", "dumps", "load", "apply",
           "apply_known"]

SCHEMA = "auditor.baseline/1"
DEFAULT_REASON = "known when the baseline was recorded; not yet triaged"
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


class BaselineError(ValueError):
    """A baseline file that cannot be used: one line naming the file and the key."""


def create(reports: Iterable[Mapping[str, Any]], reason: str = DEFAULT_REASON) -> dict:
    """A baseline of every finding in ``reports`` (deduplicated, ordered by fingerprint)."""
    entries: dict[str, dict] = {}
    for report in reports:
        for f in report["findings"]:
            entries.setdefault(f["fingerprint"], {
                "fingerprint": f["fingerprint"], "rule": f["rule"],
                "location": dict(f["location"]),
                "reason": f.get("baseline", {}).get("reason", reason)})
    return {"schema": SCHEMA, "findings": [entries[k] for k in sorted(entries)]}


def dumps(baseline: Mapping[str, Any]) -> str:
    """The baseline file's text (indented JSON, one key order)."""
    return json.dumps(baseline, indent=2, ensure_ascii=False) + "\n"


def load(path: str | Path) -> dict:
    """Read and check a baseline file; ``BaselineError`` names the file and the bad key."""
    path = Path(path)
    data = read_json(path, BaselineError, "baseline", "write one with 'auditor baseline'")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(f"{path}: key 'schema': expected {SCHEMA!r}; write one with "
                            f"'auditor baseline'")
    entries = data.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: key 'findings': expected a list")
    for n, entry in enumerate(entries):
        where = f"{path}: key 'findings[{n}]"
        if not isinstance(entry, dict):
            raise BaselineError(f"{where}': expected an object")
        if not _FINGERPRINT.match(str(entry.get("fingerprint", ""))):
            raise BaselineError(f"{where}.fingerprint': expected 16 hex digits")
        if not isinstance(entry.get("rule"), str):
            raise BaselineError(f"{where}.rule': expected a rule id")
        if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
            raise BaselineError(f"{where}.reason': every baseline entry needs a reason")
    return data


def apply(report: Mapping[str, Any], baseline: Mapping[str, Any], path: str) -> dict:
    """A copy of ``report`` with the baseline's findings marked and a ``baseline`` section."""
    out = copy.deepcopy(dict(report))
    known = {e["fingerprint"]: e for e in baseline["findings"]}
    seen: set[str] = set()
    for f in out["findings"]:
        entry = known.get(f["fingerprint"])
        if entry is not None:
            f["baseline"] = {"reason": entry["reason"]}
            seen.add(f["fingerprint"])
    stale = [{"fingerprint": e["fingerprint"], "rule": e["rule"],
              "location": dict(e.get("location") or {"path": "?", "line": 0, "function": "?"}),
              "reason": e["reason"]}
             for fp, e in known.items() if fp not in seen]
    out["baseline"] = {"path": str(path), "new": len(out["findings"]) - len(seen),
                       "baselined": len(seen), "stale": stale}
    return out


def apply_known(report: Mapping[str, Any], conf) -> dict:
    """``report`` with the configuration's allow entries and baseline applied (``conf``: an
    ``auditor.config.Config``); ``BaselineError`` if the baseline does not load."""
    out = dict(report)
    if conf["allow"]:
        out = allow(out, conf["allow"], conf.source("allow"))
    if conf["baseline"]:
        out = apply(out, load(conf["baseline"]), conf["baseline"])
    return out
