"""The configuration file: ``auditor.toml`` or ``[tool.auditor]`` in ``pyproject.toml``.

Found from the working directory upward (the first directory holding either;
``auditor.toml`` wins within a directory). Every effective value carries where it
came from: the command line (which always wins), the file, or the default.
Anything wrong in the file is one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

from auditor.findings import FAIL_ON
from auditor.nova.runtime import MODES as _MODES
from auditor.report.gate import DEFAULT_FAIL_ON

__all__ = ["ConfigError", "Setting", "Config", "DEFAULTS", "KEYS", "MODES", "MAX_NODES",
           "MAX_WORKERS", "find", "load", "discover"]

MODES = (*_MODES, "both")
DEFAULT = "default"
COMMAND_LINE = "command line"
#: upper bounds of ``nodes`` and ``workers`` (file and command line): 5000 nodes is a large
#: Ironic region (memory grows with nodes: 10,000,000 took 3.2 GB in 70 s); 256 workers is
#: far past where a scenario's few compute hosts contend, at one thread each
MAX_NODES = 5000
MAX_WORKERS = 256


class ConfigError(ValueError):
    """A configuration file that cannot be used (one line: file, key, what is wrong)."""


def _choice(choices: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    return check


def _int(minimum: int | None, maximum: int | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or (
                minimum is not None and value < minimum) or (
                maximum is not None and value > maximum):
            bounds = (f" {minimum}-{maximum}" if maximum is not None
                      else f" >= {minimum}" if minimum else "")
            raise ValueError(f"expected a whole number{bounds}, got {value!r}")
        return value
    return check


def _strings(choices: tuple[str, ...] | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        bad = [v for v in value if choices is not None and v not in choices]
        if bad:
            raise ValueError(f"unknown {bad[0]!r}; choose from {', '.join(choices)}")
        return tuple(value)
    return check


def _string(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _allow(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("expected a list of tables: [[tool.auditor.allow]] rule = ..., "
                         "reason = ...")
    out = []
    for n, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ValueError(f"[{n}]: expected a table with rule and reason")
        unknown = sorted(set(entry) - {"rule", "reason"})
        if unknown:
            raise ValueError(f"[{n}]: unknown key {unknown[0]!r} (an allow entry has rule "
                             f"and reason)")
        if not isinstance(entry.get("rule"), str) or not entry["rule"]:
            raise ValueError(f"[{n}]: needs rule = a rule id or a category")
        if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
            raise ValueError(f"[{n}]: allow entry for {entry['rule']!r} needs a reason")
        out.append({"rule": entry["rule"], "reason": entry["reason"].strip()})
    return tuple(out)


def _categories() -> tuple[str, ...]:
    from auditor.checks import categories

    return tuple(categories())


#: Every key the file may hold, with its check (lazily built choices stay lazy).
KEYS: dict[str, Callable[[Any], Any]] = {
    "fail-on": _choice(FAIL_ON),
    "categories": lambda v: _strings(_categories())(v),
    "baseline": _string,
    "scenarios": _strings(),
    "mode": _choice(MODES),
    "nodes": _int(1, MAX_NODES),
    "workers": _int(1, MAX_WORKERS),
    "seed": _int(None),
    "docs-url": _string,
    "source-root": _string,
    "allow": _allow,
}
#: Values when neither the command line nor the file gives one (None: the scenario decides).
DEFAULTS: dict[str, Any] = {
    "fail-on": DEFAULT_FAIL_ON, "categories": (), "baseline": None, "scenarios": (),
    "mode": "both", "nodes": None, "workers": None, "seed": 0, "docs-url": None,
    "source-root": None, "allow": (),
}
#: How an unset value reads in ``auditor config``.
_EMPTY = {"categories": "(all)", "scenarios": "(all)", "nodes": "(each scenario's own)",
          "workers": "(each scenario's own)", "docs-url": "(the published docs)"}
#: Keys whose values are paths: relative ones are taken from the file's directory.
_PATHS = ("baseline",)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One effective value and where it came from (``default``, a file, ``command line``)."""

    value: Any
    source: str


@dataclasses.dataclass(frozen=True)
class Config:
    """Effective settings; ``path`` is the file read, if any."""

    path: Path | None
    settings: Mapping[str, Setting]

    def __getitem__(self, key: str) -> Any:
        return self.settings[key].value

    def source(self, key: str) -> str:
        return self.settings[key].source

    def with_command_line(self, values: Mapping[str, Any]) -> "Config":
        """The command line's values (those not None) over this configuration."""
        settings = dict(self.settings)
        for key, value in values.items():
            if key not in KEYS:
                raise KeyError(key)
            if value is not None and value != () and value != []:
                settings[key] = Setting(tuple(value) if isinstance(value, list) else value,
                                        COMMAND_LINE)
        return Config(self.path, settings)

    def lines(self) -> list[str]:
        """``key = value  (source)`` per key, for ``auditor config``."""
        out = [f"configuration file: {self.path or 'none found'}"]
        for key, setting in self.settings.items():
            if key == "allow":
                out.append(f"allow: {len(setting.value)} entr{'y' if len(setting.value) == 1 else 'ies'}"
                           f"  ({setting.source})")
                out += [f"  {e['rule']}: {e['reason']}" for e in setting.value]
                continue
            value = setting.value
            shown = _EMPTY.get(key, "(none)") if value in (None, ()) else (
                ", ".join(value) if isinstance(value, tuple) else value)
            out.append(f"{key} = {shown}  ({setting.source})")
        return out


def find(start: Path) -> Path | None:
    """The configuration file for ``start``: the nearest directory upward with
    ``auditor.toml`` or a ``pyproject.toml`` holding ``[tool.auditor]``."""
    for directory in (start, *start.parents):
        own = directory / "auditor.toml"
        if own.is_file():
            return own
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "auditor" in _read(pyproject).get("tool", {}):
            return pyproject
    return None


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _table(path: Path) -> tuple[dict, str]:
    data = _read(path)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("auditor", {})
        return (table if isinstance(table, dict) else {}), "tool.auditor."
    return data, ""


def load(path: Path) -> Config:
    """The settings of ``path`` over the defaults; ``ConfigError`` on anything wrong."""
    table, prefix = _table(path)
    settings = {key: Setting(value, DEFAULT) for key, value in DEFAULTS.items()}
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{path}: key '{prefix}{key}': unknown key; known keys: "
                              f"{', '.join(KEYS)}")
        try:
            value = KEYS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: key '{prefix}{key}': {exc}") from None
        if key in _PATHS:
            value = str((path.parent / value).resolve())
        settings[key] = Setting(value, str(path))
    return Config(path, settings)


def discover(start: Path | None = None) -> Config:
    """The configuration for the working directory (or ``start``): a file's or the defaults."""
    path = find((start or Path.cwd()).resolve())
    if path is not None:
        return load(path)
    return Config(None, {key: Setting(value, DEFAULT) for key, value in DEFAULTS.items()})
