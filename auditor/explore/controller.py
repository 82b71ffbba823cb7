"""The controlled scheduler: one scenario thread runs at a time; hook points are decision points.

A thread is enrolled at its first hook point, or when an enrolled thread
starts it; threads serving the test world (named with a ``world`` prefix) run
freely. At each hook point the arriving thread parks; once no enrolled thread
is running or on its way to a hook point, the strategy picks which parked
thread goes on.

Waits are seen, not polled. While exploring, ``threading.Condition.wait`` and
``notify`` (under events, semaphores, queues, futures, ``Thread.start``),
``Thread.join``, thread exit and the locks made meanwhile (``locks.SeenLock``)
tell the controller when an enrolled thread blocks, is woken or ends, so
another can run at once. A Condition's enrolled waiters queue in the
Condition's own order (first blocked, first woken), and the controller marks
the ones a ``notify`` wakes. A woken thread (notified, its lock released, its
joined thread ended, its timeout fired) is runnable: it goes on only when the
strategy picks it, so two enrolled threads never run at once. Joining a thread
that has already left is not a wait. A new thread runs to the start of its
``run``, then waits to be picked.

Time is virtual for enrolled threads: a timed wait ends when woken or when the
controller fires its timeout, which it does only once every other enrolled
thread is blocked (earliest deadline first), never by the wall clock.

A wait the controller cannot see (a lock made before exploring and held by a
parked thread, socket I/O to a stuck peer) shows as a thread that reaches no
hook point while the process does no work: after ``bound_s`` of that, the
thread is let loose, and decisions taken while it runs free are counted as
uncontrolled. A thread that
is slow but busy (or waiting for a CPU on a loaded machine) is not let loose.
A step with a single runnable thread is not a decision.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from typing import Any

from auditor.explore import green, locks
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
    failure: str | None = None   # why the watchdog gave up control early, if it did

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
    since: float = 0.0           # when it last started running
    loose: bool = False          # ran past the bound: not waited for until it parks again
    spawned: int = 0
    starting: bool = False       # in ``Thread.start``: its wait for the child is not a block
    on: Any = None               # what it is blocked on: a Thread, a primitive, or a Condition
    waiter: Any = None           # its waiter lock in ``on._waiters`` (Condition waits)
    deadline: float | None = None  # virtual time its timed wait ends (None: untimed)
    fired: bool = False          # the controller ended its timed wait
    blocked: int = 0             # order of blocking (woken first in, first out)
    turn: Any = None             # Condition on the controller's lock


class Controller:
    """Serialises enrolled threads at hook points; ``point`` is the hooks' one call into it."""

    def __init__(self, strategy: Strategy, *, bound_s: float = 2.0, poll_s: float = 0.02,
                 busy: float = 0.02, world: tuple[str, ...] = WORLD_THREADS):
        self.strategy = strategy
        self.bound_s = bound_s
        self.poll_s = poll_s
        self.busy = busy                      # share of a CPU that counts as the process working
        self.green = green.monkey_patched()
        self._ident = green.ident if self.green else _thread_ident
        self.world = world
        self.active = False
        self._lock = threading.Lock()         # looked up now: green under eventlet
        self._members: dict[Any, _Member] = {}         # Thread -> member
        self._waiting: dict[Any, _Member] = {}         # waiter lock -> member (Condition waits)
        self.blocked_on: set[Any] = set()     # what enrolled threads may be blocked on (not
                                              # Conditions): a release need not look otherwise
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
        #: the real Condition methods, for the controller's own turns (also after ``stop``)
        self._wait, self._notify = threading.Condition.wait, threading.Condition.notify
        self._work = _Work(self.green)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "Controller":
        """Begin controlling; threads enrol from their next hook point."""
        self.active = True
        self._patch()
        locks.active = self
        self._watchdog = threading.Thread(target=self._watch, name="explore-watchdog",
                                          daemon=True)
        self._watchdog.start()
        return self

    def stop(self) -> Outcome:
        """Release every parked thread (they run freely from now on) and return the record."""
        self._release()
        if locks.active is self:
            locks.active = None
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals.clear()
        if self._watchdog is not None:
            self._watchdog.join()
        return Outcome(self.strategy.name, tuple(self._decisions), self._controlled,
                       self._stalls, len(self._members), self._digest.hexdigest(), self.failure)

    def _release(self) -> None:
        """Control ends: parked threads go on; timed waits end as timed out; an untimed
        Condition waiter stays in its Condition's queue for a real notify."""
        with self._lock:
            self.active = False
            for member in self._members.values():
                if member.state == _BLOCKED and member.deadline is not None:
                    self._fire(member)
                if member.state in (_PARKED, _BLOCKED):
                    self._notify(member.turn)

    # -- the decision point -----------------------------------------------------------

    def point(self, event: Any = None) -> None:
        """Called by the hooks at every event: park here until this thread's turn."""
        if not self.active:
            return
        thread = threading.current_thread()
        if thread.name.startswith(self.world) or getattr(
                event, "logger", "").startswith(ONCE_PER_PROCESS_LOGGERS):
            return
        ident = self._ident()
        with self._lock:
            if not self.active:
                return
            member = self._members.get(ident) or self._enrol(ident, thread.name)
            member.state, member.loose = _PARKED, False
            self._decide()
            self._await_turn(member)

    # -- what the patched primitives report -------------------------------------------

    def _patch(self) -> None:
        controller = self
        start, join = threading.Thread.start, threading.Thread.join

        def start_(thread):
            parent = controller._will_start(thread)
            try:
                start(thread)
            except BaseException:
                controller._gone(thread)
                raise
            finally:
                if parent is not None:
                    parent.starting = False

        def join_(thread, timeout=None):
            member = (controller._block(thread, timeout, joining=True)
                      if controller.running() else None)
            if member is not None and controller._turn_after_wait(member):
                return None          # the timeout fired: the thread is still alive
            return join(thread, timeout)

        targets = [(threading.Thread, "start", start_), (threading.Thread, "join", join_),
                   *self.condition(threading.Condition), *green.targets(self)]
        if not self.green:           # green locks are seen as eventlet semaphores
            lock, rlock = threading.Lock, threading.RLock
            targets += [(threading, "Lock", lambda: locks.SeenLock(lock())),
                        (threading, "RLock", lambda: locks.SeenRLock(rlock()))]
        for owner, name, value in targets:
            self._originals[(owner, name)] = getattr(owner, name)
            setattr(owner, name, value)

    def condition(self, cls: type) -> list[tuple[type, str, Any]]:
        """``wait``/``notify`` of a Condition class (threading's, or a green copy of it)."""
        controller, wait, notify = self, cls.wait, cls.notify
        allocate = wait.__globals__["_allocate_lock"]   # green in a green copy of threading

        def wait_(cond, timeout=None):
            if (not controller.running() or (timeout is not None and timeout <= 0)
                    or not cond._is_owned()):
                return wait(cond, timeout)
            waiter = allocate()
            waiter.acquire()
            member = controller._block(cond, timeout, waiter=waiter)
            if member is None:
                return wait(cond, timeout)
            saved = cond._release_save()
            try:
                waiter.acquire()     # released by a notify, a fired timeout, or at stop
                return not controller._turn_after_wait(member)
            finally:
                cond._acquire_restore(saved)

        def notify_(cond, n=1):
            if not controller.active:
                return notify(cond, n)
            with controller._lock:   # the marking and the real notify, as one step
                controller._notified(cond, n)
                result = notify(cond, n)
                controller._decide()  # if the notifier is a world thread, nobody else would
                return result

        return [(cls, "wait", wait_), (cls, "notify", notify_)]

    def _current(self) -> _Member | None:
        return self._members.get(self._ident())

    def running(self) -> bool:
        """Whether the calling thread is enrolled and running (read without the lock: only
        the thread itself takes itself out of running)."""
        if not self.active:
            return False
        member = self._current()
        return member is not None and member.state in (_RUNNING, _PENDING)

    def _block(self, on: Any, timeout: float | None, *, waiter: Any = None,
               joining: bool = False) -> _Member | None:
        """The running enrolled thread blocks on ``on``; None if that is not a wait the
        controller sees (not enrolled, not controlling, or a join of a thread that left)."""
        if not self.active:
            return None
        with self._lock:
            member = self._current()
            if (member is None or member.starting or member.state not in (_RUNNING, _PENDING)
                    or not self.active):
                return None
            if joining:
                target = self._members.get(on)
                if (target is None or target is member or target.state == _GONE
                        or not _alive(on)):
                    return None
            self._blocks += 1
            member.state, member.on, member.blocked = _BLOCKED, on, self._blocks
            member.deadline = None if timeout is None else self._now + _quantum(timeout)
            member.fired, member.loose, member.waiter = False, False, waiter
            if waiter is not None:
                on._waiters.append(waiter)
                self._waiting[waiter] = member
            elif not joining:
                self.blocked_on.add(on)
            self._decide()
            return member

    def _turn_after_wait(self, member: _Member) -> bool:
        """A woken thread waits to be picked; returns whether its timeout fired."""
        with self._lock:
            self._await_turn(member)
            member.on = member.waiter = None
            return member.fired

    def _await_turn(self, member: _Member) -> None:
        while self.active and member.state != _RUNNING:
            self._wait(member.turn)
        if member.state != _RUNNING:          # control ended while it waited
            member.state, member.since = _RUNNING, time.monotonic()

    def _notified(self, cond: Any, n: int) -> None:
        """``cond.notify(n)`` is about to wake its first ``n`` waiters: those enrolled are
        now runnable."""
        for waiter in list(cond._waiters)[:n]:
            member = self._waiting.pop(waiter, None)
            if member is not None:
                self._wake(member)

    def wake(self, on: Any, n: int) -> None:
        """Up to ``n`` enrolled threads blocked on ``on`` (not a Condition), first blocked
        first, are now runnable. A release or send nobody enrolled waits for costs one
        set lookup, without the lock."""
        if not (self.active and on in self.blocked_on):
            return
        with self._lock:
            blocked = sorted((m for m in self._members.values()
                              if m.state == _BLOCKED and m.on is on), key=lambda m: m.blocked)
            for member in blocked[:n]:
                self._wake(member)
            if len(blocked) <= n:
                self.blocked_on.discard(on)
            self._decide()

    def _will_start(self, thread: threading.Thread) -> _Member | None:
        """Before an enrolled thread starts ``thread``: enrol it, keyed by its parent; returns
        the parent, ``starting`` until ``start`` returns (under eventlet the greenlet that
        runs ``thread`` is enrolled by ``green`` instead).

        The new thread runs only to its ``run``, then waits to be picked: what runs
        between ``start`` and that point is Python's own hand-shake, the same every time.
        """
        if self.green or not self.active or thread.name.startswith(self.world):
            return None
        if not self._will_spawn(thread):
            return None
        run = thread.run

        def run_and_leave():
            try:
                self._first_turn(thread)
                run()
            finally:
                self._gone(thread)

        thread.run = run_and_leave
        with self._lock:
            parent = self._current()
            parent.starting = True
            return parent

    def _first_turn(self, ident: Any) -> None:
        """A new thread, before its first step, is runnable: it waits to be picked."""
        with self._lock:
            member = self._members.get(ident)
            if member is not None and self.active and member.state == _PENDING:
                member.state = _PARKED
                self._decide()
                self._await_turn(member)

    def _will_spawn(self, ident: Any) -> bool:
        """Enrol ``ident`` if the calling thread is enrolled, keyed by it; whether it was."""
        with self._lock:
            parent = self._current()
            if parent is None or not self.active:
                return False
            member = self._enrol(ident, f"{parent.key}/{parent.spawned}")
            parent.spawned += 1
            member.since = time.monotonic()
            return True

    def _gone(self, thread: Any) -> None:
        with self._lock:
            member = self._members.get(thread)
            if member is not None:
                self._leave(member)
                self._decide()

    # -- internals (with the lock held) -----------------------------------------------

    def _enrol(self, ident: Any, base: str) -> _Member:
        """A new member keyed ``base`` (``#2``, ``#3``... if taken), ``ident`` its thread."""
        key, n = base, 1
        while key in self._keys:
            n += 1
            key = f"{base}#{n}"
        self._keys.add(key)
        member = _Member(key, len(self._keys) - 1, ident,
                         turn=threading.Condition(self._lock))
        self._members[ident] = member
        return member

    def _leave(self, member: _Member) -> None:
        member.state = _GONE
        for other in self._members.values():
            if other.state == _BLOCKED and other.on is member.thread:
                self._wake(other)

    def _wake(self, member: _Member) -> None:
        member.state = _PARKED

    def _fire(self, member: _Member) -> None:
        """End ``member``'s timed wait: out of its Condition's queue, its waiter released."""
        self._now = max(self._now, member.deadline)
        member.fired = True
        self._wake(member)
        if member.waiter is not None and self._waiting.pop(member.waiter, None) is not None:
            try:
                member.on._waiters.remove(member.waiter)
            except ValueError:
                pass
            member.waiter.release()

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
            if not timed or free:
                return
            fired = min(timed, key=lambda m: (m.deadline, m.blocked))
            self._fire(fired)                   # all blocked: virtual time moves on
            parked = [fired]
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
        self._notify(chosen.turn)

    def _watch(self) -> None:
        """The watchdog: threads that ended unseen, and threads past the bound. If it fails,
        control ends (every thread runs free) rather than the run hanging."""
        try:
            while self.active:
                time.sleep(self.poll_s)
                with self._lock:
                    if self.active:
                        self._tick(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - in the outcome (the run's errors), never a hang
            self.failure = f"{type(exc).__name__}: {exc}"
            self._release()

    def _tick(self, now: float) -> None:
        changed = False
        worked = self._work.since_last(now, self.busy)
        for member in list(self._members.values()):
            if member.state not in (_RUNNING, _PENDING, _BLOCKED):
                continue
            if not _alive(member.thread):
                self._leave(member)
                changed = True
            elif member.state != _BLOCKED and not member.loose:
                if worked or self._work.thread_ran(member.thread):
                    member.since = now
                elif now - member.since > self.bound_s:
                    member.loose, changed = True, True
                    self._stalls += 1
        if changed:
            self._decide()


class _Work:
    """Whether the process worked since the last look: its CPU time (the watchdog's own
    excluded), and a thread's time on or waiting for a CPU (Linux schedstat)."""

    def __init__(self, green_mode: bool):
        self._green = green_mode     # greenthreads share one OS thread: no per-thread figure
        self._cpu = self._process()
        self._at = time.monotonic()
        self._threads: dict[int, int] = {}

    def _process(self) -> float:
        return time.process_time() - (0.0 if self._green else time.thread_time())

    def since_last(self, now: float, share: float) -> bool:
        cpu, elapsed = self._process(), now - self._at
        worked = cpu - self._cpu > share * elapsed
        self._cpu, self._at = cpu, now
        return worked

    def thread_ran(self, thread: Any) -> bool:
        tid = None if self._green else getattr(thread, "native_id", None)
        if tid is None:
            return False
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                on_cpu, waiting, _ = f.read().split()
        except (OSError, ValueError):
            return False
        total, before = int(on_cpu) + int(waiting), self._threads.get(tid)
        self._threads[tid] = total
        return before is not None and total > before


def _quantum(timeout: float) -> float:
    """A timeout in whole hundredths of a second, rounded up: what a polling loop passes
    (``endtime - time()``, a hair under what it asked) gives the same virtual deadline
    however long the wall clock took to get there."""
    return math.ceil(round(max(timeout, 0.0) * 100, 6)) / 100


def _thread_ident() -> threading.Thread | None:
    """The calling thread's ``Thread``, or None: unlike ``threading.current_thread`` it
    makes no ``_DummyThread`` for a thread still in its bootstrap (that would set an
    ``Event``, with the controller's lock held)."""
    return threading._active.get(threading.get_ident())  # noqa: SLF001


def _alive(thread: Any) -> bool:
    """Running, or enrolled and about to start (eventlet's own greenthreads have no
    ``_started``: they run from their first hook point)."""
    greenthread = green.alive(thread)
    if greenthread is not None:
        return greenthread
    started = getattr(thread, "_started", None)
    return (started is not None and not started.is_set()) or thread.is_alive()
