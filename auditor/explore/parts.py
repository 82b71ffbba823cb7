"""Exploration split over processes: which schedules a part runs, and one report from the parts.

``--explore N --jobs J`` runs part ``k`` (0 <= k < J) in a process of its own:
schedules ``k``, ``k + J``, ``k + 2J``... Every schedule starts from the same
restored state (``fresh``), so the process it runs in does not change what it
does; merged, the parts' run entries and findings are what one process running
all N schedules in order would have reported.
"""

from __future__ import annotations

from typing import Any

from auditor.explore.schedule import ScheduleId

__all__ = ["indices", "schedule_keys", "merge_run", "merge_finding"]


def indices(explore: int, jobs: int = 1, part: int = 0) -> range:
    """The schedule indices part ``part`` of ``jobs`` runs."""
    return range(part, explore, jobs)


def schedule_keys(run: dict[str, Any]) -> list[str] | None:
    """An explored run entry's schedules (``RUN@SEED:INDEX``), by which a part merged once
    is known again; None for a run that was not explored."""
    explore = run.get("explore")
    return None if explore is None else [f"{run['id']}@{sid}" for sid in explore["per_schedule"]]


def merge_run(have: dict[str, Any], run: dict[str, Any]) -> None:
    """Add another part's entry ``run`` for the same explored run to ``have``."""
    a, b = have["explore"], run["explore"]
    per_schedule = dict(sorted({**a["per_schedule"], **b["per_schedule"]}.items(),
                               key=lambda item: ScheduleId.parse(item[0])))
    decisions = a["decisions"] + b["decisions"]
    controlled = a["controlled_decisions"] + b["controlled_decisions"]
    have["explore"] = {
        "schedules": a["schedules"] + b["schedules"],
        "decisions": decisions,
        "controlled": round(controlled / decisions, 4) if decisions else 0.0,
        "controlled_decisions": controlled,
        "stalls": a["stalls"] + b["stalls"],
        "distinct_decision_lists": len({s["digest"] for s in per_schedule.values()}),
        "per_schedule": per_schedule,
    }
    if "setup_s" in a or "setup_s" in b:
        have["explore"]["setup_s"] = round(a.get("setup_s", 0.0) + b.get("setup_s", 0.0), 3)
    have["duration_s"] = round(have["duration_s"] + run["duration_s"], 3)
    have["errors"] = (have["errors"] + [e for e in run["errors"] if e not in have["errors"]])[:10]


def merge_finding(have: dict[str, Any], finding: dict[str, Any]) -> None:
    """The same explored finding from another part: it is kept as its first schedule (the
    lowest index) found it, and the schedules that produced it are summed."""
    seen_in = have["schedule"]["seen_in"] + finding["schedule"]["seen_in"]
    if ScheduleId.parse(finding["schedule"]["id"]) < ScheduleId.parse(have["schedule"]["id"]):
        runs = have["runs"]
        have.clear()
        have.update(finding, runs=runs, schedule=dict(finding["schedule"]))
    have["schedule"]["seen_in"] = have["count"] = seen_in
