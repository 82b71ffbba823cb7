"""One installation's live state (sink, per-owner stacks) and the guard of every wrapper step."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

from auditor.events import Event, Sink, stamp, thread_name

__all__ = ["Recorder", "ErrorHandler", "owner", "guarded", "enter", "leave", "outermost"]

ErrorHandler = Callable[[BaseException, str], None]
_Step = TypeVar("_Step", bound=Callable[..., Any])
_ONCE_MAX = 1 << 14


def owner() -> int:
    """The current thread's id, or the greenthread's under eventlet (looked up at call time)."""
    return threading.get_ident()


def guarded(where: str, default: Any = None) -> Callable[[_Step], _Step]:
    """Decorate a wrapper step ``step(rec, ...)``: an exception in it goes to ``rec.error``
    (as an ``auditor-error`` finding) and the step returns ``default``; never into nova."""
    def decorate(step: _Step) -> _Step:
        @functools.wraps(step)
        def run(rec: "Recorder", *args: Any) -> Any:
            try:
                return step(rec, *args)
            except Exception as exc:  # noqa: BLE001 - the audited code never sees ours
                rec.error(exc, where)
                return default
        return run  # type: ignore[return-value]
    return decorate


class Recorder:
    """One installation's live state: the sink and the per-owner stacks."""

    def __init__(self, sink: Sink, on_error: ErrorHandler | None = None,
                 ignore_threads: tuple[str, ...] = ()):
        """``ignore_threads``: name prefixes of threads that are not the audited process
        (other services'): their events are dropped, and the hooks do no extra work for
        them (``ignored``)."""
        self.sink = sink
        self.on_error = on_error
        self.ignore_threads = ignore_threads
        self.active = True
        self.held: dict[int, list[str]] = {}           # owner -> lock names, oldest first
        self.depth: dict[tuple[str, int], int] = {}    # (surface, owner) -> re-entrancy depth
        self.lock_exc: dict[int, BaseException] = {}   # owner -> exception seen leaving the semaphore
        self._emitting: set[int] = set()
        self.extras: dict[str, object] = {}            # per-surface state of this installation
        self._once: set = set()                        # keys ``first`` has seen this run
        #: called with every event after the sink: the explorer's decision point (``explore``)
        self.gate: Callable[[Event], None] | None = None

    def stamp(self, who: int | None = None) -> tuple[int, float, int, str]:
        """``(seq, t, owner, thread)``: the common head of every event."""
        return stamp(who)

    def ignored(self) -> bool:
        """Whether the calling thread is one whose events are dropped (``emit``)."""
        prefixes = self.ignore_threads
        return bool(prefixes) and thread_name().startswith(prefixes)

    def held_by(self, who: int) -> tuple[str, ...]:
        stack = self.held.get(who)
        return tuple(stack) if stack else ()

    def first(self, key: object) -> bool:
        """Whether ``key`` is new this run (then it is remembered): for an event whose
        repeats tell a check nothing new. Forgets everything past ``_ONCE_MAX`` keys (a
        repeat is then recorded again) and at ``new_run``."""
        once = self._once
        if key in once:
            return False
        if len(once) >= _ONCE_MAX:
            once.clear()
        once.add(key)
        return True

    def new_run(self) -> None:
        """A run begins: every ``first`` key is new again."""
        self._once = set()

    def emit(self, event: Event) -> None:
        """Hand ``event`` to the sink; events of ignored threads and events the sink itself
        causes are dropped."""
        if self.ignore_threads and event.thread.startswith(self.ignore_threads):
            return
        who = event.owner
        if who in self._emitting:
            return
        self._emitting.add(who)
        try:
            self.sink(event)
        except Exception as exc:  # the sink must never break the audited code
            self.error(exc, "sink")
        finally:
            self._emitting.discard(who)
        gate = self.gate
        if gate is not None:
            try:
                gate(event)
            except Exception as exc:  # the scheduler must never break the audited code either
                self.error(exc, "gate")

    def error(self, exc: BaseException, where: str) -> None:
        """Report an internal error of the auditor; never raises."""
        if self.on_error is None:
            return
        try:
            self.on_error(exc, where)
        except Exception:
            pass

    def enter(self, surface: str, who: int) -> int:
        """Increment and return the previous re-entrancy depth of ``surface`` for ``who``."""
        key = (surface, who)
        prev = self.depth.get(key, 0)
        self.depth[key] = prev + 1
        return prev

    def leave(self, surface: str, who: int) -> None:
        key = (surface, who)
        n = self.depth.get(key, 1) - 1
        if n > 0:
            self.depth[key] = n
        else:
            self.depth.pop(key, None)


@guarded("recorder.enter")
def enter(rec: Recorder, surface: str) -> tuple[int, int]:
    """``(owner, previous depth)`` on entering ``surface`` (guarded ``Recorder.enter``)."""
    who = owner()
    return who, rec.enter(surface, who)


@guarded("recorder.leave")
def leave(rec: Recorder, surface: str, who: int) -> None:
    """Guarded ``Recorder.leave``."""
    rec.leave(surface, who)


def outermost(rec: Recorder, surface: str, outer: Callable[..., Any]) -> Callable[..., Any]:
    """A wrapt wrapper: ``outer(who, wrapped, instance, args, kwargs)`` for an owner's
    outermost call into ``surface``; the call alone when nested in one (a report client
    method calling another, a retried request), when not recording, or when the
    bookkeeping failed."""
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        entered = enter(rec, surface)
        if entered is None:
            return wrapped(*args, **kwargs)
        who, depth = entered
        try:
            if depth:
                return wrapped(*args, **kwargs)
            return outer(who, wrapped, instance, args, kwargs)
        finally:
            leave(rec, surface, who)
    return wrapper
