"""Record external calls: placement HTTP verbs and report client methods, and Ironic SDK calls."""

from __future__ import annotations

import functools
import re
import time
import types
import weakref
from typing import Any

import wrapt

from auditor.events import CallEvent, Site
from auditor.hooks.recorder import Recorder, guarded, outermost, owner
from auditor.hooks.sites import qualname, site
from auditor.nova import hook_points as hp
from auditor.hooks.ledger import Target, Unsupported, wrapping

__all__ = ["TARGETS", "placement_name"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_NAMED = re.compile(r"^/(resource_classes|traits)/[^/]+")


def placement_name(verb: str, url: Any) -> str:
    """A stable name for a placement request: ``PUT /resource_providers/{uuid}/inventories``."""
    return _placement_name(verb, str(url))


@functools.lru_cache(maxsize=8192)   # a periodic pass asks again for every node's URLs
def _placement_name(verb: str, url: str) -> str:
    path, sep, _ = url.partition("?")
    path = _NAMED.sub(r"/\1/{name}", _UUID.sub("{uuid}", path))
    return f"{verb.upper()} {path}" + ("?{query}" if sep else "")


@guarded("external_calls.emit")
def _emit(rec: Recorder, who: int, surface: str, name: str, where: Site, held: tuple[str, ...],
          duration: float, exc: BaseException | None) -> None:
    rec.emit(CallEvent(*rec.stamp(who), surface, name, where, duration,
                       qualname(type(exc)) if exc is not None else None, held))


@guarded("external_calls.call")
def _caller(rec: Recorder) -> tuple[int, Site, tuple[str, ...]]:
    """Who calls, from where, holding which locks."""
    who = owner()
    return who, site(), rec.held_by(who)


def _timed(rec: Recorder, surface: str, name: str, wrapped, args, kwargs):
    """Call ``wrapped`` and emit a ``CallEvent`` for it."""
    caller = _caller(rec)
    if caller is None:
        return wrapped(*args, **kwargs)
    who, where, held = caller
    t0 = time.monotonic()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _emit(rec, who, surface, name, where, held, time.monotonic() - t0, exc)
        raise
    if isinstance(result, types.GeneratorType):
        # Lazy listings (``nodes()``) do their I/O while iterated: report when done.
        return _RecordingIterator(result, rec, who, surface, name, where, held,
                                  time.monotonic() - t0)
    _emit(rec, who, surface, name, where, held, time.monotonic() - t0, None)
    return result


class _RecordingIterator(wrapt.ObjectProxy):
    """A generator returned by an external call; its ``CallEvent`` is emitted at the end."""

    def __init__(self, gen, rec, who, surface, name, where, held, spent):
        super().__init__(gen)
        self._self_info = (rec, who, surface, name, where, held)
        self._self_spent = spent
        self._self_done = False

    def __iter__(self):
        return self

    def __next__(self):
        t0 = time.monotonic()
        try:
            value = next(self.__wrapped__)
        except StopIteration:
            self._finish(time.monotonic() - t0, None)
            raise
        except BaseException as exc:
            self._finish(time.monotonic() - t0, exc)
            raise
        self._self_spent += time.monotonic() - t0
        return value

    def _finish(self, spent: float, exc: BaseException | None) -> None:
        if not self._self_done:
            self._self_done = True
            rec, who, surface, name, where, held = self._self_info
            if rec.active:
                _emit(rec, who, surface, name, where, held, self._self_spent + spent, exc)

    def close(self):
        self._finish(0.0, None)
        return self.__wrapped__.close()

    def __del__(self):
        try:
            self._finish(0.0, None)
        except Exception:
            pass


def _verb_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        name = _placement_call(rec, attr, args, kwargs)
        if name is None:
            return wrapped(*args, **kwargs)
        return _timed(rec, "placement", name, wrapped, args, kwargs)
    return wrapper


@guarded("external_calls.placement")
def _placement_call(rec: Recorder, verb: str, args: tuple, kwargs: dict) -> str:
    return placement_name(verb, args[0] if args else kwargs.get("url"))


def _report_method_wrapper(rec: Recorder, attr: str):
    """Time a report client method, unless another one called it."""
    def timed(who, wrapped, instance, args, kwargs):
        return _timed(rec, "report-client", attr, wrapped, args, kwargs)
    return outermost(rec, "report-client", timed)


def _public_methods(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items()
            if not name.startswith("_") and name not in hp.PLACEMENT_VERBS
            and isinstance(value, (types.FunctionType, staticmethod, classmethod))]


class _IronicProxy(wrapt.ObjectProxy):
    """An Ironic connection whose public method calls are recorded."""

    def __init__(self, conn: Any, rec: Recorder):
        super().__init__(conn)
        self._self_rec = rec

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.__wrapped__, name)
        if name.startswith("_") or not callable(value) or not self._self_rec.active:
            return value
        return wrapt.FunctionWrapper(value, _ironic_call(self._self_rec, name))


def _ironic_call(rec: Recorder, name: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        return _timed(rec, "ironic", name, wrapped, args, kwargs)
    return wrapper


def _make_connection_property(rec: Recorder, original: Any, owner_cls: Any, attr: str) -> Any:
    if not isinstance(original, property) or original.fget is None:
        raise Unsupported(f"{attr} is not a property")
    fget = original.fget
    by_conn: "weakref.WeakValueDictionary[int, _IronicProxy]" = weakref.WeakValueDictionary()
    by_driver: "weakref.WeakKeyDictionary[Any, _IronicProxy]" = weakref.WeakKeyDictionary()

    @guarded("external_calls.ironic_connection")
    def proxy_for(rec: Recorder, driver: Any, conn: Any) -> Any:
        proxy = by_driver.get(driver)
        if proxy is not None and proxy.__wrapped__ is conn:
            return proxy
        proxy = by_conn.get(id(conn))
        if proxy is None or proxy.__wrapped__ is not conn:
            proxy = by_conn[id(conn)] = _IronicProxy(conn, rec)
        by_driver[driver] = proxy    # keeps the proxy (and its identity) while the driver lives
        return proxy

    @functools.wraps(fget)
    def getter(driver):
        conn = fget(driver)
        if not rec.active or conn is None or isinstance(conn, _IronicProxy):
            return conn
        proxy = proxy_for(rec, driver, conn)
        return conn if proxy is None else proxy

    return property(getter, original.fset, original.fdel, original.__doc__)


TARGETS = (
    Target(hp.REPORT_CLIENT_MODULE, hp.REPORT_CLIENT_CLASS, hp.PLACEMENT_VERBS,
           wrapping(_verb_wrapper)),
    Target(hp.REPORT_CLIENT_MODULE, hp.REPORT_CLIENT_CLASS, (),
           wrapping(_report_method_wrapper), select=_public_methods),
    Target(hp.IRONIC_DRIVER_MODULE, hp.IRONIC_DRIVER_CLASS, (hp.IRONIC_CONNECTION,),
           _make_connection_property),
)
