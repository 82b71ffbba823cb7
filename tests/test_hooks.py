"""Tests for auditor.hooks: recording only, transparent, restorable, against the real nova."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict

import pytest
import wrapt

from auditor import hooks
from auditor.events import (SEMAPHORE, CallEvent, EntryEvent, ExitEvent, LockEvent, LogEvent,
                            StateAccess)
from auditor.hooks import containers, external_calls, recorder, sites
from auditor.hooks.recorder import Recorder
from auditor.hooks.ledger import Ledger, Target, wrapping

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _of(events, kind, **match):
    return [e for e in events if isinstance(e, kind)
            and all(getattr(e, k) == v for k, v in match.items())]


def _passthrough(rec, attr):
    def wrapper(wrapped, instance, args, kwargs):
        return wrapped(*args, **kwargs)
    return wrapper


def _run(script: str, timeout: int = 240) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- units -------------------------------------------------------------------------


class TestLedger:
    def _module(self, tmp_path, monkeypatch, name):
        (tmp_path / f"{name}.py").write_text("class K:\n    def m(self):\n        return 1\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    def test_restores_by_identity(self, tmp_path, monkeypatch):
        """close() puts back the very object that was wrapped."""
        name = self._module(tmp_path, monkeypatch, "hooks_mod_a")
        mod = __import__(name)
        original = mod.K.__dict__["m"]
        ledger = Ledger(Recorder(lambda e: None))
        ledger.apply([Target(name, "K", ("m",), wrapping(_passthrough))])
        assert isinstance(mod.K.__dict__["m"], wrapt.FunctionWrapper)
        assert mod.K().m() == 1
        ledger.close()
        ledger.close()
        assert mod.K.__dict__["m"] is original

    def test_module_imported_later_is_patched(self, tmp_path, monkeypatch):
        """A target whose module is imported after apply() is wrapped at import."""
        name = self._module(tmp_path, monkeypatch, "hooks_mod_b")
        ledger = Ledger(Recorder(lambda e: None))
        ledger.apply([Target(name, "K", ("m",), wrapping(_passthrough))])
        mod = __import__(name)
        assert isinstance(mod.K.__dict__["m"], wrapt.FunctionWrapper)
        ledger.close()
        assert not isinstance(mod.K.__dict__["m"], wrapt.FunctionWrapper)

    def test_post_import_hook_inert_after_close(self, tmp_path, monkeypatch):
        """A module never imported while installed is left alone when imported after close()."""
        name = self._module(tmp_path, monkeypatch, "hooks_mod_c")
        ledger = Ledger(Recorder(lambda e: None))
        ledger.apply([Target(name, "K", ("m",), wrapping(_passthrough))])
        ledger.close()
        mod = __import__(name)
        assert not isinstance(mod.K.__dict__["m"], wrapt.FunctionWrapper)

    def test_missing_hook_points_are_listed(self, tmp_path, monkeypatch):
        """Unresolvable owners and attributes are reported, not raised."""
        name = self._module(tmp_path, monkeypatch, "hooks_mod_d")
        ledger = Ledger(Recorder(lambda e: None))
        ledger.apply([Target(name, "K", ("m", "gone"), wrapping(_passthrough)),
                      Target(name, "Nope", ("x",), wrapping(_passthrough))])
        __import__(name)
        assert ledger.missing == [f"{name}.K.gone", f"{name}.Nope"]
        ledger.close()


class TestContext:
    def test_relpath_is_relative_to_site_packages(self):
        """Paths under site-packages become package-relative."""
        import nova.compute.resource_tracker as rt_mod

        assert sites.relpath(rt_mod.__file__) == "nova/compute/resource_tracker.py"

    def test_site_skips_auditor_frames(self):
        """site() names the first frame outside the auditor (here: this test)."""
        where = sites.site()
        assert where.path.endswith("test_hooks.py")
        assert where.function == "test_site_skips_auditor_frames"

    def test_owner_differs_per_thread(self):
        """Each thread is its own owner."""
        seen = []
        t = threading.Thread(target=lambda: seen.append(recorder.owner()))
        t.start()
        t.join()
        assert seen[0] != recorder.owner()

    def test_sink_errors_go_to_on_error(self):
        """A failing sink is reported through on_error and never raised."""
        errors = []

        def sink(event):
            raise ValueError("boom")

        rec = Recorder(sink, lambda exc, where: errors.append(where))
        rec.emit(LockEvent(*rec.stamp(), "x", "acquire", sites.UNKNOWN_SITE, False, 0, 0, ()))
        assert errors == ["sink"]


class TestInstall:
    def _originals(self):
        from oslo_concurrency import lockutils

        from nova.compute import resource_tracker
        from nova.scheduler.client import report
        from nova.virt.ironic import driver

        rt = resource_tracker.ResourceTracker
        return {
            "lock": lockutils.__dict__["lock"],
            **{f"Logger.{n}": logging.Logger.__dict__[n]
               for n in ("isEnabledFor", "makeRecord", "handle")},
            **{f"RT.{n}": v for n, v in vars(rt).items()},
            **{f"report.{n}": v for n, v in vars(report.SchedulerReportClient).items()},
            "ironic_connection": driver.IronicDriver.__dict__["ironic_connection"],
        }

    def test_uninstall_restores_every_original(self):
        """Every hooked attribute is restored by identity and no __setattr__ is left behind."""
        from nova.compute import resource_tracker

        before = self._originals()
        installation = hooks.install(lambda e: None)
        assert "__setattr__" in vars(resource_tracker.ResourceTracker)
        changed = [k for k, v in self._originals().items() if before.get(k) is not v]
        assert "lock" in changed and "RT.instance_claim" in changed
        assert "report.put" in changed and "ironic_connection" in changed
        installation.uninstall()
        installation.uninstall()
        after = self._originals()
        assert after.keys() == before.keys()
        assert all(after[k] is before[k] for k in before)
        assert installation.missing == []

    def test_second_install_raises(self, hooks_recording):
        """Only one installation may be active."""
        with pytest.raises(RuntimeError):
            hooks.install(lambda e: None)

    def test_install_before_nova_import(self):
        """Installed before nova and oslo.concurrency are imported, the hooks catch nova's locks."""
        result = _run("""
            import json, sys
            from auditor import hooks
            from auditor.events import LockEvent
            events = []
            inst = hooks.install(events.append)
            early = sorted(m for m in ("nova", "oslo_concurrency.lockutils") if m in sys.modules)
            from scenarios import mode; mode.apply("threading")
            import wrapt
            from nova import utils
            from nova.compute import resource_tracker as rt
            from nova.scheduler.client import report
            from nova.virt.ironic import driver
            @utils.synchronized("compute_resources", fair=True)
            def guarded():
                return 7
            assert guarded() == 7
            locks = [(e.action, e.site.function, e.fair) for e in events if isinstance(e, LockEvent)]
            print(json.dumps({"early": early, "locks": locks, "missing": inst.missing,
                "wrapped": isinstance(rt.ResourceTracker.__dict__["instance_claim"],
                                      wrapt.FunctionWrapper)
                           and isinstance(report.SchedulerReportClient.__dict__["put"],
                                          wrapt.FunctionWrapper)
                           and "__setattr__" in vars(rt.ResourceTracker)
                           and hasattr(driver.IronicDriver.ironic_connection.fget,
                                       "__wrapped__")}))
        """)
        assert result["early"] == []
        assert result["wrapped"] and result["missing"] == []
        assert result["locks"] == [["acquire", "guarded", True], ["release", "guarded", True]]


class TestLocks:
    def test_nested_locks_report_held_stacks(self, hooks_recording):
        """Nested synchronized functions see the outer lock in held; site is the decorated function."""
        from nova import utils

        _, events, _ = hooks_recording

        @utils.synchronized("hooks-inner")
        def inner():
            return "x"

        @utils.synchronized(SEMAPHORE, fair=True)
        def outer():
            return inner()

        assert outer() == "x"
        locks = _of(events, LockEvent)
        assert [(e.name, e.action, e.held) for e in locks] == [
            (SEMAPHORE, "acquire", ()), ("hooks-inner", "acquire", (SEMAPHORE,)),
            ("hooks-inner", "release", (SEMAPHORE, "hooks-inner")),
            (SEMAPHORE, "release", (SEMAPHORE,))]
        assert locks[0].site.function == "outer" and locks[0].fair
        assert locks[0].site.path.endswith("test_hooks.py")

    def test_plain_lock_site_is_caller(self, hooks_recording):
        """lockutils.lock used directly reports its caller."""
        from oslo_concurrency import lockutils

        _, events, _ = hooks_recording
        with lockutils.lock("hooks-plain") as sem:
            assert sem is not None
        acquire = _of(events, LockEvent, name="hooks-plain", action="acquire")[0]
        assert acquire.site.function == "test_plain_lock_site_is_caller"


class TestLogging:
    def test_debug_captured_but_handlers_unchanged(self, hooks_recording):
        """DEBUG records of a captured logger at INFO are recorded but not handled."""
        _, events, _ = hooks_recording
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(pathname)s %(message)s"))
        log = logging.getLogger("nova.hooks_test_a")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        try:
            log.debug("hidden %s", "d")
            log.info("shown %(x)s", {"x": 1})
        finally:
            log.removeHandler(handler)
        assert stream.getvalue() == f"INFO {__file__} shown 1\n"
        got = _of(events, LogEvent, logger="nova.hooks_test_a")
        assert [(e.level, e.message, e.args) for e in got] == [
            (logging.DEBUG, "hidden d", ("'d'",)), (logging.INFO, "shown 1", ("1",))]
        assert got[0].site.path.endswith("test_hooks.py")

    def test_emitted_only_leaves_level_checks_alone(self):
        """``force_debug=False`` (tracing): only records the configuration emits are captured,
        and ``isEnabledFor``/``makeRecord`` stay nova's own."""
        from auditor import hooks

        events: list = []
        originals = {n: logging.Logger.__dict__[n] for n in ("isEnabledFor", "makeRecord")}
        installation = hooks.install(events.append, force_debug=False)
        log = logging.getLogger("nova.hooks_test_emitted")
        log.setLevel(logging.INFO)
        try:
            assert {n: logging.Logger.__dict__[n] for n in originals} == originals
            assert not log.isEnabledFor(logging.DEBUG)
            log.debug("dropped %s", "d")
            log.info("kept %s", "i")
        finally:
            installation.uninstall()
        got = _of(events, LogEvent, logger="nova.hooks_test_emitted")
        assert [(e.level, e.message) for e in got] == [(logging.INFO, "kept i")]

    def test_ignored_threads_get_the_configured_answer(self, on_threads):
        """A thread whose events are dropped (another service's, ``ignore_threads``) is not
        forced to DEBUG: its level checks answer as configured, and it builds nothing; what
        it logs for real reaches no sink."""
        answers: dict[str, bool] = {}
        log = logging.getLogger("nova.hooks_test_ignored")
        log.setLevel(logging.INFO)

        def ask():
            answers[threading.current_thread().name] = log.isEnabledFor(logging.DEBUG)
            log.debug("built %s", "d")
            log.info("emitted")

        events = on_threads(ask)
        assert answers == {"other-service-1": False, "audited-1": True}
        got = _of(events, LogEvent, logger="nova.hooks_test_ignored")
        assert [(e.thread, e.message) for e in got] == [("audited-1", "built d"),
                                                        ("audited-1", "emitted")]

    def test_level_checks_are_the_captured_loggers_own(self):
        """Captured loggers, made before or after install, answer DEBUG through their own
        check; every other logger keeps its class's; uninstall takes the checks away."""
        from auditor import hooks

        before = logging.getLogger("nova.hooks_test_level_before")
        other = logging.getLogger("sqlalchemy.hooks_test_level")
        for log in (before, other):
            log.setLevel(logging.INFO)
        installation = hooks.install(lambda e: None)
        try:
            after = logging.getLogger("nova.hooks_test_level_after")
            after.setLevel(logging.INFO)
            assert "isEnabledFor" in vars(before) and "isEnabledFor" in vars(after)
            assert "isEnabledFor" not in vars(other)
            assert before.isEnabledFor(logging.DEBUG) and after.isEnabledFor(logging.DEBUG)
            assert not other.isEnabledFor(logging.DEBUG)
        finally:
            installation.uninstall()
        assert not any("isEnabledFor" in vars(log) for log in (before, after, other))
        assert not before.isEnabledFor(logging.DEBUG)

    def test_uncaptured_logger_untouched(self, hooks_recording):
        """Loggers outside the captured prefixes produce no events."""
        _, events, _ = hooks_recording
        logging.getLogger("placement.hooks_test").warning("server side")
        assert not _of(events, LogEvent)

    def test_extra_and_chained_exception(self, hooks_recording):
        """oslo.log keyword arguments land in extra; exc_text carries the cause chain."""
        from oslo_log import log as oslo_logging

        _, events, _ = hooks_recording
        log = oslo_logging.getLogger("nova.hooks_test_b")
        try:
            try:
                raise KeyError("inner-cause")
            except KeyError as exc:
                raise ValueError("outer") from exc
        except ValueError:
            log.debug("failed", exc_info=True, resource={"id": "r-1"})
        event = _of(events, LogEvent, logger="nova.hooks_test_b")[0]
        assert ("resource", repr({"id": "r-1"})) in event.extra
        assert "inner-cause" in event.exc_text and "ValueError: outer" in event.exc_text

    def test_disable_and_direct_handle_are_respected(self, hooks_recording):
        """logging.disable still silences handlers; a record handed to handle() directly still passes."""
        _, events, _ = hooks_recording
        stream = io.StringIO()
        log = logging.getLogger("nova.hooks_test_c")
        log.addHandler(logging.StreamHandler(stream))
        log.setLevel(logging.WARNING)
        logging.disable(logging.CRITICAL)
        try:
            log.error("disabled")
        finally:
            logging.disable(logging.NOTSET)
        log.handle(log.makeRecord(log.name, logging.DEBUG, __file__, 1, "replayed", (), None))
        log.removeHandler(log.handlers[0])
        assert stream.getvalue() == "replayed\n"
        assert [e.message for e in _of(events, LogEvent)] == ["disabled", "replayed"]

    def test_forced_record_event_is_the_built_records(self, hooks_recording):
        """A forced DEBUG record is captured from makeRecord's arguments, never built: its
        event says what the record would have said (lone mapping argument, extra, exception
        chain, stack), and no filter or handler sees it."""
        from auditor.hooks import logging_hook

        _, events, _ = hooks_recording
        stream = io.StringIO()
        log = logging.getLogger("nova.hooks_test_forced")
        log.addHandler(logging.StreamHandler(stream))
        log.addFilter(lambda record: stream.write("filtered\n") and False)
        log.setLevel(logging.INFO)
        built = []
        try:
            try:
                raise ValueError("boom")
            except ValueError:
                for args in ((("%(a)s/%(b)s", {"a": 1, "b": [2]}), {}),
                             (("plain %s %d", "x", 3), {"exc_info": True, "stack_info": True,
                                                         "extra": {"resource": {"id": 7}}}),
                             (("bad %s %s", "only-one"), {})):
                    log.debug(*args[0], **args[1])
                    record = log.makeRecord(   # as _log builds it (direct calls are not forced)
                        log.name, logging.DEBUG, __file__, 1, args[0][0], args[0][1:],
                        sys.exc_info() if args[1].get("exc_info") else None, "f",
                        args[1].get("extra"), "Stack (most recent call last):\n"
                        if args[1].get("stack_info") else None)
                    built.append(logging_hook._event(Recorder(lambda e: None), record))
        finally:
            log.handlers.clear()
            log.filters.clear()
        assert stream.getvalue() == ""
        # hooks removed between makeRecord and handle: still no handler takes the placeholder
        log.addHandler(logging.StreamHandler(stream))
        try:
            hooks_recording[0].uninstall()
            log.handle(logging_hook._FORCED)
        finally:
            log.handlers.clear()
        assert stream.getvalue() == ""
        got = _of(events, LogEvent, logger="nova.hooks_test_forced")
        assert [(e.message, e.args, e.extra) for e in got] == [
            (b.message, b.args, b.extra) for b in built]
        assert got[0].message == "1/[2]" and got[2].message.startswith("<unformattable")
        assert "ValueError: boom" in got[1].exc_text and "Stack (most recent" in got[1].exc_text
        assert ("resource", repr({"id": 7})) in got[1].extra

    def test_bad_debug_call_does_not_raise(self, hooks_recording):
        """A debug call that would fail only because it is now built goes to on_error."""
        _, events, errors = hooks_recording
        log = logging.getLogger("nova.hooks_test_d")
        log.setLevel(logging.INFO)
        log.debug("clash", extra={"message": "x"})
        assert errors and errors[0][0] == "logging.forced_record"


class TestStamp:
    def test_thread_named_as_it_is_now(self):
        """The name comes from the live thread by ident: a rename shows, and a thread that
        ended does not lend its name to the next one with the same ident."""
        from auditor.events import stamp

        seen = []

        def body(rename):
            if rename:
                threading.current_thread().name = rename
            seen.append(stamp()[2:])

        for name, rename in (("first", None), ("second", "renamed")):
            t = threading.Thread(target=body, args=(rename,), name=name)
            t.start()
            t.join()
        assert [n for _, n in seen] == ["first", "renamed"]
        assert stamp(5)[2:] == (5, threading.current_thread().name)

    def test_eventlet_threads_and_greenthreads_named(self):
        """Under eventlet: the main thread, a threading.Thread and a bare greenthread."""
        result = _run("""
            import json
            from scenarios import mode; mode.apply("eventlet")
            import eventlet, threading
            from auditor.events import stamp
            out = {"main": stamp()[3]}
            t = threading.Thread(target=lambda: out.update(thread=stamp()[3]), name="worker")
            t.start(); t.join()
            g = eventlet.spawn(lambda: (stamp()[3], threading.current_thread().name))
            out["green"], out["expected"] = g.wait()
            print(json.dumps(out))
        """)
        assert result["main"] == "MainThread" and result["thread"] == "worker"
        assert result["green"] == result["expected"]

    def test_eventlet_raw_greenlet_asks_threading_once(self):
        """A greenlet of ``spawn_n`` (how futurist's green executor runs nova's periodic work)
        is named as ``threading.current_thread`` names it, asked once per greenlet; a rename
        shows, and another greenlet asks again."""
        result = _run("""
            import json
            from scenarios import mode; mode.apply("eventlet")
            import eventlet, threading
            from auditor import events
            asked = []
            real = threading.current_thread
            def counting():
                asked.append(1)
                return real()
            threading.current_thread = counting
            def body(out):
                out.append(events.stamp()[3])
                out.append(events.stamp()[3])
                real().name = "renamed"
                out.append(events.stamp()[3])
                real().name = "MainThread"
                out.append(real().name)
            out = []
            pool = eventlet.GreenPool()
            pool.spawn_n(body, out)
            pool.waitall()
            first = len(asked)
            pool.spawn_n(lambda: out.append(events.stamp()[3]))
            pool.waitall()
            print(json.dumps({"names": out, "asked": [first, len(asked)]}))
        """)
        assert result["names"] == ["MainThread", "MainThread", "renamed", "MainThread",
                                   "MainThread"]
        assert result["asked"] == [1, 2]


class TestExternalCalls:
    @pytest.mark.parametrize("verb,url,name", [
        ("put", "/resource_providers/5f6a7b8c-0000-4000-8000-000000000001/inventories",
         "PUT /resource_providers/{uuid}/inventories"),
        ("get", "/resource_providers?in_tree=5f6a7b8c-0000-4000-8000-000000000001",
         "GET /resource_providers?{query}"),
        ("put", "/resource_classes/CUSTOM_BAREMETAL_GOLD", "PUT /resource_classes/{name}"),
    ])
    def test_placement_names_are_stable(self, verb, url, name):
        """UUIDs, names and query strings become placeholders."""
        assert external_calls.placement_name(verb, url) == name

    def test_ironic_proxy_is_cached_and_records(self, hooks_recording):
        """The same connection yields the same proxy; a failing call records its exception type."""
        from nova.virt.ironic import driver as ironic_driver

        from scenarios.ironic_sim import FakeIronic, Fault

        _, events, _ = hooks_recording
        drv = ironic_driver.IronicDriver.__new__(ironic_driver.IronicDriver)
        drv._ironic_connection = sim = FakeIronic()
        conn = drv.ironic_connection
        assert conn is drv.ironic_connection and conn.__wrapped__ is sim
        assert isinstance(conn, FakeIronic)
        node = sim.enroll()
        sim.inject(Fault("server-error", methods=("get_node",)))
        with pytest.raises(Exception):
            conn.get_node(node)
        assert [n.id for n in conn.nodes()] == [node]
        calls = _of(events, CallEvent, surface="ironic")
        assert [(c.name, c.exc_type) for c in calls] == [
            ("get_node", "openstack.exceptions.HttpException"), ("nodes", None)]


class TestContainers:
    def _wrap(self, value, reads=False):
        events = []
        return containers.wrap(value, Recorder(events.append), 1, "attr", reads), events

    def test_dict_writes_and_transparency(self):
        """Mutations are recorded; equality, isinstance, repr, copy and pickle see a plain dict."""
        d, events = self._wrap({"a": 1})
        d["b"] = 2
        d.update(c=3)
        d.pop("a")
        d.pop("zz", None)
        assert [(e.op, e.key) for e in events] == [("write", "b"), ("write", "c"), ("write", "a")]
        assert d == {"b": 2, "c": 3} and isinstance(d, dict) and repr(d) == repr({"b": 2, "c": 3})
        assert type(copy.deepcopy(d)) is dict and type(copy.copy(d)) is dict
        assert pickle.loads(pickle.dumps(d)) == {"b": 2, "c": 3}

    def test_defaultdict_auto_insert_is_a_write(self):
        """Reading a missing key of a defaultdict records the insertion."""
        d, events = self._wrap(defaultdict(list))
        d["n1"].append(1)
        d["n1"].append(2)
        assert [(e.op, e.key) for e in events] == [("write", "n1")]
        assert isinstance(d, defaultdict) and d["n1"] == [1, 2]

    def test_set_ops_and_reads(self):
        """Set mutations are writes; reads are recorded only when read-guarded."""
        s, events = self._wrap(set(), reads=True)
        s.add("u1")
        s |= {"u2"}
        assert "u1" in s and len(s) == 2
        assert [(e.op, e.key) for e in events] == [
            ("write", "u1"), ("write", None), ("read", "u1"), ("read", None)]
        assert containers.unwrap(s) == {"u1", "u2"}


# -- against the real tracker ---------------------------------------------------------


@pytest.fixture
def hooks_cluster(env, hooks_host):
    """A cluster of one compute with two enrolled nodes, closed afterwards."""
    from scenarios.environment import Cluster

    cl = Cluster(env, [hooks_host], seed=hash(hooks_host))
    cl.ironic.enroll(resource_class="baremetal-gold")
    cl.ironic.enroll(resource_class="baremetal-gold")
    yield cl, cl.computes[hooks_host]
    cl.close()


class TestLivePeriodic:
    def test_periodic_events(self, env, hooks_host):
        """A real periodic yields locks, placement/Ironic calls, guarded writes and DEBUG logs."""
        from scenarios.environment import LOG_FILE, Cluster

        log_path = os.path.join(env.workdir, LOG_FILE)
        events: list = []
        installation = hooks.install(events.append)
        try:
            cl = Cluster(env, [hooks_host], seed=hash(hooks_host))
            cl.ironic.enroll(resource_class="baremetal-gold")
            comp = cl.computes[hooks_host]
            size = os.path.getsize(log_path)
            comp.periodic(startup=True)
            cl.close()
        finally:
            installation.uninstall()
        with open(log_path) as f:
            f.seek(size)
            assert " DEBUG " not in f.read()
        assert logging.getLogger().level == logging.INFO
        locks = _of(events, LockEvent, name=SEMAPHORE)
        assert {e.action for e in locks} == {"acquire", "release"}
        assert all(SEMAPHORE in e.held for e in locks if e.action == "release")
        puts = _of(events, CallEvent, name="PUT /resource_providers/{uuid}/inventories")
        assert puts and all(p.held[:1] == (SEMAPHORE,) for p in puts)
        assert puts[0].site.path == "nova/scheduler/client/report.py"
        assert _of(events, CallEvent, surface="ironic", name="nodes")
        writes = _of(events, StateAccess, attr="compute_nodes", op="write")
        assert writes and all(SEMAPHORE in w.held for w in writes)
        debug = [e for e in _of(events, LogEvent, level=logging.DEBUG)
                 if e.site.path == "nova/compute/resource_tracker.py"]
        assert debug
        assert _of(events, EntryEvent, name="_update_available_resource")

    def test_simulator_fault_surfaces_as_exit(self, hooks_cluster, hooks_recording):
        """An Ironic 500 escaping an entry point is an ExitEvent with its type and nova site."""
        from scenarios.ironic_sim import Fault

        cl, comp = hooks_cluster
        _, events, _ = hooks_recording
        comp.periodic(startup=True)
        node = cl.ironic.uuids()[0]
        comp.driver.node_cache.pop(node)
        cl.ironic.inject(Fault("server-error", methods=("get_node",), times=5))
        with comp.env.as_host(comp.host), pytest.raises(Exception) as info:
            comp.rt.update_usage(comp.env.admin_context(), {"uuid": "i-1"}, node)
        exit_ = _of(events, ExitEvent, name="update_usage")[-1]
        assert exit_.exc_type == "openstack.exceptions.HttpException"
        assert exit_.exc_message == str(info.value)
        assert exit_.exc_site.path.startswith("nova/virt/ironic/")
        assert exit_.under_lock and exit_.held == ()
        assert _of(events, CallEvent, surface="ironic", name="get_node")[-1].held == (SEMAPHORE,)

    def test_claim_state_snapshot(self, hooks_cluster, hooks_recording):
        """A claim entry point failing under the lock carries tracker snapshots on entry and exit."""
        from nova import objects

        cl, comp = hooks_cluster
        _, events, _ = hooks_recording
        comp.periodic(startup=True)
        node = cl.ironic.uuids()[0]
        with comp.env.as_host(comp.host), pytest.raises(Exception):
            comp.rt.abort_instance_claim(comp.env.admin_context(),
                                         objects.Instance(uuid=node), node)
        entry = _of(events, EntryEvent, name="abort_instance_claim")[0]
        exit_ = _of(events, ExitEvent, name="abort_instance_claim")[0]
        assert dict(entry.state)["tracked_instances"] == ""
        assert dict(entry.state)["nodes"].count(":") == 2
        assert "/0/" in dict(entry.state)["nodes"]
        assert exit_.exc_type and exit_.under_lock and dict(exit_.state).keys() == {
            "tracked_instances", "nodes"}

    def test_snapshot_rows_read_at_once_or_field_by_field_agree(self):
        """A node with every field set is read in one call per node, one with a field unset
        field by field: the ``nodes`` value is the same rows either way."""
        from nova import objects

        from auditor.hooks import tracker as tracker_hook

        objects.register_all()
        a, b = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
        full = objects.ComputeNode(uuid=b, memory_mb_used=1, vcpus_used=2, local_gb_used=3,
                                   running_vms=4)
        partial = objects.ComputeNode(uuid=a, memory_mb_used=5)
        assert tracker_hook._nodes_value([full]) == f"{b}:1/2/3/4"
        assert tracker_hook._nodes_value([full, partial]) == f"{a}:5/?/?/?,{b}:1/2/3/4"
        full.vcpus_used = 7
        assert tracker_hook._nodes_value([full]) == f"{b}:1/7/3/4"

    def test_bookkeeping_errors_never_reach_nova(self, hooks_cluster, monkeypatch):
        """A failing sink and a failing snapshot go to on_error; the periodic still completes."""
        from auditor.hooks import tracker as tracker_hook

        cl, comp = hooks_cluster
        errors = []

        def sink(event):
            if isinstance(event, CallEvent):
                raise RuntimeError("sink broke")

        monkeypatch.setattr(tracker_hook, "_snapshot", lambda rt: 1 / 0)
        installation = hooks.install(sink, on_error=lambda exc, where: errors.append(where))
        try:
            comp.periodic(startup=True)
            with comp.env.as_host(comp.host), pytest.raises(TypeError):
                # nova's own reaction to a None instance, unchanged by the failing hook
                comp.rt.abort_instance_claim(comp.env.admin_context(), None, "nope")
        finally:
            installation.uninstall()
        assert len(comp.rt.compute_nodes) == 2
        assert "sink" in errors and "tracker.entry" in errors

    #: The events each hook surface records (``hooks.SURFACES``; config: tracing only).
    SURFACE_EVENTS = {"logging": {LogEvent}, "locks": {LockEvent}, "external": {CallEvent},
                      "tracker-entry": {EntryEvent, ExitEvent}, "tracker-state": {StateAccess}}

    @pytest.mark.parametrize("surface", sorted(SURFACE_EVENTS))
    def test_surface_alone_records_only_its_events(self, hooks_cluster, surface):
        """A surface installed alone (the benchmarks' attribution) records its own events only,
        and all of them: the same periodic and claim under every surface."""
        from nova import objects

        cl, comp = hooks_cluster
        comp.periodic(startup=True)
        events, errors = [], []
        installation = hooks.install(events.append, surfaces=[surface],
                                     on_error=lambda exc, where: errors.append(where))
        try:
            installation.adopt(comp.rt)
            comp.periodic()
            node = cl.ironic.uuids()[0]
            with comp.env.as_host(comp.host), pytest.raises(Exception):
                comp.rt.abort_instance_claim(comp.env.admin_context(),
                                             objects.Instance(uuid=node), node)
        finally:
            installation.uninstall()
        assert not errors
        assert {type(e) for e in events} == self.SURFACE_EVENTS[surface]
        assert not any(containers.is_proxy(v) for v in vars(comp.rt).values())

    def test_surface_of_agrees_with_the_surfaces(self):
        """``events.SURFACE_OF`` (what ``--surfaces`` and the claims go by) names every surface
        but config, and the event types each one records alone."""
        from auditor.events import SURFACE_OF

        assert set(SURFACE_OF.values()) == set(hooks.SURFACES) - {"config"}
        for surface, types in self.SURFACE_EVENTS.items():
            assert {t.__name__ for t in types} == {
                name for name, s in SURFACE_OF.items() if s == surface}, surface

    def test_unknown_surface_refused(self):
        with pytest.raises(ValueError, match="unknown hook surface"):
            hooks.install(lambda e: None, surfaces=["nope"])
        hooks.install(lambda e: None).uninstall()   # nothing was left installed

    def test_trackers_unwrapped_on_uninstall(self, hooks_cluster):
        """No recording proxy outlives an installation; known trackers are adopted by the next."""
        cl, comp = hooks_cluster
        for _ in range(2):
            installation = hooks.install(lambda e: None)
            installation.adopt(comp.rt)
            assert containers.is_proxy(vars(comp.rt)["compute_nodes"])
            installation.uninstall()
            assert not any(containers.is_proxy(v) for v in vars(comp.rt).values())
        installation = hooks.install(lambda e: None)
        try:
            assert containers.is_proxy(vars(comp.rt)["tracked_instances"])
        finally:
            installation.uninstall()


class TestEventlet:
    def test_eventlet_mode_records(self):
        """Under eventlet the hooks record per greenthread and the periodic completes."""
        result = _run("""
            import collections, json
            from scenarios import mode; mode.apply("eventlet")
            from auditor import hooks
            from auditor.events import LockEvent, CallEvent
            events, errors = [], []
            inst = hooks.install(events.append, on_error=lambda e, w: errors.append(w))
            from scenarios.environment import Environment, Cluster
            env = Environment.get()
            cl = Cluster(env, ["host-eventlet"])
            for _ in range(3):
                cl.ironic.enroll(resource_class="baremetal-gold")
            c = cl.computes["host-eventlet"]
            c.periodic(startup=True)
            c.periodic()
            cl.close()
            inst.uninstall()
            puts = [e.held for e in events if isinstance(e, CallEvent)
                    and e.name == "PUT /resource_providers/{uuid}/inventories"]
            print(json.dumps({"mode": mode.current(), "errors": errors,
                "counts": collections.Counter(type(e).__name__ for e in events),
                "puts": puts, "nodes": len(c.rt.compute_nodes)}))
        """)
        assert result["mode"] == "eventlet" and result["errors"] == []
        assert result["nodes"] == 3
        assert all(k in result["counts"] for k in
                   ("LogEvent", "LockEvent", "CallEvent", "EntryEvent", "ExitEvent", "StateAccess"))
        assert result["puts"] and all(h[:1] == [SEMAPHORE] for h in result["puts"])
