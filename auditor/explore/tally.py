"""What exploration keeps: per fingerprint the first schedule and how many found it; per
schedule its decision digest and counts; decision lists only of schedules that found something
new (memory stays bounded over many schedules)."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from auditor.explore.controller import Outcome
from auditor.explore.schedule import ScheduleId
from auditor.findings import Finding

__all__ = ["Tally"]


@dataclasses.dataclass
class _First:
    finding: Finding
    schedule: ScheduleId
    strategy: str
    controlled: float
    seen_in: int = 1


class Tally:
    """Findings and control figures over the schedules of one exploration."""

    def __init__(self) -> None:
        self.schedules = 0
        self.decisions = 0
        self.controlled = 0
        self.stalls = 0
        self.digests: dict[str, dict] = {}  # schedule id -> its digest, decisions, control
        self.kept: dict[str, Outcome] = {}   # schedule id -> its record (finders only)
        self._first: dict[str, _First] = {}

    def add(self, sid: ScheduleId, outcome: Outcome, findings: Iterable[Finding]) -> list[str]:
        """Count one schedule; returns the fingerprints it found first."""
        self.schedules += 1
        self.decisions += len(outcome.decisions)
        self.controlled += outcome.controlled
        self.stalls += outcome.stalls
        self.digests[str(sid)] = {"digest": outcome.digest, "decisions": len(outcome.decisions),
                                  "controlled": round(outcome.fraction, 4)}
        new = []
        for fp, finding in {f.fingerprint: f for f in findings}.items():
            first = self._first.get(fp)
            if first is None:
                self._first[fp] = _First(finding, sid, outcome.strategy, outcome.fraction)
                new.append(fp)
            else:
                first.seen_in += 1
        if new:
            self.kept[str(sid)] = outcome
        return new

    @property
    def fraction(self) -> float:
        return self.controlled / self.decisions if self.decisions else 0.0

    def findings(self) -> list[Finding]:
        """One finding per fingerprint, as its first schedule found it."""
        return [first.finding for first in self._first.values()]

    def first_schedules(self) -> dict[str, dict]:
        """Fingerprint -> its ``schedule`` field, for every finding."""
        return {fp: self.schedule_of(fp) for fp in self._first}

    def schedule_of(self, fingerprint: str) -> dict | None:
        """The report's ``schedule`` field for a finding."""
        first = self._first.get(fingerprint)
        if first is None:
            return None
        return {"id": str(first.schedule), "strategy": first.strategy,
                "seen_in": first.seen_in, "controlled": round(first.controlled, 4)}

    def summary(self) -> dict:
        """The run's ``explore`` section."""
        return {"schedules": self.schedules, "decisions": self.decisions,
                "controlled": round(self.fraction, 4), "controlled_decisions": self.controlled,
                "stalls": self.stalls,
                "distinct_decision_lists": len({d["digest"] for d in self.digests.values()}),
                "per_schedule": self.digests}
