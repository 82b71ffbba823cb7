"""Race to evidence: a planted race on the real tracker (``update_usage`` with its lock removed)
is turned by exploration into an observed wrong state, the same one every time."""

from __future__ import annotations

import inspect

import pytest

from auditor.explore.runs import explore_scenario
from auditor.session import AuditConfig, AuditSession
from scenarios.framework import Scenario
from scenarios.nodes import enroll_fleet

ROUNDS = 2
LIMIT = 6           # schedules explored from seed 1 at most (found at 1:1 when measured)
REPLAYS = 10


def _delete_during_periodic(run) -> None:
    """Each round: boot on the one node, then delete it while a periodic runs; checkpoint."""
    enroll_fleet(run, 1)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)
    for k in range(ROUNDS):
        boot = run.ops.boot(flavor)

        def work(i, rng, boot=boot):
            if i == 1:
                run.periodic()
            elif boot.host is not None:
                run.ops.delete(boot)

        run.parallel(work, workers=2)
        run.checkpoint(f"round-{k}")
        run.cluster.ironic.settle()
        run.periodic()


PLANTED = Scenario("planted-update-usage", "delete racing the periodic", _delete_during_periodic,
                   hosts=1, nodes=1, workers=2)


@pytest.fixture
def unlocked_update_usage(monkeypatch):
    """``ResourceTracker.update_usage`` without ``@synchronized(COMPUTE_RESOURCE_SEMAPHORE)``."""
    from nova.compute.resource_tracker import ResourceTracker

    monkeypatch.setattr(ResourceTracker, "update_usage",
                        inspect.unwrap(vars(ResourceTracker)["update_usage"]))


def _explore(env, indices) -> tuple[dict, object]:
    session = AuditSession(AuditConfig(categories=frozenset({"accounting"}))).start()
    try:
        return explore_scenario(PLANTED, env, session, run_id="planted", seed=1,
                                indices=indices)
    finally:
        session.stop()


def test_exploration_finds_the_wrong_state_and_its_id_replays_it(env, unlocked_update_usage):
    """Within LIMIT schedules a broken accounting invariant appears; the schedule id that
    found it replays it REPLAYS times out of REPLAYS: same findings, same decisions."""
    for index in range(LIMIT):
        entry, tally = _explore(env, [index])
        found = tally.first_schedules()
        if found:
            break
    assert found, f"no wrong state in {LIMIT} schedules"
    sid = f"1:{index}"
    digest = entry["explore"]["per_schedule"][sid]["digest"]
    assert entry["explore"]["controlled"] == 1.0
    for _ in range(REPLAYS):
        again, replay = _explore(env, [index])
        assert set(replay.first_schedules()) == set(found), (sid, again["explore"])
        assert again["explore"]["per_schedule"][sid]["digest"] == digest, (sid, again["explore"])
