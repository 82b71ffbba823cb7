"""The controlled scheduler (``auditor.explore``): strategies, schedule ids, the self-check
(a bug that needs one interleaving), honest reporting of no control, bounded memory."""

from __future__ import annotations

import functools
import logging
import threading
import time

import pytest

from auditor import hooks
from auditor.explore import PCT, Controller, RandomWalk, ScheduleError, ScheduleId
from auditor.explore import parts
from auditor.explore.controller import Outcome
from auditor.explore.runs import annotate
from auditor.explore.tally import Tally
from auditor.findings import Finding, Rule, Severity
from auditor.events import Site
from auditor.report import model

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


def _controlled(ctl: Controller, installation, *targets, setup=None) -> Outcome:
    """Run ``targets`` as threads started and joined by main, under ``ctl`` (``setup`` first,
    once it controls: locks made then are the ones it sees)."""
    installation.gate(ctl.point)
    ctl.start()
    try:
        if setup is not None:
            setup()
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

    def test_a_failing_watchdog_ends_control_and_says_why(self, installation, monkeypatch):
        """The watchdog failing lets every thread run free (no hang), and the outcome says so."""
        ctl = Controller(ScheduleId(7, 0).strategy(), poll_s=0.01)

        def tick(now):
            raise RuntimeError("planted")
        monkeypatch.setattr(ctl, "_tick", tick)
        done = []

        def slow(name):
            _LOG.debug("before %s", name)
            time.sleep(0.2)   # past the watchdog's first look
            _LOG.debug("after %s", name)
            done.append(name)
        outcome = _controlled(ctl, installation, *(functools.partial(slow, n) for n in "ab"))
        assert sorted(done) == ["a", "b"]
        assert outcome.failure == "RuntimeError: planted"

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


class _Overlap:
    """Counts enrolled threads between hook points at once (the scheduler allows one)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()     # made before the controller starts: not seen
        self._inside: set[str] = set()
        self.peak = 0

    def step(self, name: str) -> None:
        with self._guard:
            self._inside.add(name)
            self.peak = max(self.peak, len(self._inside))
        time.sleep(0.002)                  # room for the OS to run another thread meanwhile
        with self._guard:
            self._inside.discard(name)


def _mixed(overlap: _Overlap, box: dict):
    """Threads that hand over through a Condition, an Event, a plain Lock, a timed wait and
    a join; each step between hook points goes through ``overlap``."""
    items: list[int] = []

    def producer():
        for i in range(3):
            _LOG.debug("produce %d", i)
            with box["cond"]:
                items.append(i)
                box["cond"].notify()
                overlap.step("producer")
        box["event"].set()
        overlap.step("producer")

    def consumer():
        for _ in range(3):
            with box["cond"]:
                while not items:
                    box["cond"].wait()
                items.pop(0)
                overlap.step("consumer")
            _LOG.debug("consumed")

    def locker():
        box["event"].wait()
        overlap.step("locker")
        with box["lock"]:
            _LOG.debug("locked")
            overlap.step("locker")
        with box["cond"]:
            box["cond"].wait(timeout=5)     # nobody notifies: the virtual timeout fires
        overlap.step("locker")

    def joiner():
        _LOG.debug("joiner")
        with box["lock"]:
            _LOG.debug("joiner locked")
        box["started"].wait()
        box["done"].join()
        overlap.step("joiner")

    def setup():
        box.update(cond=threading.Condition(), event=threading.Event(), lock=threading.Lock(),
                   started=threading.Event())
        box["done"] = threading.Thread(target=lambda: _LOG.debug("short"), name="short")

    def starter():
        _LOG.debug("starter")
        box["done"].start()
        box["started"].set()

    return setup, (producer, consumer, locker, joiner, starter)


class TestSeenWaits:
    """Waits are seen, not polled: woken threads wait their turn, plain locks are seen, the
    bound lets loose only a thread the process does no work for, and it is all repeatable."""

    def test_never_two_threads_at_once_and_never_a_stall(self, installation):
        """Whatever wakes a thread (notify, set, a released lock, a fired timeout, an ended
        thread), it runs only when picked: no two threads ever run between hook points."""
        for index in range(6):
            overlap, box = _Overlap(), {}
            setup, targets = _mixed(overlap, box)
            ctl = Controller(ScheduleId(7, index).strategy(), bound_s=30)
            outcome = _controlled(ctl, installation, *targets, setup=setup)
            assert overlap.peak == 1, index
            assert outcome.stalls == 0 and outcome.fraction == 1.0, (index, outcome)

    def test_same_schedule_same_decisions(self, installation):
        """Each schedule id gives the same decision list run after run."""
        def digests():
            found = []
            for index in range(6):
                setup, targets = _mixed(_Overlap(), {})
                ctl = Controller(ScheduleId(3, index).strategy(), bound_s=30)
                found.append(_controlled(ctl, installation, *targets, setup=setup).digest)
            return found

        first = digests()
        assert digests() == first and len(set(first)) > 1

    def test_a_lock_held_by_a_parked_thread_is_a_seen_wait(self, installation):
        """A thread blocked on a plain lock whose holder is parked lets another run at once:
        with a short bound, an unseen wait would be let loose (a stall)."""
        box: dict = {}

        def holder():
            with box["lock"]:
                _LOG.debug("holding")
                _LOG.debug("still holding")

        def taker():
            _LOG.debug("taking")
            with box["lock"]:
                _LOG.debug("took")

        for index in range(6):
            ctl = Controller(ScheduleId(7, index).strategy(), bound_s=0.3)
            outcome = _controlled(ctl, installation, holder, taker,
                                  setup=lambda: box.update(lock=threading.Lock()))
            assert outcome.stalls == 0 and outcome.fraction == 1.0, (index, outcome)

    def test_only_a_thread_nobody_works_for_is_let_loose(self, installation):
        """Past the bound, a thread that computes is waited for; one that sleeps (a wait the
        scheduler cannot see, while nothing else runs) is let loose and counted."""
        def spinner():
            _LOG.debug("spin")
            end = time.thread_time() + 0.6
            while time.thread_time() < end:
                pass
            _LOG.debug("spun")

        def sleeper():
            _LOG.debug("sleep")
            time.sleep(0.8)
            _LOG.debug("slept")

        busy = _controlled(Controller(ScheduleId(7, 0).strategy(), bound_s=0.2), installation,
                           spinner, lambda: _LOG.debug("other"))
        idle = _controlled(Controller(ScheduleId(7, 0).strategy(), bound_s=0.2), installation,
                           sleeper, lambda: _LOG.debug("other"))
        assert busy.stalls == 0
        assert idle.stalls == 1


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


class TestParts:
    """``--jobs``: schedules split over processes merge into what one process reports."""

    FOUND = {0: ["x"], 1: ["y"], 2: ["x", "y"], 3: ["z"], 4: ["x"]}

    def _report(self, indices) -> dict:
        tally = Tally()
        for index in indices:
            out = Outcome(("pct", "random")[index % 2], (0, 1) * (index + 1), index + 1, 0, 2,
                          f"d{index}")
            tally.add(ScheduleId(7, index), out, [_finding(k) for k in self.FOUND[index]])
        runs = [{"id": "cc[explore=5]", "outcome": "passed", "duration_s": float(len(indices)),
                 "errors": [], "explore": tally.summary()}]
        findings = [{**model.finding_record(f), "runs": ["cc[explore=5]"]}
                    for f in tally.findings()]
        return annotate(model.build_report(findings=findings, runs=runs, coverage={}, target={},
                                           events={}, tool_version="t"), [tally])

    def test_parts_merge_into_the_one_process_report(self):
        """Two parts (indices 0, 2, 4 and 1, 3) merge into the report of all five in order:
        each finding keeps its lowest first schedule and sums its schedules; the explore
        section sums decisions and control; merging a part again adds nothing."""
        whole = self._report(range(5))
        split = [self._report(parts.indices(5, 2, part)) for part in (1, 0)]
        assert [list(parts.indices(5, 2, part)) for part in (0, 1)] \
            == [[0, 2, 4], [1, 3]]
        merged = model.merge_reports(split)
        assert merged == whole
        assert {f["schedule"]["id"]: f["count"] for f in merged["findings"]} == {
            "7:0": 3, "7:1": 2, "7:3": 1}
        assert model.merge_reports([merged, split[0]]) == whole
