"""The controlled scheduler (``auditor.explore``): strategies, schedule ids, the self-check
(a bug that needs one interleaving), honest reporting of no control, bounded memory."""

from __future__ import annotations

import logging
import threading

import pytest

from auditor import hooks
from auditor.explore import PCT, Controller, RandomWalk, ScheduleError, ScheduleId
from auditor.explore.controller import Outcome
from auditor.explore.tally import Tally
from auditor.findings import Finding, Rule, Severity
from auditor.events import Site

#: The self-check's bug: three threads of two steps each, in exactly this order.
ROUND_ROBIN = ["a1", "b1", "c1", "a2", "b2", "c2"]
_LOG = logging.getLogger("nova.explore_selfcheck")


class TestScheduleId:
    def test_round_trip(self):
        """An id prints as SEED:INDEX and parses back; the index picks the strategy."""
        sid = ScheduleId.parse("11:4")
        assert (sid.seed, sid.index, str(sid)) == (11, 4, "11:4")
        assert ScheduleId(11, 4).strategy_name == "pct"
        assert ScheduleId(11, 5).strategy_name == "random"

    @pytest.mark.parametrize("text", ["11", "a:1", "11:-1", "11:1:2", ":3", ""])
    def test_bad_ids(self, text):
        """Anything but two integers (index >= 0) is refused with the expected form."""
        with pytest.raises(ScheduleError, match="SEED:INDEX"):
            ScheduleId.parse(text)


class TestStrategies:
    def test_same_seed_same_choices(self):
        """A strategy's choices depend on its seed only."""
        import random

        keys = ["t0", "t1", "t2"]
        for make in (RandomWalk, PCT):
            a, b = make(random.Random(3)), make(random.Random(3))
            assert [a.pick(keys, i) for i in range(50)] == [b.pick(keys, i) for i in range(50)]

    def test_pct_runs_highest_priority_until_a_change_point(self):
        """PCT keeps choosing one thread, then lowers it at each of its depth-1 change points."""
        import random

        pct = PCT(random.Random(1), depth=2, steps=10)
        picks = [pct.pick(["x", "y"], i) for i in range(10)]
        switches = sum(1 for p, q in zip(picks, picks[1:]) if p != q)
        assert switches == 1


def _selfcheck(controller: Controller | None, installation) -> list[str]:
    """Three threads, two steps each; each step is one log record (a hook point)."""
    order: list[str] = []

    def worker(name: str) -> None:
        for step in (1, 2):
            _LOG.debug("step %s%d", name, step)
            order.append(f"{name}{step}")

    if controller is not None:
        installation.gate(controller.point)
        controller.start()
    try:
        _LOG.debug("starting")
        threads = [threading.Thread(target=worker, args=(n,), name=f"selfcheck-{n}")
                   for n in "abc"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if controller is not None:
            controller.outcome = controller.stop()
            installation.gate(None)
    return order


def _controlled(ctl: Controller, installation, *targets) -> Outcome:
    """Run ``targets`` as threads started and joined by main, under ``ctl``."""
    installation.gate(ctl.point)
    ctl.start()
    try:
        _LOG.debug("main")
        threads = [threading.Thread(target=f) for f in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        outcome = ctl.stop()
        installation.gate(None)
    return outcome


@pytest.fixture
def installation():
    inst = hooks.install(lambda event: None)
    try:
        yield inst
    finally:
        inst.uninstall()


class TestSelfCheck:
    SCHEDULES = 300

    def test_exploration_finds_the_one_interleaving_and_replays_it(self, installation):
        """Exploration reaches the round-robin order; its id replays it, every decision the same."""
        found = None
        for index in range(self.SCHEDULES):
            ctl = Controller(ScheduleId(7, index).strategy(steps=12))
            if _selfcheck(ctl, installation) == ROUND_ROBIN:
                found = (ScheduleId(7, index), ctl.outcome)
                break
        assert found is not None, f"not found in {self.SCHEDULES} schedules"
        sid, outcome = found
        assert outcome.fraction == 1.0 and outcome.threads == 4
        for _ in range(5):
            ctl = Controller(sid.strategy(steps=12))
            assert _selfcheck(ctl, installation) == ROUND_ROBIN
            assert ctl.outcome.digest == outcome.digest

    def test_uncontrolled_runs_never_find_it(self, installation):
        """The same number of runs left to the OS scheduler never produce that order."""
        orders = [_selfcheck(None, installation) for _ in range(self.SCHEDULES)]
        assert ROUND_ROBIN not in orders

    def test_no_hook_point_means_no_control(self):
        """Threads that never reach a hook point are not controlled, and the record says so."""
        ctl = Controller(ScheduleId(7, 0).strategy()).start()
        done = []
        threads = [threading.Thread(target=done.append, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcome = ctl.stop()
        assert sorted(done) == [0, 1, 2]
        assert outcome.decisions == () and outcome.fraction == 0.0

    def test_a_blocked_thread_lets_another_run(self, installation):
        """A thread waiting on an event set by a parked thread does not deadlock the run."""
        ctl = Controller(ScheduleId(7, 1).strategy(), bound_s=30)
        ready = threading.Event()
        order = []

        def waiter():
            _LOG.debug("waiter starts")
            ready.wait()
            _LOG.debug("waiter woken")
            order.append("waiter")

        def setter():
            _LOG.debug("setter starts")
            order.append("setter")
            ready.set()

        outcome = _controlled(ctl, installation, waiter, setter)
        assert order == ["setter", "waiter"]
        assert outcome.stalls == 0 and outcome.fraction == 1.0

    def test_timeouts_are_virtual(self, installation):
        """A timed wait ends by a timeout only once every other thread is blocked, whatever
        the wall clock: an hour-long wait ends at once when nothing else can run, and the
        thread that polls (short timeout) always gets its turn before the long waiter."""
        ctl = Controller(ScheduleId(7, 0).strategy(), bound_s=30)
        cond = threading.Condition()
        results = []

        def long_waiter():
            _LOG.debug("long waiter")
            with cond:
                results.append(("long", cond.wait(timeout=3600)))

        def poller():
            _LOG.debug("poller")
            with cond:
                results.append(("short", cond.wait(timeout=1800)))

        outcome = _controlled(ctl, installation, long_waiter, poller)
        assert results == [("short", False), ("long", False)]
        assert outcome.stalls == 0


def _finding(key: str) -> Finding:
    return Finding(Rule("accounting/usage", Severity.HIGH, "t"), "m", Site("nova/x.py", 1, "f"),
                   key=key)


class TestTally:
    def test_first_schedule_and_count(self):
        """Each fingerprint names the first schedule that found it and how many did."""
        tally = Tally()
        out = Outcome("pct", (0, 1, 0), 3, 0, 2, "d1")
        tally.add(ScheduleId(1, 0), out, [])
        tally.add(ScheduleId(1, 1), out, [_finding("x")])
        tally.add(ScheduleId(1, 2), out, [_finding("x"), _finding("y")])
        fp = _finding("x").fingerprint
        assert tally.schedule_of(fp) == {"id": "1:1", "strategy": "pct", "seen_in": 2,
                                         "controlled": 1.0}
        assert set(tally.kept) == {"1:1", "1:2"}

    def test_memory_bounded_over_1000_schedules(self):
        """Over 1,000 schedules only finders keep their decision lists."""
        tally = Tally()
        for index in range(1000):
            out = Outcome("random", tuple(range(500)), 500, 0, 9, f"d{index}")
            tally.add(ScheduleId(1, index), out, [_finding("same")])
        assert list(tally.kept) == ["1:0"]
        assert tally.schedules == 1000 and tally.summary()["controlled"] == 1.0
