"""leaked-exception: what escapes the tracker's entry points, and what it leaves behind.

Rules:

- ``leaked-exception/unexpected`` (high): an exception escaped the tracker
  through an entry point (the outermost, when entry points nest) that does not
  list its type as expected (``auditor.nova.expected.ENTRY_POINT_EXPECTED``,
  overridable). Located at the innermost nova frame that raised it.
- ``leaked-exception/secret`` (high): a secret (planted canary or known
  value) in the message of an exception escaping an entry point.
- ``leaked-exception/inconsistent-state`` (high): an entry point raised
  through the semaphore and left tracker state different from what it found
  (a failed claim must leave no trace).

Example: ``leaked-exception/unexpected: openstack.exceptions.HttpException escaped
update_available_resource (raised in nova/virt/ironic/driver.py:_get_node)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from auditor.checks.registry import RunContext, register
from auditor.checks.secrets_scan import FollowingScanner, redact_spans
from auditor.events import EntryEvent, Event, ExitEvent, Site
from auditor.findings import Finding, Rule, Severity
from auditor.nova.expected import ENTRY_POINT_EXPECTED

__all__ = ["RULES", "ExceptionsCheck"]

UNEXPECTED = Rule("leaked-exception/unexpected", Severity.HIGH,
                  "An unexpected exception escaped a tracker entry point")
SECRET = Rule("leaked-exception/secret", Severity.HIGH,
              "A secret in the message of an exception escaping the tracker")
INCONSISTENT = Rule("leaked-exception/inconsistent-state", Severity.HIGH,
                    "An entry point failed under the lock and left tracker state changed")
RULES = (UNEXPECTED, SECRET, INCONSISTENT)


@register(*RULES)
class ExceptionsCheck:
    """Judges ExitEvents against the expected-exception table and entry state."""

    #: the event types ``observe`` looks at (the session dispatches by type)
    EVENTS = (EntryEvent, ExitEvent)

    @classmethod
    def for_run(cls, ctx: RunContext) -> "ExceptionsCheck":
        """The check for one audited run (``registry.Check``)."""
        return cls(ctx.canaries, ctx.expected)

    def __init__(self, secrets: Mapping[str, str] | Any = (),
                 expected: Mapping[str, tuple[str, ...]] = ENTRY_POINT_EXPECTED):
        """``secrets``: value -> source, or a ``CanaryRegistry`` followed as it grows."""
        self._scanner = FollowingScanner(dict(secrets) if isinstance(secrets, (dict, tuple))
                                         else secrets)
        self.expected = expected
        self._entries: dict[int, list[EntryEvent]] = defaultdict(list)
        self._seen: dict[str, Finding] = {}
        self._counts: dict[str, int] = defaultdict(int)

    @property
    def made(self) -> int:
        """Distinct findings recorded this run (the tracer writes a new one at once)."""
        return len(self._seen)

    def observe(self, event: Event) -> Iterable[Finding]:
        if isinstance(event, EntryEvent):
            self._entries[event.owner].append(event)
        elif isinstance(event, ExitEvent):
            stack = self._entries.get(event.owner)
            entry = stack.pop() if stack else None
            if event.exc_type is not None:
                # Nested entry points (update_available_resource ->
                # _update_available_resource): the outermost one says whether
                # the exception escaped the tracker.
                for finding in self._judge(event, entry, nested=bool(stack)):
                    self._counts[finding.fingerprint] += 1
                    self._seen.setdefault(finding.fingerprint, finding)
        return ()

    def _judge(self, ev: ExitEvent, entry: EntryEvent | None,
               nested: bool) -> Iterable[Finding]:
        site = ev.exc_site or Site("nova/compute/resource_tracker.py", 0, ev.name)
        text = ev.exc_message or ""
        hits = self._scanner.current.scan(text)
        # every encoded form of a secret masked, not only the raw value
        masked = redact_spans(text, [(h.start, h.end, f"[SECRET:{h.source}]") for h in hits],
                              width=240)
        if not nested and ev.exc_type not in self.expected.get(ev.name, ()):
            yield Finding(
                UNEXPECTED, f"{ev.exc_type} escaped {ev.name} (raised in {site.path}:"
                f"{site.function})", site,
                {"entry_point": ev.name, "exception": ev.exc_type,
                 "message": masked,
                 "under_lock": str(ev.under_lock)},
                key=f"{ev.name}|{ev.exc_type}")
        for hit in hits:
            yield Finding(
                SECRET, f"{hit.source} in the message of {ev.exc_type} escaping {ev.name}",
                site, {"source": hit.source, "form": hit.form, "entry_point": ev.name,
                       "excerpt": masked},
                key=f"{ev.name}|{hit.source}")
        if ev.under_lock and entry is not None and entry.state and ev.state \
                and entry.state != ev.state:
            changed = sorted(k for (k, v) in set(ev.state) ^ set(entry.state))
            yield Finding(
                INCONSISTENT, f"{ev.name} raised {ev.exc_type} under the lock and changed "
                f"{', '.join(dict.fromkeys(changed))}", site,
                {"entry_point": ev.name, "exception": ev.exc_type,
                 "changed": ", ".join(dict.fromkeys(changed))},
                key=f"{ev.name}|{ev.exc_type}")

    def finish(self) -> Iterable[Finding]:
        for fingerprint, finding in self._seen.items():
            evidence = dict(finding.evidence, occurrences=str(self._counts[fingerprint]))
            yield Finding(finding.rule, finding.message, finding.site, evidence, finding.key)
