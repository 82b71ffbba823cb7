"""Find secrets in text: known values in raw and encoded forms, and secret-shaped patterns."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import urllib.parse
import weakref
import zlib
from typing import Any, Iterable, Iterator, Mapping

__all__ = [
    "Hit", "PatternHit", "Scanner", "FollowingScanner", "SANITIZE_KEYS", "variants", "redact_spans",
    "MIN_LENGTH", "masked",
]

#: Copied from ``oslo_utils.strutils._SANITIZE_KEYS`` (oslo.utils, the keys its
#: ``mask_password`` masks); checks may not import oslo. A test keeps them in step.
SANITIZE_KEYS: tuple[str, ...] = (
    "adminpass", "admin_pass", "password", "admin_password", "auth_token",
    "new_pass", "auth_password", "secret_uuid", "secret", "sys_pswd", "token",
    "configdrive", "chappassword", "encrypted_key", "private_key", "fernetkey",
    "sslkey", "passphrase", "cephclusterfsid", "octaviaheartbeatkey",
    "rabbitcookie", "cephmanilaclientkey", "pacemakerremoteauthkey",
    "designaterndckey", "cephadminkey", "heatauthencryptionkey", "cephclientkey",
    "keystonecredential", "barbicansimplecryptokek", "cephrgwkey",
    "swifthashsuffix", "migrationsshkey", "cephmdskey", "cephmonkey", "chapsecret",
)

#: Known secrets shorter than this are not scanned for (they would match everywhere).
MIN_LENGTH = 6
_MIN_B64 = 8            # shortest base64 fragment worth matching
_GZIP_CAP = 4 << 20     # bytes of decompressed data scanned per blob
_WORDLIKE = re.compile(r"[A-Za-z]{1,11}")  # short all-letter secrets: match whole words only


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """A known secret (by ``source``) found at ``text[start:end]`` in ``form``."""

    source: str
    form: str     # raw | repr | url | base64 | gzip+base64
    start: int
    end: int


@dataclasses.dataclass(frozen=True, slots=True)
class PatternHit:
    """Something shaped like a secret at ``text[start:end]`` (the value, not its key)."""

    kind: str     # url-credentials | key-value | private-key | token | auth-header
    start: int
    end: int
    label: str = ""   # e.g. the key of a key-value pair, the URL scheme


def _b64_fragments(value: str) -> list[str]:
    """Base64 text that any base64 of a string containing ``value`` must contain.

    The value may start at any of 3 byte alignments; for each, keep only the
    characters whose 6 bits come entirely from the value.
    """
    data = value.encode("utf-8")
    out = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for off in (0, 1, 2):
            enc = encode(b"\0" * off + data).decode("ascii")
            first = -(-8 * off // 6)               # ceil: chars touching the pad bytes
            last = (8 * (off + len(data))) // 6    # floor: chars made only of value bits
            fragment = enc[first:last]
            if len(fragment) >= _MIN_B64:
                out.append(fragment)
    return out


def _trie_pattern(strings: Iterable[str]) -> str:
    """One regex matching any of ``strings``, longest first, with shared prefixes factored
    (sre then tests one character per branch instead of every string at every position).
    """
    trie: dict = {}
    for text in strings:
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        branches = [re.escape(c) + emit(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:%s)" % "|".join(branches)
        if end:
            return "(?:%s)?" % body if len(branches) > 1 or len(body) > 1 else body + "?"
        return body

    return emit(trie) if trie else ""


def variants(value: str) -> list[tuple[str, str]]:
    """``(form, text)`` for each way ``value`` may appear in a log, deduplicated."""
    once = repr(value)[1:-1]
    candidates = [
        ("raw", value),
        ("repr", once),
        ("repr", repr(once)[1:-1]),                    # repr of a repr (dict in a message)
        ("repr", json.dumps(value)[1:-1]),
        ("repr", json.dumps(value, ensure_ascii=False)[1:-1]),
        ("url", urllib.parse.quote(value, safe="")),
        ("url", urllib.parse.quote(value)),
        ("url", urllib.parse.quote_plus(value)),
    ]
    candidates += [("base64", fragment) for fragment in _b64_fragments(value)]
    seen: set[str] = set()
    out = []
    for form, text in candidates:
        if text and text not in seen:
            seen.add(text)
            out.append((form, text))
    return out


# -- patterns for secrets with no known value ---------------------------------------

_Q = r"""\\?["']"""
# oslo's sense of a key: one of SANITIZE_KEYS ending a word (``ipmi_password``), digits
# allowed; then an optional closing quote, ``=`` or ``:``, and a quoted or bare value.
# Matched on the reversed text, so the regex starts at the rare ``=``/``:`` characters.
_KEY_OP_REV = r"(?P<op>[=:])[ \t]*(?P<kq>[\"']\\?)?[0-9]*(?P<key>%s)" % _trie_pattern(
    key[::-1] for key in SANITIZE_KEYS)
_KEY_NEAR_OP = re.compile(_KEY_OP_REV)                      # on lower-cased ASCII text
_KEY_NEAR_OP_I = re.compile(_KEY_OP_REV, re.IGNORECASE)     # on anything else
_VALUE = re.compile(   # a quoted value, a bracketed/printf placeholder, or a bare word
    rf"""[ \t]*(?:(?P<q>{_Q})(?P<qv>[^"'\\]*)|(?P<uv><[^>\s]*>|\{{[^}}\s]*\}}|"""
    rf"""\[[^\]\s]*\]|%\([^)\s]*\)[sdr]|[^\s"',;&)}}\]>]+))""")
_URL = re.compile(
    r"""(?<![\w+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,30})://"""
    r"""(?P<user>[^\s:/@'"]*):(?P<pw>[^\s@/'"]+)@""")
#: texts a ``Scanner`` remembers the findings of (``look``) before it starts again
_LOOKED_MAX, _LOOKED_LEN = 1 << 14, 512   # at most 8 MiB of text
#: the run of characters a ``_URL`` scheme may end with, right before ``://``
_SCHEME_RUN = re.compile(r"[\w+.-]*\Z")
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_FERNET = re.compile(r"(?<![\w-])gAAAAA[A-Za-z0-9_-]{80,}={0,2}")
_HEADER = re.compile(
    r"""X-(?:Auth|Subject|Service|Storage)-Token\\?["']?\s*[:=]\s*\\?["']?"""
    r"""(?P<v>(?:\{SHA\d+\})?[^\s"',}\]\\]+)""", re.IGNORECASE)
_GZIP_B64 = re.compile(r"H4sI[A-Za-z0-9+/_-]{16,}={0,2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(
    r"""\**|<[^>]*>|\[[^\]]*\]|\{[^}]*\}|\$\{?\w*\}?|%(?:\([^)]*\))?[sdr]|None|null|none|"""
    r"""nil|true|false|True|False|x+|X+|\.\.\.|…|(?:\{SHA\d+\}|<SANITIZED>).*""")


def masked(value: str) -> bool:
    """A placeholder or masked value (``***``, ``<password>``, ``%s``, a UUID), not a secret."""
    return bool(_PLACEHOLDER.fullmatch(value) or _UUID.fullmatch(value))


class Scanner:
    """Scan text for the secrets of a registry snapshot (value -> source) and for shapes.

    One compiled alternation of every variant of every secret; build a new
    ``Scanner`` when the registry changes. Values shorter than ``MIN_LENGTH``
    are not scanned for (their sources are listed in ``skipped``).
    """

    def __init__(self, registry_snapshot: Mapping[str, str], hashed: Any = None) -> None:
        """``hashed``: secrets known only as keyed hashes (``hashed_secrets.HashedSecrets``),
        searched by their ``find(text)`` as well."""
        self.secrets: dict[str, str] = dict(registry_snapshot)
        self._hashed = hashed if hashed else None
        self.skipped: tuple[str, ...] = tuple(sorted(
            source for value, source in self.secrets.items() if len(value) < MIN_LENGTH))
        self._lookup: dict[str, tuple[str, str]] = {}
        self._looked: dict[str, tuple[tuple[Hit, ...], tuple[PatternHit, ...]]] = {}
        words: list[str] = []
        per_form: list[tuple[str, str, str]] = []
        for value, source in self.secrets.items():
            if len(value) >= MIN_LENGTH:
                per_form += [(form, text, source) for form, text in variants(value)]
        # raw before encoded forms, so a collision is reported as the simplest form
        order = {"raw": 0, "repr": 1, "url": 2, "base64": 3}
        for form, text, source in sorted(per_form, key=lambda t: order[t[0]]):
            if text not in self._lookup:
                self._lookup[text] = (source, form)
                if form != "base64" and _WORDLIKE.fullmatch(text):
                    words.append(text)
        word_set = set(words)
        alternatives = [_trie_pattern([t for t in self._lookup if t not in word_set])]
        if words:
            alternatives.append(r"(?<![\w])%s(?![\w])" % _trie_pattern(words))
        pattern = "|".join(a for a in alternatives if a)
        self._rx = re.compile(pattern) if pattern else None

    def look(self, text: str) -> tuple[tuple[Hit, ...], tuple[PatternHit, ...]]:
        """``scan(text)`` and ``patterns(text)``, remembered for this scanner per text of up
        to ``_LOOKED_LEN`` characters: a log line recurs (lockutils' three lines per lock
        and owner, keystoneauth's per request)."""
        found = self._looked.get(text)
        if found is None:
            found = (tuple(self.scan(text)), tuple(self.patterns(text)))
            if len(text) <= _LOOKED_LEN:
                if len(self._looked) >= _LOOKED_MAX:
                    self._looked.clear()
                self._looked[text] = found
        return found

    def scan(self, text: str) -> list[Hit]:
        """Every known secret in ``text``, in any of its forms, in order of position."""
        hits: list[Hit] = []
        if not text or (self._rx is None and self._hashed is None):
            return hits
        hits = self._find(text)
        if "H4sI" in text:
            hits += self._scan_gzip(text)
            hits.sort(key=lambda h: h.start)
        return hits

    def _find(self, text: str) -> list[Hit]:
        """Known secrets in ``text``: the clear ones by the regex, the hashed ones by hash."""
        hits: list[Hit] = []
        if self._rx is not None:
            for m in self._rx.finditer(text):
                found = self._lookup.get(m.group())
                if found is not None:
                    hits.append(Hit(found[0], found[1], m.start(), m.end()))
        if self._hashed is not None:
            more = self._hashed.find(text)
            if more:
                hits = sorted(hits + more, key=lambda h: h.start)
        return hits

    def _scan_gzip(self, text: str) -> list[Hit]:
        hits = []
        for blob in _GZIP_B64.finditer(text):
            raw = blob.group().rstrip("=")
            raw += "=" * (-len(raw) % 4)
            try:
                data = base64.b64decode(raw.replace("-", "+").replace("_", "/"))
                plain = zlib.decompressobj(wbits=31).decompress(data, _GZIP_CAP)
            except (binascii.Error, ValueError, zlib.error):
                continue
            seen = set()
            for hit in self._find(plain.decode("latin-1")):
                if hit.source not in seen:
                    seen.add(hit.source)
                    hits.append(Hit(hit.source, "gzip+base64", blob.start(), blob.end()))
        return hits

    def patterns(self, text: str) -> list[PatternHit]:
        """Secret-shaped values in ``text`` (masked values and placeholders excluded)."""
        found: list[PatternHit] = []
        if not text:
            return found
        if "-----BEGIN" in text:
            for m in _PEM.finditer(text):
                end = _PEM_END.search(text, m.end())
                found.append(PatternHit("private-key", m.start(),
                                        end.end() if end else m.end()))
        if "gAAAAA" in text:
            for m in _FERNET.finditer(text):
                found.append(PatternHit("token", m.start(), m.end(), "fernet"))
        if "-token" in text or "-Token" in text or "-TOKEN" in text:
            for m in _HEADER.finditer(text):
                if not masked(m.group("v")):
                    found.append(PatternHit("auth-header", m.start("v"), m.end("v"),
                                            m.group()[: m.group().lower().find("-token") + 6]))
        if "://" in text:
            for m in _url_matches(text):
                if not masked(urllib.parse.unquote(m.group("pw"))):
                    found.append(PatternHit("url-credentials", m.start("pw"), m.end("pw"),
                                            m.group("scheme")))
        size = len(text)
        keys = (_KEY_NEAR_OP.finditer(text.lower()[::-1]) if text.isascii()
                else _KEY_NEAR_OP_I.finditer(text[::-1]))
        masked_spans: list[tuple[int, int]] = []   # masked values, e.g. '[SECRET:x]' or '***'
        pairs: list[tuple[int, PatternHit]] = []
        for k in keys:
            m = _VALUE.match(text, size - k.start())
            if m is None:
                continue
            quoted = m.group("q") is not None
            group = "qv" if quoted else "uv"
            value = m.group(group)
            if not value or masked(value):
                masked_spans.append((m.start(group), m.end(group)))
                continue
            # 'password: word' reads as prose; a colon pair counts with a quoted key or value
            if (k.group("op") == ":" and not quoted and not k.group("kq")
                    and re.fullmatch(r"[a-z]+", value)):
                continue
            key_start = size - k.end()
            name_start = key_start
            while name_start and (text[name_start - 1].isalnum() or text[name_start - 1] == "_"):
                name_start -= 1
            if name_start and text[name_start - 1] in "./":
                continue  # a dotted path, not a pair: 'loading._plugins.admin_token:AdminToken'
            pairs.append((key_start, PatternHit("key-value", m.start(group), m.end(group),
                                                k.group("key")[::-1].lower())))
        found += [hit for key_start, hit in pairs
                  if not any(lo <= key_start < hi for lo, hi in masked_spans)]
        kept: list[PatternHit] = []
        for hit in found:  # first (most specific) wins on overlap
            if all(hit.end <= k.start or hit.start >= k.end for k in kept):
                kept.append(hit)
        return sorted(kept, key=lambda h: h.start)


def _url_matches(text: str) -> Iterator[re.Match]:
    """``_URL.finditer(text)``, tried only where a ``://`` is: the regex alone tries every
    letter of the text as a scheme's start (~26 µs on a 300-character curl line)."""
    q = text.find("://")
    while q >= 0:
        run = _SCHEME_RUN.search(text, max(0, q - 32), q)
        start = run.start() if run else q
        m = _URL.match(text, start) if q - start <= 31 else None
        if m is not None:
            yield m
            q = text.find("://", m.end())
        else:
            q = text.find("://", q + 1)


def redact_spans(text: str, spans: Iterable[tuple[int, int, str]],
                 focus: tuple[int, int] | None = None, width: int = 0) -> str:
    """``text`` with each ``(start, end, label)`` span replaced by ``label``.

    With ``width``, cut to about ``width`` characters around ``focus`` (a span of
    the original text), marking cuts with ``…``.
    """
    out: list[str] = []
    pos = 0
    new_focus = (0, 0)
    for start, end, label in sorted(spans):
        if start < pos:  # overlapping: extend the previous replacement
            if end > pos:
                pos = end
            continue
        out.append(text[pos:start])
        if focus is not None and start <= focus[0] < end:
            here = sum(map(len, out))
            new_focus = (here, here + len(label))
        out.append(label)
        pos = end
    out.append(text[pos:])
    result = "".join(out)
    if not width or len(result) <= width:
        return result
    centre = (new_focus[0] + new_focus[1]) // 2
    lo = max(0, min(centre - width // 2, len(result) - width))
    hi = lo + width
    return ("…" if lo else "") + result[lo:hi] + ("…" if hi < len(result) else "")


class FollowingScanner:
    """The ``Scanner`` for a registry as it is now: rebuilt when the registry grows.

    ``registry`` is a value -> source mapping (fixed) or anything with
    ``version`` and ``secrets()`` (a ``CanaryRegistry``), followed as canaries
    are planted during a run.
    """

    def __init__(self, registry: Mapping[str, str] | Any) -> None:
        self._registry = registry
        self._follows = hasattr(registry, "version") and hasattr(registry, "secrets")
        self._version: int | None = None
        self._scanner = Scanner({} if self._follows else registry)
        #: what a user of the scanner found nothing in (its own keys): forgotten with the
        #: scanner, kept for as long as the scanner is the registry's
        self.quiet: set = _QUIET.setdefault(self._scanner, set())

    def __deepcopy__(self, memo: dict) -> "FollowingScanner":
        """A cache of its registry: a copy of a check (``AuditSession.preview``) shares it."""
        return self

    @property
    def current(self) -> Scanner:
        if self._follows and self._registry.version != self._version:
            self._version, self._scanner = _shared(self._registry)
            self.quiet = _QUIET.setdefault(self._scanner, set())
        return self._scanner


#: registry -> (version, its Scanner): built once per version, shared by every check of every
#: run (a build is ~0.4 s with 1,000 canaries; runs and tracing windows start new checks).
_BUILT: "weakref.WeakKeyDictionary[Any, tuple[int, Scanner]]" = weakref.WeakKeyDictionary()


#: scanner -> ``FollowingScanner.quiet``, shared by every check that uses the scanner
_QUIET: "weakref.WeakKeyDictionary[Scanner, set]" = weakref.WeakKeyDictionary()


def _shared(registry: Any) -> tuple[int, Scanner]:
    """The ``(version, Scanner)`` of ``registry`` as it is now (two racing builds are equal)."""
    version = registry.version
    built = _BUILT.get(registry)
    if built is None or built[0] != version:
        built = _BUILT[registry] = (version, Scanner(registry.secrets(),
                                                       getattr(registry, "hashed", None)))
    return built
