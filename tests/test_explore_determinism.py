"""Determinism on the real tracker: an exploration of ``concurrent-claims`` repeats its
decisions and findings, and a schedule run alone decides as it did after others."""

from __future__ import annotations

from auditor.explore.runs import explore_scenario
from auditor.session import AuditConfig, AuditSession
from scenarios import concurrent_claims  # noqa: F401 - registers the scenario
from scenarios.framework import REGISTRY

SEED = 11


def _explore(env, indices) -> tuple[dict, list[str]]:
    """Per-schedule records and the sorted fingerprints of one exploration."""
    session = AuditSession(AuditConfig()).start()
    try:
        entry, tally = explore_scenario(REGISTRY["concurrent-claims"], env, session, run_id="det", seed=SEED,
                                        indices=indices, nodes=2, workers=2)
    finally:
        session.stop()
    assert not entry["errors"], entry["errors"]
    return entry["explore"]["per_schedule"], sorted(tally.first_schedules())


def test_an_exploration_repeats_and_a_schedule_replays_alone(env):
    """Two explorations of three schedules give the same decision digests (every decision
    controlled) and findings; the last schedule run alone gives its digest again."""
    first, found = _explore(env, range(3))
    again, found_again = _explore(env, range(3))
    assert again == first and found_again == found
    assert all(s["controlled"] == 1.0 for s in first.values()), first
    assert len({s["digest"] for s in first.values()}) == 3
    alone, _ = _explore(env, [2])
    assert alone[f"{SEED}:2"] == first[f"{SEED}:2"]
