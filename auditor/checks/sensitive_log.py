"""sensitive-log: a secret, or something shaped like one, in anything the process logs.

Rules
    sensitive-log/canary (high)   a planted canary or a known secret value (live mode:
                                  the values of ``secret=True`` options) reaches a log
                                  record, raw or encoded (repr/JSON-escaped, URL-encoded,
                                  base64 at any alignment, gzip+base64).
    sensitive-log/pattern (medium) a value shaped like a secret with no known value:
                                  URL credentials, ``password=``-style pairs for oslo's
                                  sanitize keys, PEM private keys, Fernet tokens,
                                  ``X-Auth-Token`` headers. Masked values are ignored.

Scanned: the formatted message, each argument, each ``extra`` value, and the exception
text (chained exceptions and traceback). One finding per (rule, code site, source or
kind, field) per run; evidence names the source and field, never the value.

Example::

    HIGH sensitive-log/canary  nova/virt/ironic/driver.py:1488 power_off
      Ironic driver_info.ipmi_password reaches an INFO log record from
      nova/virt/ironic/driver.py:power_off (message, raw)
      excerpt: ... due to error: ipmitool -P [SECRET:ironic.driver_info.ipmi_password] ...

See also: leaked-exception (secrets in exception messages, same scanner).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from auditor.checks.registry import RunContext, register
from auditor.checks.secrets_scan import FollowingScanner, Hit, PatternHit, Scanner, redact_spans
from auditor.events import LogEvent, Site
from auditor.findings import Finding, Rule, Severity, redact

__all__ = ["RULES", "CANARY", "PATTERN", "SensitiveLogCheck", "describe_source"]

CANARY = Rule(
    "sensitive-log/canary", Severity.HIGH, "A secret value reaches log output",
    "A planted canary or a known secret appears in a log record (message, arguments, "
    "extra or exception text), raw or encoded.")
PATTERN = Rule(
    "sensitive-log/pattern", Severity.MEDIUM, "A secret-shaped value reaches log output",
    "A value shaped like a credential (URL password, password= pair, private key, "
    "token) appears unmasked in a log record.")
RULES: tuple[Rule, ...] = (CANARY, PATTERN)

_EXCERPT = 160
#: log events remembered as quiet per scanner, and their longest text
_QUIET_MAX, _QUIET_LEN = 1 << 14, 512
_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
_KINDS = {
    "url-credentials": "A {label} URL with a password",
    "key-value": "A '{label}' value",
    "private-key": "A PEM private key",
    "token": "A Fernet token",
    "auth-header": "An {label} header value",
}


def describe_source(source: str) -> str:
    """A human name for a secret's source (``conf.placement.password`` -> config option)."""
    head, _, rest = source.partition(".")
    if head == "ironic" and rest:
        return f"Ironic {rest}"
    if head == "context" and rest:
        return f"RequestContext {rest}"
    if head == "conf" and rest:
        group, _, name = rest.partition(".")
        if name.endswith(".password"):
            return f"the password in config option [{group}]/{name[:-9]}"
        return f"config option [{group}]/{name}"
    return source


def _unquote(text: str) -> str:
    """The inside of a quoted repr (``'abc'`` -> ``abc``), else the text."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _small(event: LogEvent) -> bool:
    """Whether every text of ``event`` is short enough to remember it by (no exception)."""
    return (event.exc_text is None and len(event.message) <= _QUIET_LEN
            and all(len(text) <= _QUIET_LEN for text in event.args)
            and all(len(value) <= _QUIET_LEN for _, value in event.extra))


def _level_name(level: int) -> str:
    return _LEVELS.get(level, f"Level {level}")


@dataclasses.dataclass
class _Seen:
    rule: Rule
    site: Site
    key: str
    what: str           # subject of the message
    field: str
    logger: str
    template: str
    excerpt: str
    detail: dict[str, str]
    forms: list[str]
    levels: set[int]
    count: int = 1


@register(*RULES)
class SensitiveLogCheck:
    """Scan every ``LogEvent`` for known secrets and secret-shaped values.

    ``registry``: value -> source mapping, or a ``CanaryRegistry`` (followed as it
    grows). ``patterns=False`` turns ``sensitive-log/pattern`` off. Findings are
    aggregated per fingerprint and emitted by ``finish()``, which starts a new run.
    """

    #: the only event type ``observe`` looks at (the session dispatches by type)
    EVENTS = (LogEvent,)

    @classmethod
    def for_run(cls, ctx: RunContext) -> "SensitiveLogCheck":
        """The check for one audited run (``registry.Check``)."""
        return cls(ctx.canaries, run=ctx.run)

    def __init__(self, registry: Mapping[str, str] | Any, *, patterns: bool = True,
                 run: str = "") -> None:
        self._following = FollowingScanner(registry)
        self._patterns = patterns
        self.run = run
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}

    @property
    def scanner(self) -> Scanner:
        """The scanner for the registry as it is now."""
        return self._following.current

    @property
    def made(self) -> int:
        """Distinct findings recorded this run (the tracer writes a new one at once)."""
        return len(self._seen)

    def observe(self, event: object) -> Iterable[Finding]:
        """Record the secrets in a ``LogEvent``; findings come out of ``finish()``."""
        if not isinstance(event, LogEvent):
            return ()
        following = self._following
        scanner, quiet = following.current, following.quiet
        # an event found to hold nothing, with every rule on, recurs as often as not
        key = (event.message, event.args, event.extra, event.exc_text)
        if key in quiet:
            return ()
        if not self._look(scanner, event) and self._patterns and _small(event):
            if len(quiet) >= _QUIET_MAX:
                quiet.clear()
            quiet.add(key)
        return ()

    def _look(self, scanner: Scanner, event: LogEvent) -> bool:
        """Record what ``event`` holds; whether it held anything."""
        message = event.message
        fields: list[tuple[str, str]] = [("message", message)]
        # an argument shown verbatim in the message can hold nothing the message lacks
        fields += [(f"args[{i}]", arg) for i, arg in enumerate(event.args)
                   if _unquote(arg) not in message]
        fields += [(f"extra.{name}", value) for name, value in event.extra]
        if event.exc_text:
            fields.append(("exc_text", event.exc_text))
        in_message: set[str] = set()
        held = False
        for field, text in fields:
            hits, shapes = scanner.look(text)
            if not self._patterns:
                shapes = ()
            if not hits and not shapes:
                continue
            held = True
            shapes = [p for p in shapes if all(p.end <= h.start or p.start >= h.end
                                                for h in hits)]
            is_arg = field.startswith("args[")
            for hit in hits:
                if is_arg and hit.source in in_message:
                    continue  # the argument surfaced in the message already
                self._record(event, CANARY, hit.source, field, text, hits, shapes,
                             (hit.start, hit.end), hit.form)
            for shape in shapes:
                if is_arg and shape.kind in in_message:
                    continue
                self._record(event, PATTERN, shape.kind, field, text, hits, shapes,
                             (shape.start, shape.end), shape.label)
            if field == "message":
                in_message.update(h.source for h in hits)
                in_message.update(p.kind for p in shapes)
        return held

    def _record(self, event: LogEvent, rule: Rule, name: str, field: str, text: str,
                hits: list[Hit], shapes: list[PatternHit], focus: tuple[int, int],
                form: str) -> None:
        key = f"{name}|{field}"
        ident = (rule.id, event.site.path, event.site.function, key)
        seen = self._seen.get(ident)
        if seen is not None:
            seen.count += 1
            seen.levels.add(event.level)
            if rule is CANARY and form not in seen.forms:
                seen.forms.append(form)
            return
        if rule is CANARY:
            what = describe_source(name)
            detail = {"source": name}
            forms = [form]
        else:
            what = _KINDS.get(name, "A secret-shaped value").format(label=form or name)
            detail = {"kind": name, "label": form}
            forms = []
        length = focus[1] - focus[0]
        detail["length"] = str(length)
        self._seen[ident] = _Seen(
            rule=rule, site=event.site, key=key, what=what, field=field,
            logger=event.logger, template=self._clean(event.template),
            excerpt=self._clean(text, hits, shapes, focus), detail=detail,
            forms=forms, levels={event.level})

    def _clean(self, text: str, hits: list[Hit] | None = None,
               shapes: list[PatternHit] | None = None,
               focus: tuple[int, int] | None = None) -> str:
        """``text`` with every secret and secret shape replaced by a label."""
        scanner = self.scanner
        if hits is None:
            hits = scanner.scan(text)
            shapes = scanner.patterns(text) if self._patterns else []
        spans = [(h.start, h.end, f"[SECRET:{h.source}]") for h in hits]
        spans += [(p.start, p.end, f"[REDACTED:{p.kind}]") for p in shapes or ()]
        width = _EXCERPT if focus is not None else 0
        cleaned = redact_spans(text, spans, focus=focus, width=width)
        return redact(cleaned, scanner.secrets, limit=240)

    def finish(self) -> Iterable[Finding]:
        """Emit one finding per fingerprint seen since the last ``finish()``."""
        findings = [self._finding(seen) for seen in self._seen.values()]
        self._seen = {}
        return findings

    def _finding(self, seen: _Seen) -> Finding:
        levels = sorted(seen.levels)
        names = "/".join(_level_name(lv) for lv in levels)
        article = "an" if names[0] in "AEIOU" else "a"
        where = f"{seen.site.path}:{seen.site.function}"
        how = ", ".join([seen.field, *seen.forms])
        evidence = {
            **seen.detail,
            "field": seen.field,
            "logger": seen.logger,
            "levels": names,
            "template": seen.template,
            "excerpt": seen.excerpt,
            "occurrences": str(seen.count),
        }
        if seen.forms:
            evidence["form"] = ", ".join(seen.forms)
        if max(levels) < 20:
            evidence["note"] = "leaks at DEBUG only"
        message = f"{seen.what} reaches {article} {names} log record from {where} ({how})"
        return Finding(rule=seen.rule, message=message, site=seen.site,
                       evidence=evidence, key=seen.key, run=self.run)
