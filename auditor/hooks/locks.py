"""Record oslo.concurrency lock acquire/release with per-owner held stacks (``lockutils.lock``)."""

from __future__ import annotations

import time
from typing import Any

import wrapt

from auditor.events import SEMAPHORE, LockEvent, Site
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.hooks.sites import at, caller_frame, site
from auditor.nova import hook_points as hp
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
    return at(fcode.co_filename, fcode.co_firstlineno, fcode.co_name)


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
            _acquired(rec, self)
        return value

    def __exit__(self, exc_type, exc, tb):
        rec = self._self_rec
        if rec.active and self._self_t1 is not None:
            # Emitted while the lock is still held, so its seq precedes the next holder's acquire.
            _releasing(rec, self, exc)
        return self.__wrapped__.__exit__(exc_type, exc, tb)


@guarded("locks.acquire")
def _acquired(rec: Recorder, lock: _RecordingLock) -> None:
    who = owner()
    now = time.monotonic()
    lock._self_t1 = now
    stack = rec.held.setdefault(who, [])
    held = tuple(stack)
    stack.append(lock._self_name)
    rec.emit(LockEvent(*rec.stamp(who), lock._self_name, "acquire", lock._self_site,
                       lock._self_fair, now - lock._self_t0, 0.0, held))


@guarded("locks.release")
def _releasing(rec: Recorder, lock: _RecordingLock, exc: BaseException | None) -> None:
    who = owner()
    name = lock._self_name
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
    rec.emit(LockEvent(*rec.stamp(who), name, "release", lock._self_site, lock._self_fair,
                       0.0, time.monotonic() - lock._self_t1, held))


@guarded("locks.lock")
def _lock_call(rec: Recorder, args: tuple, kwargs: dict) -> tuple[str, bool, Site]:
    """``lock()``'s name and fairness, and who called it."""
    name = args[0] if args else kwargs["name"]
    fair = bool(kwargs["fair"] if "fair" in kwargs else (args[7] if len(args) > 7 else False))
    return str(name), fair, _caller_site()


def _lock_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        t0 = time.monotonic()
        call = _lock_call(rec, args, kwargs)
        cm = wrapped(*args, **kwargs)
        return cm if call is None else _RecordingLock(cm, rec, *call, t0)
    return wrapper


TARGETS = (
    Target(hp.LOCKUTILS_MODULE, "", (hp.LOCK_FUNCTION,), wrapping(_lock_wrapper)),
)
