"""Record ResourceTracker entry points (entry/exit) and its shared state (rebinds, container access)."""

from __future__ import annotations

import time
import types
import weakref
from typing import Any

from auditor.discipline import Discipline
from auditor.events import EntryEvent, ExitEvent, Site, StateAccess
from auditor.hooks import containers
from auditor.hooks.context import Recorder, owner, qualname, relpath, site
from auditor.hooks.ledger import MISSING, Target, wrapping

__all__ = ["TARGETS", "CLAIMS", "Tracking"]

#: Entry points whose events carry a tracker state snapshot.
CLAIMS = ("instance_claim", "rebuild_claim", "resize_claim", "abort_instance_claim")
_REQUIRED = CLAIMS + ("update_available_resource", "_update_available_resource")
_NODE_FIELDS = ("memory_mb_used", "vcpus_used", "local_gb_used", "running_vms")


#: Every live tracker any installation has seen: later installations adopt them.
_SEEN: "weakref.WeakSet[Any]" = weakref.WeakSet()


class Tracking:
    """This installation's view of trackers: the discipline and every tracker seen."""

    def __init__(self, rec: Recorder, discipline: Discipline):
        self.rec = rec
        self.watched = discipline.watched
        self.read_guarded = discipline.read_guarded
        self.trackers: "weakref.WeakSet[Any]" = weakref.WeakSet()

    def adopt_seen(self) -> None:
        """Adopt the live trackers earlier installations saw (cheap: no heap scan)."""
        for rt in list(_SEEN):
            self.adopt(rt)

    def on_set(self, rt: Any, name: str, value: Any) -> Any:
        """Called before ``rt.name = value``: returns the value to store (maybe a proxy)."""
        if rt not in self.trackers:
            self.trackers.add(rt)
            _SEEN.add(rt)
        if name in self.watched:
            if not (containers.is_proxy(value) and value._self_tracker == id(rt)
                    and value._self_attr == name):
                value = containers.wrap(value, self.rec, id(rt), name, name in self.read_guarded)
        return value

    def rebound(self, rt: Any, name: str) -> None:
        rec = self.rec
        who = owner()
        rec.emit(StateAccess(*rec.stamp(who), name, "rebind", None, id(rt), site(),
                             rec.held_by(who)))

    def adopt(self, rt: Any) -> None:
        """Wrap the watched containers of a tracker built before installation."""
        self.trackers.add(rt)
        _SEEN.add(rt)
        state = vars(rt)
        for name in self.watched & state.keys():
            state[name] = containers.wrap(state[name], self.rec, id(rt), name,
                                          name in self.read_guarded)

    def release(self) -> None:
        """Put the plain containers back on every live tracker."""
        for rt in list(self.trackers):
            state = vars(rt)
            for name in self.watched & state.keys():
                state[name] = containers.unwrap(state[name])
        self.trackers = weakref.WeakSet()


def _make_setattr(rec: Recorder, original: Any, owner_cls: Any, attr: str) -> Any:
    base = original if original is not MISSING else object.__setattr__
    tracking: Tracking = rec.extras["tracker"]

    def __setattr__(self, name, value):
        if rec.active:
            try:
                value = tracking.on_set(self, name, value)
            except Exception as exc:
                rec.error(exc, "tracker.setattr")
        base(self, name, value)
        if rec.active:
            try:
                tracking.rebound(self, name)
            except Exception as exc:
                rec.error(exc, "tracker.setattr")

    return __setattr__


def _field(obj: Any, name: str) -> str:
    try:
        is_set = getattr(obj, "obj_attr_is_set", None)
        if is_set is not None and not is_set(name):
            return "?"
        return str(getattr(obj, name))
    except Exception:
        return "?"


_STOCK_IS_SET: Any = None
_UNSET = object()


def _stock_is_set() -> Any:
    """oslo.versionedobjects' own ``obj_attr_is_set`` (None if unavailable)."""
    global _STOCK_IS_SET
    if _STOCK_IS_SET is None:
        try:
            from oslo_versionedobjects.base import VersionedObject

            _STOCK_IS_SET = VersionedObject.obj_attr_is_set
        except Exception:
            _STOCK_IS_SET = False
    return _STOCK_IS_SET


def _node_row(cn: Any, stock: Any) -> str:
    """``uuid:memory_mb_used/vcpus_used/local_gb_used/running_vms`` of one compute node.

    A versioned object with the stock ``obj_attr_is_set`` keeps a set field in
    ``_obj_<name>``, which its property returns: read it there (what ``_field``
    returns, without the property and ``obj_attr_is_set`` calls per field).
    """
    if stock and getattr(type(cn), "obj_attr_is_set", None) is stock:
        try:
            state = vars(cn)
        except TypeError:
            state = None
        if state is not None:
            try:
                vals = []
                for name in ("uuid",) + _NODE_FIELDS:
                    value = state.get("_obj_" + name, _UNSET)
                    vals.append("?" if value is _UNSET else str(value))
                return f"{vals[0]}:" + "/".join(vals[1:])
            except Exception:
                pass
    return f"{_field(cn, 'uuid')}:" + "/".join(_field(cn, f) for f in _NODE_FIELDS)


def _snapshot(rt: Any) -> tuple[tuple[str, str], ...]:
    """A cheap view of the tracker's accounting, read around the proxies."""
    state = vars(rt)
    instances = containers.unwrap(state.get("tracked_instances", ()))
    nodes = containers.unwrap(state.get("compute_nodes", {}))
    stock = _stock_is_set()
    per_node = [_node_row(cn, stock) for cn in list(nodes.values())]
    return (("tracked_instances", ",".join(sorted(map(str, instances)))),
            ("nodes", ",".join(sorted(per_node))))


def _exc_site(exc: BaseException) -> Site | None:
    found = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = relpath(code.co_filename)
        if path.startswith("nova/"):
            found = Site(path, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return found


def _under_lock(rec: Recorder, who: int, exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) left a semaphore hold."""
    noted = rec.lock_exc.get(who)
    for _ in range(8):
        if exc is None:
            return False
        if exc is noted:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _entered(rec: Recorder, who: int, name: str, rt: Any, claim: bool) -> float | None:
    try:
        state = _snapshot(rt) if claim else ()
        rec.emit(EntryEvent(*rec.stamp(who), name, id(rt), rec.held_by(who), state))
        return time.monotonic()
    except Exception as exc:
        rec.error(exc, "tracker.entry")
        return None


def _exited(rec: Recorder, who: int, name: str, rt: Any, t0: float, exc: BaseException | None,
            claim: bool) -> None:
    try:
        duration = time.monotonic() - t0
        if exc is None:
            event = ExitEvent(*rec.stamp(who), name, id(rt), duration, None, None, None,
                              rec.held_by(who), False)
        else:
            try:
                message = str(exc)
            except Exception as err:
                message = f"<str failed: {type(err).__name__}>"
            event = ExitEvent(*rec.stamp(who), name, id(rt), duration, qualname(type(exc)),
                              message, _exc_site(exc), rec.held_by(who),
                              _under_lock(rec, who, exc), _snapshot(rt) if claim else ())
        rec.emit(event)
    except Exception as err:
        rec.error(err, "tracker.exit")


def _entry_wrapper(rec: Recorder, attr: str):
    claim = attr in CLAIMS

    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active or instance is None:
            return wrapped(*args, **kwargs)
        who = owner()
        rec.enter("tracker", who)
        try:
            t0 = _entered(rec, who, attr, instance, claim)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                if t0 is not None:
                    _exited(rec, who, attr, instance, t0, exc, claim)
                raise
            if t0 is not None:
                _exited(rec, who, attr, instance, t0, None, claim)
            return result
        finally:
            rec.leave("tracker", who)
            if ("tracker", who) not in rec.depth:
                rec.lock_exc.pop(who, None)

    return wrapper


def _entry_points(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items()
            if not name.startswith("_") and isinstance(value, types.FunctionType)]


TARGETS = (
    Target("nova.compute.resource_tracker", "ResourceTracker", _REQUIRED,
           wrapping(_entry_wrapper), select=_entry_points),
    Target("nova.compute.resource_tracker", "ResourceTracker", ("__setattr__",),
           _make_setattr, create=True),
)
