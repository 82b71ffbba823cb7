"""Eventlet mode of the controlled scheduler: what greenthreads and green primitives report.

Under eventlet (threads monkey-patched) every thread is a greenlet on one OS
thread, so a member is keyed by its greenlet (``ident``): ``spawn_n`` (which
also runs every ``threading.Thread``) makes a bare greenlet that green
``threading.current_thread()`` cannot tell from the main thread. Green locks
are ``eventlet.semaphore.Semaphore``s, so in this mode even a plain lock's
wait is seen.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["monkey_patched", "ident", "targets", "alive"]


def monkey_patched() -> bool:
    """Whether eventlet has monkey-patched threads in this process."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and patcher.is_monkey_patched("thread")


def ident() -> Any:
    """The running greenlet: a member's key under eventlet."""
    return sys.modules["greenlet"].getcurrent()


def targets(controller: Any) -> list[tuple[Any, str, Any]]:
    """The green attributes to patch while exploring, as ``(owner, name, value)``.

    ``controller`` is the ``Controller`` (duck-typed: no import back). Eventlet's
    own ``Condition`` (futurist's green futures) is wrapped as threading's; an
    ``eventlet.event.Event`` blocks and is sent; a greenlet spawned by an
    enrolled one (``spawn``, ``spawn_n``) is enrolled at once, keyed by its
    parent, and leaves when it ends; a green ``Semaphore`` or ``Lock`` that
    would block parks the greenthread until a release wakes it (first blocked,
    first woken), then it tries again.
    """
    if not controller.green:
        return []
    found: list[tuple[Any, str, Any]] = []
    green = sys.modules.get("eventlet.green.threading")
    if green is not None and green.Condition is not sys.modules["threading"].Condition:
        found += controller.condition(green.Condition)
    event = sys.modules.get("eventlet.event")
    if event is not None:
        found += _event(controller, event.Event)
    greenthread = sys.modules.get("eventlet.greenthread")
    if greenthread is not None:
        found += _spawns(controller, greenthread)
    semaphore, lock = sys.modules.get("eventlet.semaphore"), sys.modules.get("eventlet.lock")
    if semaphore is not None and lock is not None:
        found += _semaphores(controller, semaphore.Semaphore, lock.Lock)
    return found


def _event(controller: Any, cls: type) -> list[tuple[Any, str, Any]]:
    wait, send = cls.wait, cls.send

    def wait_(ev, timeout=None):
        member = None if ev.ready() else controller._block(ev, timeout)
        if member is not None and controller._turn_after_wait(member):
            return None              # the (virtual) timeout fired, as eventlet returns it
        return wait(ev, timeout)

    def send_(ev, *args, **kwargs):
        controller.wake(ev, sys.maxsize)
        return send(ev, *args, **kwargs)

    return [(cls, "wait", wait_), (cls, "send", send_)]


def _spawns(controller: Any, greenthread: Any) -> list[tuple[Any, str, Any]]:
    init, spawn_n = greenthread.GreenThread.__init__, greenthread._spawn_n

    def init_(gt, parent):
        init(gt, parent)
        if controller.active and controller._will_spawn(gt):
            gt.link(controller._gone)

    def spawn_n_(seconds, func, args, kwargs):
        def run(*a, **kw):
            try:
                return func(*a, **kw)
            finally:
                controller._gone(ident())

        timer, g = spawn_n(seconds, run, args, kwargs)
        if controller.active:
            controller._will_spawn(g)
        return timer, g

    return [(greenthread.GreenThread, "__init__", init_), (greenthread, "_spawn_n", spawn_n_)]


def _semaphores(controller: Any, semaphore: type, lock: type) -> list[tuple[Any, str, Any]]:
    acquire = semaphore.acquire

    def acquire_(sem, blocking=True, timeout=None):
        if (not blocking or timeout not in (None, -1) or sem is controller._lock
                or not controller.running()):
            return acquire(sem, blocking, timeout)
        while not acquire(sem, False):
            member = controller._block(sem, None)
            if member is None:
                return acquire(sem, True, None)
            controller._turn_after_wait(member)
        return True

    def releasing(release):
        def release_(sem, *args, **kwargs):
            result = release(sem, *args, **kwargs)
            controller.wake(sem, 1)
            return result
        return release_

    return [(semaphore, "acquire", acquire_), (semaphore, "release", releasing(semaphore.release)),
            (lock, "release", releasing(lock.release))]


def alive(thread: Any) -> bool | None:
    """For a greenlet: alive until it ends; None for anything else."""
    dead = getattr(thread, "dead", None)
    return None if dead is None else not dead
