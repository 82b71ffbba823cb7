"""The controlled scheduler: one scenario thread runs at a time; hook points are decision points.

A thread is enrolled at its first hook point, or when an enrolled thread
starts it; threads serving the test world (named with a ``world`` prefix) run
freely. At each hook point the arriving thread parks; once no enrolled thread
is running or on its way to a hook point, the strategy picks which parked
thread goes on.

While exploring, ``threading.Condition.wait``/``notify`` (under events,
semaphores, queues, futures, ``Thread.start``), ``Thread.join`` and thread
exit tell the controller when an enrolled thread blocks, is woken or ends, so
another can run at once. A wait it cannot see (a plain lock held by a parked
thread, socket I/O to a stuck peer) shows as no hook point within ``bound_s``:
the thread is let loose, and decisions taken while it runs free are counted
as uncontrolled.

In threading mode, waits of enrolled threads run in short slices and time is
virtual: a wait ends when the controller saw it notified (first blocked, first
woken) or when it fires the wait's timeout, which it does only once every other
enrolled thread is blocked. A step with a single runnable thread is not a
decision.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from typing import Any

from auditor.explore import green
from auditor.explore.strategy import Strategy

__all__ = ["Controller", "Outcome", "WORLD_THREADS"]

#: Threads that serve the test world (in-process placement) and the watchdog itself.
WORLD_THREADS = ("placement-server-", "explore-watchdog")

#: Loggers whose records are not decision points: they log only the first time in a
#: process (stevedore's entry-point scan), so counting them would make a schedule run
#: first decide differently from the same schedule run after others.
ONCE_PER_PROCESS_LOGGERS = ("stevedore.",)

_PARKED, _RUNNING, _PENDING, _BLOCKED, _GONE = "parked", "running", "pending", "blocked", "gone"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one schedule did: its decisions (member ordinals), how many were controlled."""

    strategy: str
    decisions: tuple[int, ...]
    controlled: int
    stalls: int          # threads let loose after the bound
    threads: int         # threads enrolled
    digest: str          # of the decision list (thread keys), to compare schedules cheaply

    @property
    def fraction(self) -> float:
        """Share of decisions taken while every enrolled thread was under control (0 if none)."""
        return self.controlled / len(self.decisions) if self.decisions else 0.0


@dataclasses.dataclass(eq=False)
class _Member:
    key: str                     # stable across runs of one schedule: name or parent/child#
    ordinal: int
    thread: Any = None
    state: str = _PENDING
    since: float = 0.0
    loose: bool = False          # ran past the bound: not waited for until it parks again
    spawned: int = 0
    on: Any = None               # the Condition or Thread it is blocked on
    deadline: float | None = None  # virtual time its timed wait ends (None: untimed)
    fired: bool = False          # the controller ended its timed wait
    blocked: int = 0             # order of blocking (a Condition wakes waiters first in, first out)
    turn: Any = None             # Condition on the controller's lock


class Controller:
    """Serialises enrolled threads at hook points; ``point`` is the hooks' one call into it."""

    def __init__(self, strategy: Strategy, *, bound_s: float = 2.0, poll_s: float = 0.002,
                 slice_s: float = 0.01, world: tuple[str, ...] = WORLD_THREADS):
        self.strategy = strategy
        self.bound_s = bound_s
        self.poll_s = poll_s
        self.slice_s = slice_s
        #: under eventlet, waits are not sliced and time is not virtual (measured: sliced
        #: green waits stalled a 2-node run; see docs/benchmarks.md)
        self.green = green.monkey_patched()
        self.world = world
        self.active = False
        self._lock = threading.Lock()         # looked up now: green under eventlet
        self._members: dict[Any, _Member] = {}         # Thread -> member
        self._keys: set[str] = set()
        self._decisions: list[int] = []
        self._digest = hashlib.blake2b(digest_size=8)
        self._controlled = 0
        self._stalls = 0
        self._blocks = 0
        self._now = 0.0                       # virtual time: advanced only by fired timeouts
        self._watchdog: threading.Thread | None = None
        self.failure: str | None = None       # why the watchdog gave up control, if it did
        self._originals: dict[tuple[type, str], Any] = {}

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "Controller":
        """Begin controlling; threads enrol from their next hook point."""
        self.active = True
        self._patch()
        self._watchdog = threading.Thread(target=self._watch, name="explore-watchdog",
                                          daemon=True)
        self._watchdog.start()
        return self

    def stop(self) -> Outcome:
        """Release every parked thread (they run freely from now on) and return the record."""
        self._release()
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals.clear()
        if self._watchdog is not None:
            self._watchdog.join()
        return Outcome(self.strategy.name, tuple(self._decisions), self._controlled,
                       self._stalls, len(self._members), self._digest.hexdigest())

    def _release(self) -> None:
        with self._lock:
            self.active = False
            for member in self._members.values():
                if member.state == _PARKED:
                    member.state = _RUNNING
                    self._originals[(threading.Condition, "notify")](member.turn)

    # -- the decision point -----------------------------------------------------------

    def point(self, event: Any = None) -> None:
        """Called by the hooks at every event: park here until this thread's turn."""
        if not self.active:
            return
        thread = threading.current_thread()
        if thread.name.startswith(self.world) or getattr(
                event, "logger", "").startswith(ONCE_PER_PROCESS_LOGGERS):
            return
        wait = self._originals[(threading.Condition, "wait")]
        with self._lock:
            if not self.active:
                return
            member = self._members.get(thread) or self._enrol(thread, None)
            member.state, member.loose = _PARKED, False
            self._decide()
            while member.state != _RUNNING:
                wait(member.turn)

    # -- what the patched primitives report -------------------------------------------

    def _patch(self) -> None:
        controller = self
        start, join = threading.Thread.start, threading.Thread.join

        def waiting(original, done, marked_result=None):
            """``wait(on, timeout)`` (a Condition's, an Event's, a Thread's join) of an enrolled
            thread, in slices: it ends when ``done(on, member)``, never by the wall clock."""
            def wait(on, timeout=None):
                member = controller._blocking(on, timeout)
                if member is None:
                    return original(on, timeout)
                try:
                    if controller.green:     # eventlet: the wait itself, timeouts by the clock
                        return original(on, timeout)
                    result = controller._sliced_wait(member, original, on, done)
                    return result if marked_result is None else marked_result(member)
                finally:
                    controller._woken(member)
            return wait

        def notifying(cond_notify):
            def notify(cond, n=1):
                controller._notifying(cond, n)
                return cond_notify(cond, n)
            return notify

        def start_(thread):
            controller._will_start(thread)
            try:
                start(thread)
            except BaseException:
                controller._gone(thread)
                raise

        # A Condition's waiter goes on only when the controller saw it notified (the real
        # notify may wake another slice-waiter first: that wake is ignored), so which
        # waiter a notify wakes follows the order they blocked in, not the wall clock.
        def condition(cls):
            return [(cls, "wait", waiting(cls.wait, lambda _, m: m.state != _BLOCKED,
                                          lambda m: not m.fired)),
                    (cls, "notify", notifying(cls.notify))]

        targets = [(threading.Thread, "start", start_),
                   (threading.Thread, "join",
                    waiting(join, lambda t, m: m.fired or not t.is_alive())),
                   *condition(threading.Condition),
                   *green.targets(self, waiting, condition)]
        for owner, name, value in targets:
            self._originals[(owner, name)] = getattr(owner, name)
            setattr(owner, name, value)

    def _current(self) -> _Member | None:
        return self._members.get(threading.current_thread())

    def _blocking(self, on: Any, timeout: float | None) -> _Member | None:
        if not self.active:
            return None
        with self._lock:
            member = self._current()
            if member is None or member.state not in (_RUNNING, _PENDING) or not self.active:
                return None
            self._blocks += 1
            member.state, member.on, member.blocked = _BLOCKED, on, self._blocks
            member.deadline = None if timeout is None or self.green else self._now + timeout
            member.fired = False
            self._decide()
            return member

    def _sliced_wait(self, member: _Member, original, on: Any, done) -> Any:
        """Wait in slices until ``done``. A timeout is virtual: the controller fires it only
        once every other enrolled thread is blocked, the earliest virtual deadline first."""
        while True:
            result = original(on, self.slice_s)
            if not self.active:
                return result
            with self._lock:
                if done(on, member):
                    return result

    def _woken(self, member: _Member) -> None:
        """After the wait returned: a wake the controller did not see makes the thread loose."""
        with self._lock:
            member.on = None
            if member.state == _BLOCKED:
                member.state, member.since = _RUNNING, time.monotonic()
                member.loose = self._running_besides(member)


    def _notifying(self, cond: Any, n: int) -> None:
        if not self.active:
            return
        with self._lock:
            waiting = sorted((m for m in self._members.values()
                              if m.state == _BLOCKED and m.on is cond), key=lambda m: m.blocked)
            for member in waiting[:n]:
                member.state, member.since = _PENDING, time.monotonic()

    def _will_start(self, thread: threading.Thread) -> None:
        """Before an enrolled thread starts ``thread``: enrol it, keyed by its parent."""
        if not self.active or thread.name.startswith(self.world):
            return
        with self._lock:
            parent = self._current()
            if parent is None or not self.active:
                return
            member = self._enrol(thread, f"{parent.key}/{parent.spawned}")
            parent.spawned += 1
            member.since = time.monotonic()
            run = thread.run

            def run_and_leave():
                try:
                    run()
                finally:
                    self._gone(thread)

            thread.run = run_and_leave

    def _gone(self, thread: threading.Thread) -> None:
        with self._lock:
            member = self._members.get(thread)
            if member is not None:
                self._leave(member)
                self._decide()

    # -- internals (with the lock held) -----------------------------------------------

    def _enrol(self, thread: threading.Thread, key: str | None) -> _Member:
        base, n = key or thread.name, 1
        key = base
        while key in self._keys:
            n += 1
            key = f"{base}#{n}"
        self._keys.add(key)
        member = _Member(key, len(self._keys) - 1, thread,
                         turn=threading.Condition(self._lock))
        self._members[thread] = member
        return member

    def _leave(self, member: _Member) -> None:
        member.state = _GONE
        for other in self._members.values():
            if other.state == _BLOCKED and other.on is member.thread:
                other.state, other.since = _PENDING, time.monotonic()

    def _running_besides(self, member: _Member) -> bool:
        return any(m is not member and m.state == _RUNNING and not m.loose
                   for m in self._members.values())

    def _decide(self) -> None:
        if not self.active:
            return
        parked, timed = [], []
        free = False
        for m in self._members.values():
            if m.state in (_RUNNING, _PENDING):
                if not m.loose:
                    return                      # someone is on its way to a hook point
                free = True
            elif m.state == _PARKED:
                parked.append(m)
            elif m.state == _BLOCKED and m.deadline is not None:
                timed.append(m)
        if not parked:
            if timed and not free:              # all blocked: virtual time moves on
                fired = min(timed, key=lambda m: (m.deadline, m.blocked))
                self._now = fired.deadline
                fired.fired, fired.state, fired.since = True, _PENDING, time.monotonic()
            return
        parked.sort(key=lambda m: m.key)
        if len(parked) == 1 and not free:
            chosen = parked[0]                  # no choice: not a decision
        else:
            keys = [m.key for m in parked]
            chosen = parked[keys.index(self.strategy.pick(keys, len(self._decisions)))]
            self._decisions.append(chosen.ordinal)
            self._digest.update(chosen.key.encode() + b"\0")
            self._controlled += not free
        chosen.state, chosen.since = _RUNNING, time.monotonic()
        self._originals[(threading.Condition, "notify")](chosen.turn)

    def _watch(self) -> None:
        """The watchdog: threads that ended unseen, and threads past the bound. If it fails,
        control ends (every thread runs free) rather than the run hanging."""
        try:
            while self.active:
                time.sleep(self.poll_s)
                with self._lock:
                    if self.active:
                        self._tick(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - reported in the outcome, never a hang
            self.failure = f"{type(exc).__name__}: {exc}"
            self._release()

    def _tick(self, now: float) -> None:
        changed = False
        for member in list(self._members.values()):
            if member.state not in (_RUNNING, _PENDING, _BLOCKED):
                continue
            if not _alive(member.thread):
                self._leave(member)
                changed = True
            elif (member.state != _BLOCKED and not member.loose
                  and now - member.since > self.bound_s):
                member.loose, changed = True, True
                self._stalls += 1
        if changed:
            self._decide()


def _alive(thread: threading.Thread) -> bool:
    """Running, or enrolled and about to start (eventlet's own greenthreads have no
    ``_started``: they run from their first hook point)."""
    greenthread = green.alive(thread)
    if greenthread is not None:
        return greenthread
    started = getattr(thread, "_started", None)
    return (started is not None and not started.is_set()) or thread.is_alive()

