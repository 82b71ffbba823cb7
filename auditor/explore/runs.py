"""Scenario runs under the controlled scheduler: ``--explore N`` and ``--schedule ID``."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Callable, Iterable

from auditor.explore.controller import Controller
from auditor.explore.fresh import FreshState
from auditor.explore.schedule import ScheduleId
from auditor.explore.tally import Tally

if TYPE_CHECKING:
    from auditor.session import AuditSession

__all__ = ["explore_scenario", "annotate", "NOTHING_CONTROLLED"]

NOTHING_CONTROLLED = ("the scheduler controlled none of {decisions} decisions: no scenario "
                      "thread reached a hook point under it (hooks off with --no-audit?), "
                      "so this exploration proves nothing")


def explore_scenario(sc, env, session: "AuditSession", *, run_id: str, seed: int,
                     indices: Iterable[int], nodes: int | None = None,
                     workers: int | None = None, bound_s: float = 2.0,
                     progress: Callable[[str, int, int], None] | None = None,
                     stopped: Callable[[], bool] = lambda: False) -> tuple[dict, Tally]:
    """Run ``sc`` once per schedule index; returns the run entry and the tally.

    Findings are judged per schedule and kept once per fingerprint (``Tally``);
    the session gets them back, each with its first schedule, at the end. Once
    ``stopped()`` (Ctrl-C) no new schedule starts.
    """
    from scenarios.framework import run_scenario

    tally = Tally()
    errors: list[str] = []
    indices = list(indices)
    fresh = FreshState(env)
    duration = wall = 0.0
    for done, index in enumerate(indices):
        if stopped():
            break
        sid = ScheduleId(seed, index)
        began = time.monotonic()
        fresh.restore()
        controller = Controller(sid.strategy(), bound_s=bound_s)
        session.begin_run(f"{run_id}@{sid}")
        gated = session.gate(controller.point)
        try:
            result, _ = run_scenario(sc, env, seed=seed, nodes=nodes, workers=workers,
                                     tag=f"-s{index}", sink=session.sink,
                                     plant=session.canaries.plant,
                                     before=lambda run: controller.start())
        finally:
            outcome = controller.stop()
            if gated:
                session.gate(None)
        found = session.end_run(result.outcome, result.duration_s)
        del session.findings[len(session.findings) - len(found):]
        session.runs.pop()
        tally.add(sid, outcome, found)

        duration += result.duration_s
        wall += time.monotonic() - began
        errors += [f"schedule {sid}: {e}" for e in result.errors][:3]
        if outcome.failure:
            errors.append(f"schedule {sid}: control ended early, the rest ran free "
                          f"(watchdog: {outcome.failure})")
        if progress:
            progress("schedules", done + 1, len(indices))
    if not (tally.controlled or stopped()):
        errors.append(NOTHING_CONTROLLED.format(decisions=tally.decisions))
    session.findings.extend(_with_run(tally, run_id))
    entry = {"id": run_id, "outcome": "error" if errors else "passed",
             "duration_s": round(duration, 3), "errors": errors[:10],
             # setup: state restore, cluster build and teardown, judging; the rest is the script
             "explore": {**tally.summary(), "setup_s": round(wall - duration, 3)},
             "determinism": "controlled: the schedule id fixes the workload and every "
                            "decision; a replay may differ only where decisions were not "
                            "controlled (explore.controlled < 1)"}
    session.runs.append(entry)
    return entry, tally


def _with_run(tally: Tally, run_id: str):
    return [dataclasses.replace(f, run=run_id) for f in tally.findings()]


def annotate(report: dict, tallies: Iterable[Tally]) -> dict:
    """Give each explored finding its ``schedule`` field and its count of schedules."""
    for tally in tallies:
        for finding in report["findings"]:
            schedule = tally.schedule_of(finding["fingerprint"])
            if schedule is not None and "schedule" not in finding:
                finding["schedule"] = schedule
                finding["count"] = schedule["seen_in"]
    return report
