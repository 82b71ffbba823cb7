"""Child: per-event costs in ns, one row per hook surface's event (timeit; no nova process).

Each row is measured plain, traced and audited, interleaved (the order rotates
every repeat; hooks are installed and uninstalled around each timing), in CPU
time of the measuring thread:

- traced: a ``auditor.tracing.tracer.Tracer`` writing its trace file, as
  ``auditor trace`` runs it (log records as the logging configuration emits
  them; spans written; findings looked for after every event);
- audited: an ``AuditSession`` (log records forced from DEBUG, drained into
  every check, secret-scanned against ``CANARIES`` canaries).

Rows by surface: logging ``log-debug`` (``LOG.debug`` on a ``nova.*`` logger at
INFO: plain and traced drop it, audited forces it) and ``log-info`` (reaches a
handler); locks ``lock`` (``with lockutils.lock(name)``, uncontended);
external ``placement-get`` (the report client's verb hook around a no-op
call); tracker entry points ``entry`` (the entry-point hook around a no-op
method); tracker state ``state`` (``d[k] = v`` on a recording proxy),
``state-read`` (``d[k]`` through a proxy: not recorded, the proxy's C-level
forwarding only) and ``rebind`` (``obj.attr = v`` through the tracker's
``__setattr__`` hook); wire ``db-connect`` (a SQLite connection opened and closed,
SQLAlchemy without a pool, as nova's database API does per access: the wire hook's
repeat, recorded once per run). Checks alone, audited only: ``log-scan``
(``SensitiveLogCheck.observe``) and ``state-check`` (``LockingCheck.observe``).

Parameters: ``mode`` (``threading``, default, or ``eventlet``: nova's monkey patching
applied first), ``threads`` (that many idle threads alive while measuring, as in a
nova-compute: eventlet's ``threading.current_thread`` scans them for a native thread) and
``cold_mb`` (each call timed alone after reading that many MB of other objects: the event
with cold caches, as it comes in a pass, not in a tight loop).

Usage: python -m benchmarks.micro '{"quick": true}'
       python -m benchmarks.micro '{"mode": "eventlet", "threads": 20}'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import timeit
from typing import Callable

from benchmarks.common import emit, say, summary

CANARIES = 30
KINDS = ("plain", "traced", "audited")


def _registry():
    from auditor.canaries import CanaryRegistry

    reg = CanaryRegistry()
    for i in range(CANARIES):
        reg.plant(f"ironic.driver_info.ipmi_password.{i}")
    return reg


def _per_op(stmt, number: int, cold: Callable[[], object] | None = None) -> float:
    """CPU ns per call on this thread (``thread_time``: time the scheduler gave to other
    processes on a shared machine is not counted). With ``cold``, each call is timed alone
    after ``cold()`` has pushed its code and data out of the CPU's caches, as nova's own
    work does between two events of a pass."""
    if cold is None:
        return timeit.Timer(stmt, timer=time.thread_time).timeit(number) / number * 1e9
    clock, spent = time.thread_time_ns, 0
    for _ in range(number):
        cold()
        t0 = clock()
        stmt()
        spent += clock() - t0
    return spent / number


def _evictor(megabytes: int) -> Callable[[], object]:
    """Reads ``megabytes`` of Python objects (about 100 bytes each), one attribute each."""
    class Obj:
        __slots__ = ("a",)

        def __init__(self, a):
            self.a = a

    objs = [Obj(i) for i in range(megabytes * 10_000)]
    return lambda: sum(o.a for o in objs)


def _audited(reg, tmp):
    """Hooks and checks of an audit; ``(session, stop)``."""
    from auditor.session import AuditSession

    session = AuditSession(canaries=reg).start()
    session.begin_run("micro")

    def stop():
        session.end_run("passed", 0.0)
        session.stop()
    return session, stop


def _traced(reg, tmp):
    """A tracer as ``auditor trace`` starts it; ``(session, stop)``."""
    from auditor.tracing.tracer import Tracer

    tracer = Tracer(os.path.join(tmp, "micro-{pid}.jsonl"), "micro").start(reg)

    def stop():
        tracer.close("micro")
        os.unlink(tracer.path)
    return tracer.session, stop


def _cases(reg):
    """name -> (plain callable, {kind: factory(session) -> callable})."""
    import sqlalchemy
    import wrapt
    from oslo_concurrency import lockutils

    from auditor.checks.locking import LockingCheck
    from auditor.checks.sensitive_log import SensitiveLogCheck
    from auditor.events import LogEvent, Site, StateAccess
    from auditor.hooks import containers, external_calls, tracker
    from auditor.hooks.ledger import MISSING
    from auditor.hooks.recorder import Recorder
    from auditor.nova.discipline import DEFAULT

    log = logging.getLogger("nova.compute.bench")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(logging.NullHandler())
    node = "1f6b3e0c-6a0e-4d0a-9b55-1b2c3d4e5f60"
    info = {"ipmi_address": "10.0.0.1", "ipmi_username": "admin"}

    def log_debug():
        log.debug("Updating resource usage for node %s: %s", node, info)

    def log_info():
        log.info("Compute node record created for %s with uuid %s", "bench-host", node)

    def lock():
        with lockutils.lock("bench-lock"):
            pass

    engine = sqlalchemy.create_engine("sqlite://", poolclass=sqlalchemy.pool.NullPool)

    def db_connect():
        engine.connect().close()

    def recorder(session) -> Recorder:
        rec = Recorder(session.sink, session.internal_error)
        rec.extras["tracker"] = tracker.Tracking(rec, DEFAULT)
        return rec

    def noop(*args, **kwargs):
        return None

    url = f"/resource_providers/{node}/inventories"

    def placement(session):
        get = wrapt.FunctionWrapper(noop, external_calls._verb_wrapper(recorder(session), "get"))
        return lambda: get(url)

    class Tracker:
        def update_usage(self):
            return None

    plain_rt = Tracker()

    def entry(session):
        wrapper = tracker._entry_wrapper(recorder(session), "update_usage")
        hooked = type("HookedTracker", (), {
            "update_usage": wrapt.FunctionWrapper(Tracker.update_usage, wrapper)})()
        return hooked.update_usage

    def rebind(session):
        rec = recorder(session)
        hooked = type("HookedTracker", (), {
            "__setattr__": tracker._make_setattr(rec, MISSING, None, "__setattr__")})()
        return lambda: setattr(hooked, "stats", 1)

    plain_dict: dict = {"node": 1}

    def proxy(session):
        return containers.wrap({"node": 1}, recorder(session), 1, "compute_nodes", False)

    def state_write(session):
        d = proxy(session)
        return lambda: d.__setitem__("node", 1)

    def state_read(session):
        d = proxy(session)
        return lambda: d["node"]

    event = LogEvent(1, time.monotonic(), 1, "MainThread", "nova.compute.bench", 10,
                     Site("nova/compute/resource_tracker.py", 1, "f"),
                     "Updating resource usage for node %s: %s", (repr(node), repr(info)),
                     f"Updating resource usage for node {node}: {info}", (), None, ())
    check = SensitiveLogCheck(reg)
    check.observe(event)
    access = StateAccess(1, time.monotonic(), 1, "MainThread", "compute_nodes", "write",
                         "node", 1, Site("nova/compute/resource_tracker.py", 1, "f"),
                         ("compute_resources",))
    lcheck = LockingCheck()

    def hooks_only(fn):
        return {kind: (lambda session: fn) for kind in KINDS[1:]}

    def made(factory):
        return {kind: factory for kind in KINDS[1:]}

    return {
        "log-debug": (log_debug, hooks_only(log_debug)),
        "log-info": (log_info, hooks_only(log_info)),
        "lock": (lock, hooks_only(lock)),
        "placement-get": (lambda: noop(url), made(placement)),
        "entry": (lambda: plain_rt.update_usage(), made(entry)),
        "state": (lambda: plain_dict.__setitem__("node", 1), made(state_write)),
        "state-read": (lambda: plain_dict["node"], made(state_read)),
        "rebind": (lambda: setattr(plain_rt, "stats", 1), made(rebind)),
        "db-connect": (db_connect, hooks_only(db_connect)),
        "log-scan": (noop, {"audited": lambda session: (lambda: check.observe(event))}),
        "state-check": (noop, {"audited": lambda session: (lambda: lcheck.observe(access))}),
    }


_START = {"traced": _traced, "audited": _audited}


def _idle_threads(n: int):
    """``n`` threads waiting on one event; returns the event that ends them."""
    import threading

    done = threading.Event()
    for i in range(n):
        threading.Thread(target=done.wait, name=f"bench-idle-{i}", daemon=True).start()
    return done


def main(params: dict) -> dict:
    if "mode" in params:
        from scenarios import mode

        mode.apply(params["mode"])
    idle = _idle_threads(int(params.get("threads", 0)))
    quick = bool(params.get("quick"))
    repeats = int(params.get("repeats", 3 if quick else 7))
    number = int(params.get("number", 2000 if quick else 20000))
    cold = _evictor(int(params["cold_mb"])) if params.get("cold_mb") else None
    reg = _registry()
    cases = _cases(reg)
    tmp = tempfile.mkdtemp(prefix="bench-micro-")
    out = {}
    try:
        for name, (plain, variants) in cases.items():
            kinds = ["plain", *variants]
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            for r in range(repeats):
                for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                    if kind == "plain":
                        plain()
                        times[kind].append(_per_op(plain, number, cold))
                        continue
                    session, stop = _START[kind](reg, tmp)
                    try:
                        fn = variants[kind](session)
                        fn()
                        times[kind].append(_per_op(fn, number, cold))
                    finally:
                        stop()
            out[name] = {f"{kind}_ns": summary(values) for kind, values in times.items()}
            say(f"{name:<14}" + "".join(
                f" {kind} {out[name][f'{kind}_ns']['median']:>9.0f} ns" for kind in kinds))
    finally:
        idle.set()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"repeats": repeats, "number": number, "canaries": CANARIES, "cases": out,
            "mode": params.get("mode", "threading"), "threads": int(params.get("threads", 0)),
            "cold_mb": int(params.get("cold_mb", 0))}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
