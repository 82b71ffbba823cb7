"""Record oslo.concurrency lock acquire/release with per-owner held stacks (``lockutils.lock``)."""

from __future__ import annotations

import time
from typing import Any

import wrapt

from auditor.events import SEMAPHORE, LockEvent, Site
from auditor.hooks.context import Recorder, caller_frame, owner, relpath, site
from auditor.hooks.ledger import Target, wrapping

__all__ = ["TARGETS"]


def _synchronized_site(frame) -> Site | None:
    """For a lock taken by ``synchronized``'s ``inner``, the decorated function's definition."""
    code = frame.f_code
    if code.co_name != "inner" or not code.co_filename.endswith("lockutils.py"):
        return None
    f = frame.f_locals.get("f")
    f = getattr(f, "__func__", f)
    fcode = getattr(f, "__code__", None)
    if fcode is None:
        return None
    return Site(relpath(fcode.co_filename), fcode.co_firstlineno, fcode.co_name)


def _caller_site() -> Site:
    frame = caller_frame()   # whoever called lock(): synchronized's inner, or nova code
    return (frame is not None and _synchronized_site(frame)) or site(frame=frame)


class _RecordingLock(wrapt.ObjectProxy):
    """The context manager ``lock()`` returned, recording enter and exit."""

    def __init__(self, cm: Any, rec: Recorder, name: str, fair: bool, where: Site, t0: float):
        super().__init__(cm)
        self._self_rec = rec
        self._self_name = name
        self._self_fair = fair
        self._self_site = where
        self._self_t0 = t0
        self._self_t1 = None

    def __enter__(self):
        value = self.__wrapped__.__enter__()
        rec = self._self_rec
        if rec.active:
            try:
                self._acquired(rec)
            except Exception as exc:
                rec.error(exc, "locks.acquire")
        return value

    def _acquired(self, rec: Recorder) -> None:
        who = owner()
        now = time.monotonic()
        self._self_t1 = now
        stack = rec.held.setdefault(who, [])
        held = tuple(stack)
        stack.append(self._self_name)
        rec.emit(LockEvent(*rec.stamp(who), self._self_name, "acquire", self._self_site,
                           self._self_fair, now - self._self_t0, 0.0, held))

    def __exit__(self, exc_type, exc, tb):
        rec = self._self_rec
        if rec.active and self._self_t1 is not None:
            # Emitted while the lock is still held, so its seq precedes the next holder's acquire.
            try:
                self._releasing(rec, exc)
            except Exception as err:
                rec.error(err, "locks.release")
        return self.__wrapped__.__exit__(exc_type, exc, tb)

    def _releasing(self, rec: Recorder, exc: BaseException | None) -> None:
        who = owner()
        name = self._self_name
        stack = rec.held.get(who, [])
        held = tuple(stack)
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] == name:
                del stack[i]
                break
        if not stack:
            rec.held.pop(who, None)
        if exc is not None and name == SEMAPHORE:
            rec.lock_exc[who] = exc
        rec.emit(LockEvent(*rec.stamp(who), name, "release", self._self_site, self._self_fair,
                           0.0, time.monotonic() - self._self_t1, held))


def _lock_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        t0 = time.monotonic()
        try:
            name = args[0] if args else kwargs["name"]
            fair = bool(kwargs["fair"] if "fair" in kwargs else (args[7] if len(args) > 7 else False))
            where = _caller_site()
        except Exception as exc:
            rec.error(exc, "locks.lock")
            return wrapped(*args, **kwargs)
        cm = wrapped(*args, **kwargs)
        return _RecordingLock(cm, rec, str(name), fair, where, t0)
    return wrapper


#: ``synchronized``'s ``inner`` looks ``lock`` up as a module global at call time,
#: so wrapping the module attribute also covers nova's ``utils.synchronized``.
TARGETS = (
    Target("oslo_concurrency.lockutils", "", ("lock",), wrapping(_lock_wrapper)),
)
