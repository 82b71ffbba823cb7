"""Run nova's own unittest-based tests under pytest: two narrow, reversible shims."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, Iterable

__all__ = ["NovaCompat", "packaged_paste_config"]

_MISSING = object()


def _keep_test_method(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """``TestCase._clear_attrs`` that leaves the one attribute pytest set on the instance.

    pytest's unittest integration sets ``testcase.<test method name>`` before
    running the test and ``delattr``s it afterwards; nova's cleanup deletes
    every public instance attribute first, so pytest's ``delattr`` raised
    AttributeError and every nova test failed.
    """

    @functools.wraps(original)
    def _clear_attrs(self: Any) -> None:
        name = getattr(self, "_testMethodName", "")
        kept = self.__dict__.get(name, _MISSING)
        original(self)
        if kept is not _MISSING:
            self.__dict__[name] = kept

    return _clear_attrs


@functools.lru_cache(maxsize=1)
def packaged_paste_config() -> str | None:
    """``etc/nova/api-paste.ini`` as installed with the nova distribution (data files), if any."""
    from importlib import metadata

    try:
        files = metadata.distribution("nova").files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith("etc/nova/api-paste.ini"):
            path = os.path.realpath(str(f.locate()))
            if os.path.isfile(path):
                return path
    return None


def _paste_fallback(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """``ConfFixture.setUp`` that points ``[wsgi] api_paste_config`` at the installed file
    when the one nova's fixture names (``$state_path/etc/nova/api-paste.ini``, i.e. the
    source tree layout) does not exist.
    """

    @functools.wraps(original)
    def setUp(self: Any) -> None:
        original(self)
        current = self.conf.wsgi.api_paste_config
        packaged = packaged_paste_config()
        if packaged and not os.path.exists(current):
            self.conf.set_default("api_paste_config", packaged, group="wsgi")

    return setUp


class NovaCompat:
    """Apply the shims when nova's tests are collected; ``restore`` puts the originals back."""

    def __init__(self) -> None:
        self._saved: list[tuple[type, str, Any, Any]] = []

    def adapt(self, items: Iterable[Any]) -> bool:
        """Install the shims if ``items`` holds a ``nova.test.TestCase``; cheap otherwise."""
        nova_test = sys.modules.get("nova.test")
        if nova_test is None or self._saved:
            return bool(self._saved)
        base = getattr(nova_test, "TestCase", None)
        if not isinstance(base, type) or not any(
                isinstance(getattr(item, "cls", None), type) and issubclass(item.cls, base)
                for item in items):
            return False
        self._patch(base, "_clear_attrs", _keep_test_method)
        conf_fixture = getattr(sys.modules.get("nova.tests.fixtures.conf"), "ConfFixture", None)
        if isinstance(conf_fixture, type):
            self._patch(conf_fixture, "setUp", _paste_fallback)
        return True

    def _patch(self, cls: type, name: str, factory: Callable[[Any], Any]) -> None:
        original = cls.__dict__.get(name)
        if original is None:  # another nova version: nothing to adapt
            return
        replacement = factory(original)
        setattr(cls, name, replacement)
        self._saved.append((cls, name, original, replacement))

    def restore(self) -> None:
        """Put every original back, by identity, if our replacement is still in place."""
        while self._saved:
            cls, name, original, replacement = self._saved.pop()
            if cls.__dict__.get(name) is replacement:
                setattr(cls, name, original)
