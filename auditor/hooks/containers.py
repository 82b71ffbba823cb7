"""Transparent proxies for tracker containers (dict, defaultdict, set) that record writes and reads."""

from __future__ import annotations

import copy
from typing import Any

import wrapt

from auditor.events import StateAccess
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.hooks.sites import site

__all__ = ["wrap", "unwrap", "is_proxy"]


def _key(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)


@guarded("containers")
def _record(rec: Recorder, attr: str, tracker: int, op: str, key: Any) -> None:
    who = owner()
    rec.emit(StateAccess(*rec.stamp(who), attr, op, None if key is None else _key(key), tracker,
                         site(), rec.held_by(who)))


class _Recording(wrapt.ObjectProxy):
    """Common part: what is recorded, and transparency for copy, pickle and repr."""

    def __init__(self, wrapped: Any, rec: Recorder, tracker: int, attr: str):
        super().__init__(wrapped)
        self._self_rec = rec
        self._self_tracker = tracker
        self._self_attr = attr

    def _note(self, op: str, key: Any = None) -> None:
        rec = self._self_rec
        if rec.active:
            _record(rec, self._self_attr, self._self_tracker, op, key)

    def __repr__(self):
        return repr(self.__wrapped__)

    def __copy__(self):
        return copy.copy(self.__wrapped__)

    def __deepcopy__(self, memo):
        return copy.deepcopy(self.__wrapped__, memo)

    def __reduce__(self):
        return self.__wrapped__.__reduce__()

    def __reduce_ex__(self, protocol):
        return self.__wrapped__.__reduce_ex__(protocol)


class _DictProxy(_Recording):
    def __setitem__(self, key, value):
        self.__wrapped__[key] = value
        self._note("write", key)

    def __delitem__(self, key):
        del self.__wrapped__[key]
        self._note("write", key)

    def pop(self, key, *default):
        existed = key in self.__wrapped__
        value = self.__wrapped__.pop(key, *default)
        if existed:
            self._note("write", key)
        return value

    def popitem(self):
        key, value = self.__wrapped__.popitem()
        self._note("write", key)
        return key, value

    def setdefault(self, key, default=None):
        existed = key in self.__wrapped__
        value = self.__wrapped__.setdefault(key, default)
        self._note("read" if existed else "write", key)
        return value

    def update(self, *args, **kwargs):
        if args:
            other = args[0]
            if not hasattr(other, "keys"):
                other = list(other)   # an iterable of pairs: consume it once
                keys = [k for k, _ in other]
            else:
                keys = list(other.keys())
            self.__wrapped__.update(other, **kwargs)
        else:
            keys = []
            self.__wrapped__.update(**kwargs)
        for key in keys + list(kwargs):
            self._note("write", key)

    def __ior__(self, other):
        self.update(other)
        return self

    def clear(self):
        self.__wrapped__.clear()
        self._note("write")


class _AutoInsert:
    """``d[k]`` on a defaultdict inserts a missing key: that is a write."""

    def __getitem__(self, key):
        wrapped = self.__wrapped__
        if key in wrapped:
            value = wrapped[key]
            if self._self_reads:
                self._note("read", key)
            return value
        value = wrapped[key]
        self._note("write", key)
        return value


class _SetProxy(_Recording):
    def add(self, elem):
        self.__wrapped__.add(elem)
        self._note("write", elem)

    def discard(self, elem):
        self.__wrapped__.discard(elem)
        self._note("write", elem)

    def remove(self, elem):
        self.__wrapped__.remove(elem)
        self._note("write", elem)

    def pop(self):
        elem = self.__wrapped__.pop()
        self._note("write", elem)
        return elem

    def clear(self):
        self.__wrapped__.clear()
        self._note("write")

    def update(self, *others):
        for other in others:
            other = list(other)
            self.__wrapped__.update(other)
            for elem in other:
                self._note("write", elem)

    def _bulk(name):  # noqa: N805 - builds methods at class creation
        def method(self, *args):
            result = getattr(self.__wrapped__, name)(*args)
            if result is NotImplemented:
                return result
            self._note("write")
            return self if name.startswith("__i") else result
        method.__name__ = name
        return method

    difference_update = _bulk("difference_update")
    intersection_update = _bulk("intersection_update")
    symmetric_difference_update = _bulk("symmetric_difference_update")
    __ior__ = _bulk("__ior__")
    __iand__ = _bulk("__iand__")
    __isub__ = _bulk("__isub__")
    __ixor__ = _bulk("__ixor__")
    del _bulk


class _Reads:
    """Reads recorded too (attributes in ``Discipline.read_guarded``)."""

    def __getitem__(self, key):
        value = self.__wrapped__[key]
        self._note("read", key)
        return value

    def get(self, key, default=None):
        self._note("read", key)
        return self.__wrapped__.get(key, default)

    def __contains__(self, key):
        self._note("read", key)
        return key in self.__wrapped__

    def __iter__(self):
        self._note("read")
        return iter(self.__wrapped__)

    def __len__(self):
        self._note("read")
        return len(self.__wrapped__)

    def keys(self):
        self._note("read")
        return self.__wrapped__.keys()

    def values(self):
        self._note("read")
        return self.__wrapped__.values()

    def items(self):
        self._note("read")
        return self.__wrapped__.items()


def _variant(base: type, auto: bool, reads: bool) -> type:
    mixins = ((_AutoInsert,) if auto else ()) + ((_Reads,) if reads else ())
    cls = type(base.__name__ + "".join(m.__name__ for m in mixins), mixins + (base,),
               {"_self_reads": reads})
    return cls


_CLASSES = {
    (kind, auto, reads): _variant(base, auto, reads)
    for kind, base in (("dict", _DictProxy), ("set", _SetProxy))
    for auto in (False, True) for reads in (False, True)
    if not (kind == "set" and auto)
}
_PROXY_TYPES = frozenset(_CLASSES.values())


def is_proxy(value: Any) -> bool:
    """Whether ``value`` is one of these recording proxies."""
    return type(value) in _PROXY_TYPES


def unwrap(value: Any) -> Any:
    """The container behind a recording proxy (``value`` itself otherwise)."""
    return value.__wrapped__ if type(value) in _PROXY_TYPES else value


def wrap(value: Any, rec: Recorder, tracker: int, attr: str, reads: bool) -> Any:
    """A recording proxy for a dict or set; anything else is returned unchanged."""
    value = unwrap(value)
    if isinstance(value, dict):
        auto = hasattr(type(value), "__missing__")
        return _CLASSES[("dict", auto, reads)](value, rec, tracker, attr)
    if isinstance(value, set):
        return _CLASSES[("set", False, reads)](value, rec, tracker, attr)
    return value
