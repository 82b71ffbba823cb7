"""Wrap named attributes when their module is imported; restore every original by identity."""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any, Callable, Iterable

import wrapt

from auditor.hooks.recorder import Recorder

__all__ = ["Target", "Ledger", "MISSING", "Unsupported", "wrapping"]

#: Marks an attribute the owner did not define itself (inherited or absent).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

class Unsupported(Exception):
    """Raised by a maker when the attribute exists but is not what the hook expects."""


#: ``make(recorder, original, owner, attr)`` -> the replacement to install.
Maker = Callable[[Recorder, Any, Any, str], Any]


@dataclasses.dataclass(frozen=True)
class Target:
    """Hook points: ``attrs`` (and ``select(owner)``) of the object at ``module``.``path``.

    An attribute in ``attrs`` that cannot be found is reported missing, unless
    ``create`` says the maker adds it (e.g. a class-level ``__setattr__``).
    """

    module: str
    path: str
    attrs: tuple[str, ...]
    make: Maker
    select: Callable[[Any], Iterable[str]] | None = None
    create: bool = False

    def label(self, attr: str | None = None) -> str:
        parts = [self.module, self.path, attr]
        return ".".join(p for p in parts if p)


def wrapping(factory: Callable[[Recorder, str], Callable]) -> Maker:
    """A maker wrapping the original in ``wrapt.FunctionWrapper(original, factory(rec, attr))``."""
    def make(rec: Recorder, original: Any, owner: Any, attr: str) -> Any:
        return wrapt.FunctionWrapper(original, factory(rec, attr))
    return make


def _raw(owner: Any, attr: str) -> Any:
    """The attribute as stored (descriptor, not bound), searching a class's MRO."""
    for klass in getattr(owner, "__mro__", (owner,)):
        value = vars(klass).get(attr, MISSING)
        if value is not MISSING:
            return value
    return MISSING


class Ledger:
    """Applies target tables and remembers each replacement so ``close`` can undo it."""

    def __init__(self, rec: Recorder):
        self._rec = rec
        self._lock = threading.RLock()
        self._patches: list[tuple[Any, str, Any, Any, str]] = []
        self._seen: set[tuple[int, str]] = set()
        self._open = True
        self.missing: list[str] = []

    def apply(self, targets: Iterable[Target]) -> None:
        """Patch each target now if its module is imported, else when it is (post-import hook)."""
        for target in targets:
            wrapt.register_post_import_hook(functools.partial(self._on_import, target), target.module)

    def _on_import(self, target: Target, module: Any) -> None:
        # wrapt cannot unregister a hook: after close() it must do nothing.
        if not self._open:
            return
        try:
            owner = module
            for part in filter(None, target.path.split(".")):
                owner = getattr(owner, part)
        except AttributeError:
            self._note_missing(target.label())
            return
        names = list(target.attrs)
        if target.select is not None:
            try:
                names += [n for n in target.select(owner) if n not in names]
            except Exception as exc:
                self._rec.error(exc, f"select {target.label()}")
        for name in names:
            try:
                self._patch(target, owner, name)
            except Exception as exc:
                self._rec.error(exc, f"wrap {target.label(name)}")

    def _note_missing(self, label: str) -> None:
        if label not in self.missing:
            self.missing.append(label)

    def _patch(self, target: Target, owner: Any, attr: str) -> None:
        with self._lock:
            key = (id(owner), attr)
            if not self._open or key in self._seen:
                return
            original = _raw(owner, attr)
            if original is MISSING and not target.create:
                self._note_missing(target.label(attr))
                return
            try:
                replacement = target.make(self._rec, original, owner, attr)
            except Unsupported:
                self._note_missing(target.label(attr))
                return
            self._set(key, owner, attr, replacement, target.label(attr))

    def patch_object(self, obj: Any, attr: str, replacement: Any, label: str) -> None:
        """Give ``obj`` (an instance) its own ``attr``, undone at ``close``; once per object."""
        with self._lock:
            key = (id(obj), attr)
            if self._open and key not in self._seen:
                self._set(key, obj, attr, replacement, label)

    def _set(self, key: tuple[int, str], owner: Any, attr: str, replacement: Any,
             label: str) -> None:
        own = vars(owner).get(attr, MISSING)
        setattr(owner, attr, replacement)
        self._seen.add(key)
        self._patches.append((owner, attr, own, replacement, label))

    def close(self) -> None:
        """Restore every original (newest first); idempotent."""
        with self._lock:
            self._open = False
            patches, self._patches = self._patches, []
            self._seen.clear()
        for owner, attr, own, replacement, label in reversed(patches):
            try:
                if vars(owner).get(attr, MISSING) is not replacement:
                    # Someone replaced our wrapper (a mock, another tool): leave theirs;
                    # ours is inert now that the recorder is inactive.
                    self._rec.error(RuntimeError(f"{label} was replaced while hooked; left as is"),
                                    "uninstall")
                elif own is MISSING:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, own)
            except Exception as exc:
                self._rec.error(exc, f"restore {label}")
