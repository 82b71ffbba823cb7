"""The one redaction point: every finding, report and message made of audited data passes through here.

``Redactor.text`` masks, in any text, every secret of a canary registry (in any
form the scanner knows: raw, repr, URL- and base64-encoded) as
``[SECRET:<source>]``, every secret-shaped value (``password=...``, URL
credentials, tokens, private keys) as ``[REDACTED:<kind>]``, and every planted
canary by its shape (``Cnry`` + 12 letters/digits) even when this process does
not know it (a child's). ``Redactor.report`` does the same to every string of
a JSON report. Callers: ``AuditSession`` (findings, ``auditor-error`` messages,
``runs[].errors``), ``auditor run`` (its children's stderr, the merged report in
every format, its own messages), the tracer (finding lines), ``auditor report``
(the reports it reads, whoever wrote them). Lines about the auditor's own failures
(a file skipped, a trace not flushed) name files and exception types, never data.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from auditor.canaries import CanaryRegistry, from_config
from auditor.checks.secrets_scan import FollowingScanner, redact_spans

__all__ = ["Redactor", "CANARY_SHAPE", "config_secrets"]

#: every canary ``CanaryRegistry.plant`` makes has this shape
CANARY_SHAPE = re.compile(r"Cnry[A-Za-z0-9]{12}")


class Redactor:
    """Mask the secrets of ``registry`` (followed as it grows) and secret shapes in text."""

    def __init__(self, registry: CanaryRegistry | Mapping[str, str] | None = None):
        self._scanner = FollowingScanner(registry if registry is not None else {})

    def text(self, text: str) -> str:
        """``text`` with every known secret and secret-shaped value masked."""
        if not text:
            return text
        scanner = self._scanner.current
        spans: list[tuple[int, int, str]] = []
        for found in (  # most specific first: a known secret names its source
                [(h.start, h.end, f"[SECRET:{h.source}]") for h in scanner.scan(text)],
                [(m.start(), m.end(), "[SECRET:canary]") for m in CANARY_SHAPE.finditer(text)],
                [(p.start, p.end, f"[REDACTED:{p.kind}]") for p in scanner.patterns(text)]):
            spans += [(lo, hi, label) for lo, hi, label in found
                      if not any(lo < end and start < hi for start, end, _ in spans)]
        return redact_spans(text, spans) if spans else text

    def report(self, value: Any) -> Any:
        """A copy of a JSON value (a report) with every string passed through ``text``."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.report(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.report(v) for v in value]
        return value

    def lines(self, stream: Iterable[bytes], out) -> None:
        """Copy a byte stream line by line to the text stream ``out``, redacted."""
        for raw in stream:
            out.write(self.text(raw.decode("utf-8", "replace")))
            out.flush()


def config_secrets(paths: Iterable[str]) -> CanaryRegistry:
    """A registry of the secrets in nova config files (secret-named keys, URL passwords).

    Parses them with oslo.config (no nova options needed): raises its parse
    error for a file that is not a config file.
    """
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf(args=[], project="nova-rt-auditor", default_config_files=list(paths),
         use_env=False)
    registry = CanaryRegistry()
    registry.update(from_config(conf))
    return registry
