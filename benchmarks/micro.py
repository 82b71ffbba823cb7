"""Child: per-event costs in ns (timeit; no nova needed).

Cases, each plain vs audited, interleaved (hooks installed/uninstalled between repeats):

- ``log``: ``LOG.debug(fmt, a, b)`` on a ``nova.*`` logger configured at INFO
  (plain: dropped by ``isEnabledFor``; audited: the record is forced, captured
  as a ``LogEvent``, drained into every check, secret-scanned against ~30
  canaries). Also ``log-info``: an INFO record that handlers do get.
- ``log-debug/trace``, ``log-info/trace``, ``lock/trace``: the same under
  tracing's log capture (``force_debug=False``: only records the logging
  configuration emits are captured; the DEBUG record is dropped as in plain).
- ``log-scan``: ``SensitiveLogCheck.observe`` alone on a prebuilt ``LogEvent``.
- ``lock``: ``with lockutils.lock(name)`` uncontended (plain vs recorded + checks).
- ``state``: ``d[k] = v`` on a tracker container (plain dict vs the recording
  proxy with ``LockingCheck`` judging it through the session).

Usage: python -m benchmarks.micro '{"quick": true}'
"""

from __future__ import annotations

import json
import logging
import sys
import time
import timeit

from benchmarks.common import emit, say, summary

CANARIES = 30


def _registry():
    from auditor.canaries import CanaryRegistry

    reg = CanaryRegistry()
    for i in range(CANARIES):
        reg.plant(f"ironic.driver_info.ipmi_password.{i}")
    return reg


def _session(reg):
    from auditor.session import AuditSession

    session = AuditSession(canaries=reg)
    session.begin_run("micro")
    return session


def _per_op(stmt, number: int) -> float:
    return timeit.timeit(stmt, number=number) / number * 1e9


def _cases(reg):
    """name -> (plain callable, audited callable factory returning (callable, cleanup))."""
    from oslo_concurrency import lockutils

    from auditor import hooks
    from auditor.events import LogEvent, Site, StateAccess
    from auditor.checks.sensitive_log import SensitiveLogCheck
    from auditor.hooks import containers
    from auditor.hooks.recorder import Recorder

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

    plain_dict: dict = {}

    def state_plain():
        plain_dict["node"] = 1

    def installed(fn, force_debug=True):
        def start():
            session = _session(reg)
            inst = hooks.install(session.sink, force_debug=force_debug,
                                 on_error=session.internal_error)
            return fn, inst.uninstall
        return start

    def state_audited():
        session = _session(reg)
        rec = Recorder(session.sink, session.internal_error)
        proxy = containers.wrap({}, rec, 1, "compute_nodes", False)

        def op():
            proxy["node"] = 1
        return op, (lambda: session.end_run("passed", 0.0))

    event = LogEvent(1, time.monotonic(), 1, "MainThread", "nova.compute.bench", 10,
                     Site("nova/compute/resource_tracker.py", 1, "f"),
                     "Updating resource usage for node %s: %s", (repr(node), repr(info)),
                     f"Updating resource usage for node {node}: {info}", (), None, ())
    check = SensitiveLogCheck(reg)
    check.observe(event)
    access = StateAccess(1, time.monotonic(), 1, "MainThread", "compute_nodes", "write",
                         "node", 1, Site("nova/compute/resource_tracker.py", 1, "f"),
                         ("compute_resources",))
    from auditor.checks.locking import LockingCheck

    lcheck = LockingCheck()

    def noop():
        pass

    return {
        "log-debug": (log_debug, installed(log_debug)),
        "log-info": (log_info, installed(log_info)),
        "log-debug/trace": (log_debug, installed(log_debug, force_debug=False)),
        "log-info/trace": (log_info, installed(log_info, force_debug=False)),
        "lock/trace": (lock, installed(lock, force_debug=False)),
        "log-scan": (noop, lambda: ((lambda: check.observe(event)), noop)),
        "lock": (lock, installed(lock)),
        "state": (state_plain, state_audited),
        "state-check": (noop, lambda: ((lambda: lcheck.observe(access)), noop)),
    }


def main(params: dict) -> dict:
    quick = bool(params.get("quick"))
    repeats = int(params.get("repeats", 3 if quick else 7))
    number = int(params.get("number", 2000 if quick else 20000))
    reg = _registry()
    cases = _cases(reg)
    out = {}
    for name, (plain, audited_factory) in cases.items():
        plain_ns, audited_ns = [], []
        for r in range(repeats):
            for variant in (("plain", "audited") if r % 2 == 0 else ("audited", "plain")):
                if variant == "plain":
                    plain()
                    plain_ns.append(_per_op(plain, number))
                else:
                    fn, cleanup = audited_factory()
                    try:
                        fn()
                        audited_ns.append(_per_op(fn, number))
                    finally:
                        cleanup()
        out[name] = {"plain_ns": summary(plain_ns), "audited_ns": summary(audited_ns)}
        say(f"{name:<16} plain {out[name]['plain_ns']['median']:>9.0f} ns   audited "
            f"{out[name]['audited_ns']['median']:>9.0f} ns")
    return {"repeats": repeats, "number": number, "canaries": CANARIES, "cases": out}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
