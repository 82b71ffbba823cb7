"""The one secrets registry: planted canaries and known secret values, and where each came from.

Audited runs plant canaries (random values, kept in clear) in every secret-bearing input.
Live tracing knows the values of nova's ``secret=True`` options (in the process's memory
anyway) and, from ``AUDITOR_SECRETS_FILE``, secrets the process never holds in clear: those
are kept only as keyed hashes (``auditor.hashed_secrets``). Scanners and checks read both
through this registry.
"""

from __future__ import annotations

import secrets as _secrets
import string
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from auditor.hashed_secrets import HashedSecrets, file_secrets

if TYPE_CHECKING:  # pragma: no cover
    from oslo_config import cfg

__all__ = ["CanaryRegistry", "from_config", "url_passwords"]

_ALPHABET = string.ascii_letters + string.digits
_PREFIX = "Cnry"
_BODY = 12


class CanaryRegistry:
    """Thread-safe map of secret value -> source name (``ironic.driver_info.ipmi_password``).

    ``plant`` makes a fresh canary; ``add`` registers a value known to be secret
    (live mode). The first source registered for a value keeps it. ``version``
    grows on every change, so scanners know when to rebuild.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}
        self._version = 0
        #: secrets known only as keyed hashes (``add_hashed``, ``add_file``)
        self.hashed = HashedSecrets()

    def plant(self, source: str) -> str:
        """Return a new unique canary (``Cnry`` + 12 random letters/digits) for ``source``."""
        with self._lock:
            while True:
                value = _PREFIX + "".join(_secrets.choice(_ALPHABET) for _ in range(_BODY))
                # at least one digit and one upper-case letter after the prefix:
                # never a word, never confused with an identifier or hex id
                body = value[len(_PREFIX):]
                if (value not in self._values and any(c.isdigit() for c in body)
                        and any(c.isupper() for c in body)):
                    break
            self._values[value] = source
            self._version += 1
            return value

    def add(self, value: str, source: str) -> None:
        """Register a known secret ``value``; empty values are ignored."""
        if not value:
            return
        with self._lock:
            if value not in self._values:
                self._values[value] = source
                self._version += 1

    def update(self, pairs: Iterable[tuple[str, str]]) -> None:
        """``add`` every ``(source, value)`` pair (the shape ``from_config`` returns)."""
        for source, value in pairs:
            self.add(value, source)

    def add_hashed(self, value: str, source: str) -> None:
        """Register a secret kept only as keyed hashes of its forms (never in clear)."""
        if self.hashed.add(value, source):
            with self._lock:
                self._version += 1

    def add_file(self, environ: Mapping[str, str] | None = None) -> int:
        """Add the secrets of the file ``$AUDITOR_SECRETS_FILE`` names, hashed; how many
        lines it had. Raises ``hashed_secrets.SecretsFileError`` (unreadable, or readable
        by others)."""
        pairs = list(file_secrets() if environ is None else file_secrets(environ))
        for source, value in pairs:
            self.add_hashed(value, source)
        return len(pairs)

    def secrets(self) -> Mapping[str, str]:
        """A snapshot copy: secret value -> source."""
        with self._lock:
            return dict(self._values)

    @property
    def version(self) -> int:
        return self._version

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def source(self, value: str) -> str | None:
        """The source of a secret equal to ``value``, in clear or hashed."""
        return self._values.get(value) or self.hashed.source_of(value)

    def from_config(self, conf: "cfg.ConfigOpts") -> list[tuple[str, str]]:
        """Register and return the secrets of ``conf`` (see module function ``from_config``)."""
        pairs = from_config(conf)
        self.update(pairs)
        return pairs


def url_passwords(value: str) -> list[str]:
    """Passwords embedded in a URL (``scheme://user:PASS@host``, several hosts allowed)."""
    if "://" not in value or "@" not in value:
        return []
    try:
        netloc = urllib.parse.urlsplit(value).netloc
    except ValueError:
        return []
    found = []
    # oslo.messaging transport URLs list several hosts: u:p@h1,u2:p2@h2
    for part in netloc.split(","):
        userinfo, sep, _host = part.rpartition("@")
        if not sep or ":" not in userinfo:
            continue
        password = urllib.parse.unquote(userinfo.split(":", 1)[1])
        if password:
            found.append(password)
    return found


def _values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _values(item)


def from_config(conf: "cfg.ConfigOpts") -> list[tuple[str, str]]:
    """``(source, value)`` for every non-empty ``secret=True`` option of ``conf``, in all
    groups, plus passwords embedded in URL-valued options (``[database]/connection``,
    ``transport_url``). Sources look like ``conf.placement.password`` and
    ``conf.database.connection.password``. Options that cannot be read are skipped.
    Secret-named keys in the config files that no option is registered for yet are
    included too.
    """
    found: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def keep(source: str, value: str) -> None:
        if value and (source, value) not in seen:
            seen.add((source, value))
            found.append((source, value))

    registered: set[tuple[str, str]] = set()
    # oslo.config has no public iterator over options with their metadata;
    # ConfigOpts.log_opt_values walks the same private tables.
    for info, group in list(conf._all_opt_infos()):  # noqa: SLF001
        opt = info["opt"]
        group_name = group.name if group is not None else "DEFAULT"
        registered.add((group_name, opt.dest))
        try:
            value = (getattr(conf, opt.dest) if group is None
                     else getattr(getattr(conf, group.name), opt.dest))
        except Exception:  # unparsed/invalid/required options: nothing to read
            continue
        source = f"conf.{group_name}.{opt.dest}"
        for text in _values(value):
            if getattr(opt, "secret", False):
                keep(source, text)
            for password in url_passwords(text):
                keep(f"{source}.password", password)
    for source, value in _unregistered(conf, registered):
        keep(source, value)
    return found


def _unregistered(conf: "cfg.ConfigOpts", registered: set[tuple[str, str]]
                  ) -> Iterator[tuple[str, str]]:
    """Secret-named keys of the config files not registered yet (keystoneauth registers
    ``[placement]/password`` only when the plugin loads), and passwords in their URLs.
    Best effort: reads oslo.config's parsed files, a private structure.
    """
    from auditor.checks.secrets_scan import SANITIZE_KEYS

    try:
        parsed = conf._namespace._parsed  # noqa: SLF001
        items = [(section, key, values) for sections in parsed
                 for section, keys in sections.items() for key, values in keys.items()]
    except Exception:  # not parsed yet, or another oslo.config
        return
    for section, key, values in items:
        dest = key.replace("-", "_")
        if (section, dest) in registered:
            continue
        for value in _values(values):
            if dest.lower().endswith(SANITIZE_KEYS):
                yield f"conf.{section}.{dest}", value
            for password in url_passwords(value):
                yield f"conf.{section}.{dest}.password", password
