"""Eventlet mode of the controlled scheduler: what greenthreads and green primitives report.

Under eventlet (threads monkey-patched), ``threading.current_thread()`` inside a
greenthread is a wrapper, green ``Condition``/``Event``/``Semaphore`` block by
switching the hub, and waits are not sliced: they are the primitive's own.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

__all__ = ["monkey_patched", "targets", "alive"]


def monkey_patched() -> bool:
    """Whether eventlet has monkey-patched threads in this process."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and patcher.is_monkey_patched("thread")


def targets(controller: Any, waiting: Callable,
            condition: Callable) -> list[tuple[type, str, Any]]:
    """The green attributes to patch while exploring, as ``(owner, name, value)``.

    ``waiting(original, done)`` wraps a wait that ends when ``done(on, member)``;
    ``condition(cls)`` wraps a Condition class's wait and notify. Eventlet's own
    ``Condition`` (futurist's green futures) is wrapped as threading's; an
    ``eventlet.event.Event`` (looping calls, ``GreenThread.wait``) blocks and is
    sent; a ``GreenThread`` spawned by an enrolled thread is enrolled at once (a
    pending child, keyed by its parent) and leaves when it ends; a green
    ``Semaphore`` or ``Lock`` that blocks reports it (woken first in, first out,
    as eventlet does).
    """
    found: list[tuple[type, str, Any]] = []
    green = sys.modules.get("eventlet.green.threading")
    if green is not None and green.Condition is not sys.modules["threading"].Condition:
        found += condition(green.Condition)
    event = sys.modules.get("eventlet.event")
    if event is not None:
        send = event.Event.send

        def send_(ev, *args, **kwargs):
            controller._notifying(ev, sys.maxsize)
            return send(ev, *args, **kwargs)

        found += [(event.Event, "wait", waiting(event.Event.wait,
                                                lambda e, m: m.fired or e.ready())),
                  (event.Event, "send", send_)]
    greenthread = sys.modules.get("eventlet.greenthread")
    semaphore = sys.modules.get("eventlet.semaphore")
    if greenthread is None or semaphore is None or green is None:
        return found
    init, acquire = greenthread.GreenThread.__init__, semaphore.Semaphore.acquire
    release = semaphore.Semaphore.release

    def init_(gt, parent):
        init(gt, parent)
        if controller.active:
            _will_spawn(controller, gt, green)

    def acquire_(sem, blocking=True, timeout=None):
        member = None
        if (blocking and timeout is None and sem is not controller._lock
                and (sem.counter <= 0 or sem._waiters)):
            member = controller._blocking(sem, None)
        try:
            return acquire(sem, blocking, timeout)
        finally:
            if member is not None:
                controller._woken(member)

    def release_(sem, *args, **kwargs):
        if sem is not controller._lock and sem._waiters:
            controller._notifying(sem, 1)
        return release(sem, *args, **kwargs)

    return found + [(greenthread.GreenThread, "__init__", init_),
                    (semaphore.Semaphore, "acquire", acquire_),
                    (semaphore.Semaphore, "release", release_)]


def _will_spawn(controller: Any, gt: Any, green: Any) -> None:
    """Enrol a new ``GreenThread`` of an enrolled thread under the wrapper that green
    ``threading.current_thread()`` will return inside it."""
    with controller._lock:
        parent = controller._current()
        if parent is None or not controller.active:
            return
        wrapper = green._GreenThread(gt)
        active = vars(green)["__threadlocal"].__dict__.setdefault("active", {})
        active[id(gt)] = wrapper
        member = controller._enrol(wrapper, f"{parent.key}/{parent.spawned}")
        parent.spawned += 1
        member.since = time.monotonic()
    gt.link(lambda _gt: (active.pop(id(gt), None), controller._gone(wrapper)))


def alive(thread: Any) -> bool | None:
    """For a greenthread's wrapper: alive until its greenlet ends; None for anything else."""
    greenlet = getattr(thread, "_g", None)
    return None if greenlet is None else not greenlet.dead
