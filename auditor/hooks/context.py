"""Bookkeeping shared by the hooks: owners, held-lock stacks, event stamps and call sites."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Callable

import wrapt

import auditor
from auditor.events import Event, Site, Sink, stamp

__all__ = ["Recorder", "ErrorHandler", "site", "relpath", "qualname", "owner", "caller_frame",
           "UNKNOWN_SITE"]

ErrorHandler = Callable[[BaseException, str], None]

UNKNOWN_SITE = Site("<unknown>", 0, "<unknown>")

# Frames in these directories are the auditor's or its plumbing's, never the audited code.
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (auditor, wrapt, logging))
_OWN_DIRS = _INTERNAL_DIRS[:2]   # the auditor's and wrapt's frames only
_internal: dict[str, bool] = {}
_relpaths: dict[str, str] = {}


def owner() -> int:
    """The current thread's id, or the greenthread's under eventlet (looked up at call time)."""
    return threading.get_ident()


def _is_internal(filename: str) -> bool:
    hit = _internal.get(filename)
    if hit is None:
        hit = _internal[filename] = (
            filename.startswith(_INTERNAL_DIRS)
            or f"{os.sep}oslo_concurrency{os.sep}" in filename
            or filename.endswith(f"{os.sep}contextlib.py"))
    return hit


def relpath(filename: str) -> str:
    """``filename`` relative to site-packages (``nova/...``), else to the longest sys.path entry."""
    rel = _relpaths.get(filename)
    if rel is None:
        rel = filename
        for marker in ("site-packages", "dist-packages"):
            i = filename.rfind(f"{os.sep}{marker}{os.sep}")
            if i >= 0:
                rel = filename[i + len(marker) + 2:]
                break
        else:
            roots = [p for p in sys.path if p and filename.startswith(os.path.join(p, ""))]
            if roots:
                rel = filename[len(os.path.join(max(roots, key=len), "")):]
        _relpaths[filename] = rel = rel.replace(os.sep, "/")
    return rel


def caller_frame(depth: int = 0):
    """The first frame above the caller's, ``depth`` up, that is not the auditor's or wrapt's."""
    f = sys._getframe(depth + 1)
    while f is not None and f.f_code.co_filename.startswith(_OWN_DIRS):
        f = f.f_back
    return f


def site(depth: int = 0, frame=None) -> Site:
    """The first frame outside auditor/wrapt/logging/lock internals, from ``depth`` frames above
    the caller (or from ``frame``)."""
    f = frame if frame is not None else sys._getframe(depth + 1)
    while f is not None:
        code = f.f_code
        if not _is_internal(code.co_filename):
            return Site(relpath(code.co_filename), f.f_lineno, code.co_name)
        f = f.f_back
    return UNKNOWN_SITE


def qualname(exc_type: type | None) -> str | None:
    """``module.Class`` for an exception type."""
    if exc_type is None:
        return None
    return f"{exc_type.__module__}.{exc_type.__qualname__}"


class Recorder:
    """One installation's live state: the sink and the per-owner stacks."""

    def __init__(self, sink: Sink, on_error: ErrorHandler | None = None):
        self.sink = sink
        self.on_error = on_error
        self.active = True
        self.held: dict[int, list[str]] = {}           # owner -> lock names, oldest first
        self.depth: dict[tuple[str, int], int] = {}    # (surface, owner) -> re-entrancy depth
        self.lock_exc: dict[int, BaseException] = {}   # owner -> exception seen leaving the semaphore
        self._emitting: set[int] = set()
        self.extras: dict[str, object] = {}            # per-surface state of this installation

    def stamp(self, who: int | None = None) -> tuple[int, float, int, str]:
        """``(seq, t, owner, thread)``: the common head of every event."""
        return stamp(who)

    def held_by(self, who: int) -> tuple[str, ...]:
        stack = self.held.get(who)
        return tuple(stack) if stack else ()

    def emit(self, event: Event) -> None:
        """Hand ``event`` to the sink; events the sink itself causes are dropped."""
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
