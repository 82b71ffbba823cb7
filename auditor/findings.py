"""Findings, rules, severities, fingerprints and the redaction of evidence."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Mapping

from auditor.events import Site

__all__ = ["Severity", "FAIL_ON", "severity_order", "at_or_above", "Rule", "Finding", "redact"]


class Severity(str, enum.Enum):
    """Highest first: the order of reports and of ``--fail-on``."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: ``--fail-on`` / ``--audit-fail-on`` choices: a severity, or never fail.
FAIL_ON = tuple(s.value for s in Severity) + ("never",)
_ORDER = {s.value: i for i, s in enumerate(Severity)}


def severity_order(severity: str) -> int:
    """Sort key of a severity name: high first, unknown names last."""
    return _ORDER.get(severity, len(_ORDER))


def at_or_above(severity: str, fail_on: str) -> bool:
    """Whether a finding of ``severity`` fails a run with ``--fail-on fail_on``."""
    return fail_on != "never" and severity_order(severity) <= _ORDER[fail_on]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A rule's catalogue entry: stable id ``category/name``, severity, one-line title."""

    id: str
    severity: Severity
    title: str
    help: str = ""

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One piece of evidence against a claim about the tracker.

    ``evidence`` must never hold a secret: use ``redact``.
    ``key`` distinguishes findings of one rule at one site (e.g. the canary's source).
    """

    rule: Rule
    message: str
    site: Site
    evidence: Mapping[str, str] = dataclasses.field(default_factory=dict)
    key: str = ""
    run: str = ""

    @property
    def category(self) -> str:
        return self.rule.category

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def fingerprint(self) -> str:
        """Stable across runs: rule, place (not line: lines move between versions), key."""
        raw = "\x1f".join((self.rule.id, self.site.path, self.site.function, self.key))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def redact(text: str, secrets: Mapping[str, str], limit: int = 240) -> str:
    """``text`` with every secret (value -> source name) replaced by ``[SECRET:source]``."""
    for value, source in sorted(secrets.items(), key=lambda kv: -len(kv[0])):
        if value:
            text = text.replace(value, f"[SECRET:{source}]")
    return text if len(text) <= limit else text[: limit - 1] + "…"
