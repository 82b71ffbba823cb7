"""Record ResourceTracker entry points (entry/exit) and its shared state (rebinds, container access)."""

from __future__ import annotations

import operator
import time
import types
import weakref
from typing import Any

from auditor.nova import hook_points as hp
from auditor.nova.discipline import Discipline
from auditor.events import EntryEvent, ExitEvent, Site, StateAccess
from auditor.hooks import containers
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.hooks.sites import qualname, relpath, site
from auditor.hooks.ledger import MISSING, Target, wrapping

__all__ = ["TARGETS", "ENTRY_TARGETS", "STATE_TARGETS", "Tracking"]

_NODE_FIELDS = ("memory_mb_used", "vcpus_used", "local_gb_used", "running_vms")


#: Every live tracker any installation has seen: later installations adopt them.
_SEEN: "weakref.WeakSet[Any]" = weakref.WeakSet()


class Tracking:
    """This installation's view of trackers: the discipline and every tracker seen."""

    def __init__(self, rec: Recorder, discipline: Discipline, state: bool = True):
        """``state``: whether shared state is recorded (else ``adopt`` does nothing)."""
        self.rec = rec
        self.state = state
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
        if not self.state:
            return
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


_FAILED: Any = object()


@guarded("tracker.setattr", default=_FAILED)
def _on_set(rec: Recorder, tracking: Tracking, rt: Any, name: str, value: Any) -> Any:
    return tracking.on_set(rt, name, value)


@guarded("tracker.setattr")
def _rebound(rec: Recorder, tracking: Tracking, rt: Any, name: str) -> None:
    tracking.rebound(rt, name)


def _make_setattr(rec: Recorder, original: Any, owner_cls: Any, attr: str) -> Any:
    base = original if original is not MISSING else object.__setattr__
    tracking: Tracking = rec.extras["tracker"]

    def __setattr__(self, name, value):
        if rec.active:
            stored = _on_set(rec, tracking, self, name, value)
            value = value if stored is _FAILED else stored
        base(self, name, value)
        if rec.active:
            _rebound(rec, tracking, self, name)

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


_NODE_KEYS = tuple("_obj_" + name for name in ("uuid",) + _NODE_FIELDS)
_ROWS: dict[tuple, str] = {}   # a node's raw field values -> its row (most nodes do not change)
_ROWS_MAX = 1 << 16


def _row(raw: tuple) -> str:
    """The row of a node's raw field values (``_UNSET``: "?"), remembered."""
    vals = ["?" if value is _UNSET else str(value) for value in raw]
    if len(_ROWS) >= _ROWS_MAX:
        _ROWS.clear()
    row = _ROWS[raw] = f"{vals[0]}:" + "/".join(vals[1:])
    return row


def _node_row(cn: Any, stock: Any) -> str:
    """``uuid:memory_mb_used/vcpus_used/local_gb_used/running_vms`` of one compute node.

    A versioned object with the stock ``obj_attr_is_set`` keeps a set field in
    ``_obj_<name>``, which its property returns: read it there (what ``_field``
    returns, without the property and ``obj_attr_is_set`` calls per field), and
    format a row once per distinct set of values.
    """
    if stock and getattr(type(cn), "obj_attr_is_set", None) is stock:
        try:
            get = vars(cn).get
            raw = tuple([get(key, _UNSET) for key in _NODE_KEYS])
            return _ROWS.get(raw) or _row(raw)
        except Exception:
            pass
    return f"{_field(cn, 'uuid')}:" + "/".join(_field(cn, f) for f in _NODE_FIELDS)


_raw_fields = operator.itemgetter(*_NODE_KEYS)


def _nodes_value(cns: list) -> str:
    """Every node's row, sorted and joined. When every node is a stock versioned object with
    every field set (a tracker's nodes after the first periodic), each node's raw values
    are read in one C call and its row looked up by them."""
    stock = _stock_is_set()
    if stock and all(getattr(kind, "obj_attr_is_set", None) is stock
                     for kind in {type(cn) for cn in cns}):
        try:
            raws = [_raw_fields(vars(cn)) for cn in cns]
        except (KeyError, TypeError):   # a field not set (``_node_row`` says "?"), no vars
            pass
        else:
            rows = _ROWS
            return ",".join(sorted([rows.get(raw) or _row(raw) for raw in raws]))
    return ",".join(sorted([_node_row(cn, stock) for cn in cns]))


def _snapshot(rt: Any) -> tuple[tuple[str, str], ...]:
    """A cheap view of the tracker's accounting, read around the proxies."""
    state = vars(rt)
    instances = containers.unwrap(state.get("tracked_instances", ()))
    nodes = containers.unwrap(state.get("compute_nodes", {}))
    return (("tracked_instances", ",".join(sorted(map(str, instances)))),
            ("nodes", _nodes_value(list(nodes.values()))))


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


@guarded("tracker.entry")
def _entered(rec: Recorder, name: str, rt: Any, claim: bool) -> tuple[int, float]:
    """Enter the tracker surface and emit the entry; ``(owner, start time)``."""
    who = owner()
    state = _snapshot(rt) if claim else ()
    rec.emit(EntryEvent(*rec.stamp(who), name, id(rt), rec.held_by(who), state))
    rec.enter("tracker", who)   # last: a failed entry leaves nothing to undo
    return who, time.monotonic()


@guarded("tracker.exit")
def _exited(rec: Recorder, who: int, name: str, rt: Any, t0: float, exc: BaseException | None,
            claim: bool) -> None:
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


@guarded("tracker.leave")
def _left(rec: Recorder, who: int) -> None:
    rec.leave("tracker", who)
    if ("tracker", who) not in rec.depth:
        rec.lock_exc.pop(who, None)


def _entry_wrapper(rec: Recorder, attr: str):
    claim = attr in hp.SNAPSHOT_ENTRY_POINTS

    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active or instance is None:
            return wrapped(*args, **kwargs)
        entered = _entered(rec, attr, instance, claim)
        if entered is None:
            return wrapped(*args, **kwargs)
        who, t0 = entered
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _exited(rec, who, attr, instance, t0, exc, claim)
            _left(rec, who)
            raise
        _exited(rec, who, attr, instance, t0, None, claim)
        _left(rec, who)
        return result

    return wrapper


def _entry_points(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items()
            if not name.startswith("_") and isinstance(value, types.FunctionType)]


#: Entry points (``EntryEvent``/``ExitEvent``).
ENTRY_TARGETS = (Target(hp.TRACKER_MODULE, hp.TRACKER_CLASS, hp.REQUIRED_ENTRY_POINTS,
                        wrapping(_entry_wrapper), select=_entry_points),)
#: Shared state: attribute rebinds and the watched containers (``StateAccess``).
STATE_TARGETS = (Target(hp.TRACKER_MODULE, hp.TRACKER_CLASS, ("__setattr__",),
                        _make_setattr, create=True),)
TARGETS = ENTRY_TARGETS + STATE_TARGETS
