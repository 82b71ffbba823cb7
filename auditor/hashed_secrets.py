"""Secrets known only as keyed hashes: an operator's extra secrets (``AUDITOR_SECRETS_FILE``).

Values the process itself never holds in clear (Ironic ``driver_info`` passwords, which
nova only ever sees masked) must not be put in its memory by the auditor either. Each
secret's forms (raw, repr/JSON-escaped, URL-encoded, base64 fragments: the sensitive-log
scanner's ``variants``) are kept as a BLAKE2b hash keyed with a random per-process key,
indexed by a keyed hash of their first ``MIN_LENGTH`` characters (Python's string hash,
SipHash under a per-process seed). ``find`` hashes every window of that width in a
text and confirms a hit by hashing the window of the candidate's length: the same hits,
in the same forms, as the clear-text scanner would make.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
import threading
from typing import Iterator

from auditor.checks.secrets_scan import MIN_LENGTH, Hit, variants
from auditor.trusted_files import open_trusted_regular

__all__ = ["HashedSecrets", "ENV_SECRETS_FILE", "SecretsFileError", "read_secrets_file",
           "file_secrets"]

#: Names a 0600 file of extra secrets, one per line (tracing).
ENV_SECRETS_FILE = "AUDITOR_SECRETS_FILE"
_KEY = os.urandom(32)
_WORDLIKE = re.compile(r"[A-Za-z]{1,11}")   # as the clear scanner: short words match whole only
_FORM_ORDER = {"raw": 0, "repr": 1, "url": 2, "base64": 3}
_STRIDE_MAX = 8


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=_KEY,
                           digest_size=16).digest()


@dataclasses.dataclass(frozen=True, slots=True)
class _Form:
    length: int
    digest: bytes
    source: str
    form: str
    word: bool     # a short all-letter form: matches only as a whole word


class HashedSecrets:
    """Keyed hashes of secrets' forms, searchable in text; never the values themselves.

    Every form is indexed by the hashes of its ``MIN_LENGTH``-character windows at offsets
    ``0 .. _STRIDE_MAX - 1``, so ``find`` need hash only every ``stride``-th window of a
    text (``stride``: how many such offsets the shortest form has).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_gram: dict[int, list[tuple[_Form, int]]] = {}
        self._digests: set[bytes] = set()          # every form's digest
        self._exact: dict[bytes, str] = {}         # the value's own digest -> source
        self._sources: list[str] = []
        self._stride = _STRIDE_MAX
        self.skipped: list[str] = []      # sources of values shorter than MIN_LENGTH

    def add(self, value: str, source: str) -> bool:
        """Keep ``value``'s forms as keyed hashes (the value itself is not kept); whether
        it was new. Values shorter than ``MIN_LENGTH`` are not searched for in text (listed
        in ``skipped``), only matched whole by ``source_of``."""
        if not value:
            return False
        raw = _digest(value)
        with self._lock:
            if raw in self._exact:
                return False
            self._exact[raw] = source
            self._sources.append(source)
            if len(value) < MIN_LENGTH:   # known for exact matches (``source_of``) only
                self.skipped.append(source)
                return True
        forms = variants(value)
        with self._lock:
            for form, text in forms:
                digest = _digest(text)
                if digest in self._digests:
                    continue
                self._digests.add(digest)
                entry = _Form(len(text), digest, source, form,
                              form != "base64" and bool(_WORDLIKE.fullmatch(text)))
                offsets = min(_STRIDE_MAX, len(text) - MIN_LENGTH + 1)
                self._stride = min(self._stride, offsets)
                for k in range(offsets):
                    self._by_gram.setdefault(hash(text[k:k + MIN_LENGTH]), []).append((entry, k))
        return True

    def source_of(self, value: str) -> str | None:
        """The source of a secret equal to ``value`` (any length), if one was added."""
        return self._exact.get(_digest(value)) if self._exact else None

    def __len__(self) -> int:
        return len(self._sources)

    def __bool__(self) -> bool:
        return bool(self._sources)

    def find(self, text: str) -> list[Hit]:
        """Every secret in ``text``, in any of its forms: leftmost, longest, not overlapping."""
        by_gram, q, step = self._by_gram, MIN_LENGTH, self._stride
        size = len(text)
        if not by_gram or size < q:
            return []
        starts = range(0, size - q + 1, step)
        grams = list(map(hash, map(text.__getitem__, map(slice, starts, range(q, size + 1, step)))))
        if by_gram.keys().isdisjoint(grams):
            return []
        found: dict[tuple[int, bytes], _Form] = {}
        for i, gram in zip(starts, grams):
            for entry, k in by_gram.get(gram, ()):
                start = i - k
                key = (start, entry.digest)
                if start >= 0 and key not in found and _matches(text, start, size, entry):
                    found[key] = entry
        hits: list[Hit] = []
        end = 0
        for (start, _), entry in sorted(found.items(),
                                        key=lambda kv: (kv[0][0], -kv[1].length,
                                                        _FORM_ORDER[kv[1].form])):
            if start >= end:
                hits.append(Hit(entry.source, entry.form, start, start + entry.length))
                end = start + entry.length
        return hits


def _matches(text: str, start: int, size: int, entry: _Form) -> bool:
    end = start + entry.length
    if end > size or _digest(text[start:end]) != entry.digest:
        return False
    return not entry.word or not (
        (start and (text[start - 1].isalnum() or text[start - 1] == "_"))
        or (end < size and (text[end].isalnum() or text[end] == "_")))


class SecretsFileError(Exception):
    """The secrets file is unreadable or readable by others (one line says why)."""


#: why ``read_secrets_file`` refused a file (``trusted_files.open_trusted_regular``)
_REFUSED = {"open": ENV_SECRETS_FILE + "={path}: {detail}",
            "type": ENV_SECRETS_FILE + "={path}: not a regular file",
            "owner": ENV_SECRETS_FILE + ": {detail}"}


def read_secrets_file(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, secret)`` for each non-empty line of ``path``, which must be a regular
    file owned by this user or root and neither group- nor world-readable."""
    def private(st: os.stat_result) -> None:
        if st.st_mode & 0o077:
            raise SecretsFileError(
                f"{ENV_SECRETS_FILE}={path}: readable or writable by others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")

    fd = open_trusted_regular(path, SecretsFileError, _REFUSED, follow=False, check=private)
    with os.fdopen(fd, "r", encoding="utf-8", newline="") as f:
        for number, line in enumerate(f, 1):
            secret = line.rstrip("\r\n")
            if secret:
                yield number, secret


def file_secrets(environ=os.environ) -> Iterator[tuple[str, str]]:
    """``(source, secret)`` from the file ``$AUDITOR_SECRETS_FILE`` names (none if unset);
    sources are ``secrets-file:LINE``. Raises ``SecretsFileError``."""
    path = environ.get(ENV_SECRETS_FILE)
    if path:
        for number, secret in read_secrets_file(path):
            yield f"secrets-file:{number}", secret
