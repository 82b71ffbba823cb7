"""input-validation: malformed Ironic node data or claim input must be rejected or skipped, not crash or corrupt.

Scenarios announce what they plant with a ``BadInput`` event (node, field,
description). Everything after it is correlated with that node:

- ``input-validation/crash`` (high): an exception escaped a tracker entry point
  while the node was being processed (the tracker's own "Auditing ... (node: X)"
  log line names the node for the thread), or an ERROR-level log names the
  node, and the exception is not one of nova's deliberate rejections
  (``REJECTIONS``).
- ``input-validation/corrupt-accounting`` (high): at a settled checkpoint the
  node has duplicate records or providers, an allocation of no instance, or
  usage numbers that differ from its instances.

Quiet when nova rejects or skips the input: the driver's "malformed" warning and
0 resources, a named rejection such as ``NoResourceClass``, a warning-level log.

Example: ``input-validation/crash: builtins.TypeError escaped update_available_resource
for node 6f1c… (resource_class: a list)``.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable

from auditor.checks.registry import RunContext, register
from auditor.events import (AccountingSnapshot, BadInput, Event, ExitEvent, LogEvent, Site,
                            UsageSnapshot)
from auditor.findings import Finding, Rule, Severity

__all__ = ["RULES", "InputValidationCheck", "REJECTIONS"]

CRASH = Rule("input-validation/crash", Severity.HIGH,
             "Malformed input crashed the tracker instead of being rejected or skipped")
CORRUPT = Rule("input-validation/corrupt-accounting", Severity.HIGH,
               "Malformed input corrupted the tracker's accounting")
RULES = (CRASH, CORRUPT)

#: Exceptions by which nova deliberately refuses an input (qualified names).
REJECTIONS = frozenset({
    "nova.exception.NoResourceClass", "nova.exception.InvalidInput",
    "nova.exception.ComputeResourcesUnavailable", "nova.exception.InvalidConfiguration",
    # placement refused the provider data (e.g. a resource class name it does not allow)
    "nova.exception.ResourceProviderSyncFailed", "nova.exception.ResourceProviderUpdateFailed",
})
_AUDITING = re.compile(r"Auditing locally available compute resources for .* \(node: (?P<node>\S+?)\)")
_RT = "nova/compute/resource_tracker.py"


@register(*RULES)
class InputValidationCheck:
    """Correlates planted bad input with crashes and accounting damage on the same node."""

    #: the event types ``observe`` looks at (the session dispatches by type)
    EVENTS = (BadInput, LogEvent, ExitEvent, AccountingSnapshot, UsageSnapshot)

    @classmethod
    def for_run(cls, ctx: RunContext) -> "InputValidationCheck":
        """The check for one audited run (``registry.Check``)."""
        return cls()

    def __init__(self) -> None:
        self._bad: dict[str, list[str]] = {}         # node -> "field: description"
        self._current: dict[int, str] = {}           # owner -> node it is auditing
        self._found: dict[tuple[str, str, str], Finding] = {}

    @property
    def made(self) -> int:
        """Distinct findings recorded this run (the tracer writes a new one at once)."""
        return len(self._found)

    def observe(self, event: Event) -> Iterable[Finding]:
        if isinstance(event, BadInput):
            self._bad.setdefault(event.node, []).append(f"{event.field}: {event.description}")
        elif not self._bad:
            return ()
        elif isinstance(event, LogEvent):
            self._log(event)
        elif isinstance(event, ExitEvent):
            self._exit(event)
        elif isinstance(event, AccountingSnapshot) and event.settled:
            self._accounting(event)
        elif isinstance(event, UsageSnapshot) and event.settled:
            for row in event.nodes:
                if row.uuid in self._bad and row.used != row.expected:
                    self._corrupt(row.uuid, "usage differs from the node's instances",
                                  event.label)
        return ()

    def _log(self, ev: LogEvent) -> None:
        match = _AUDITING.search(ev.message) if ev.site.path == _RT else None
        if match:
            self._current[ev.owner] = match.group("node")
            return
        if ev.level >= logging.ERROR:
            for node in self._bad:
                if node in ev.message or (ev.exc_text and node in ev.exc_text):
                    exc = _exception_name(ev.exc_text)
                    if exc and exc in REJECTIONS:
                        continue
                    if exc is None and not ev.exc_text:
                        continue  # an error message without a traceback: reported, not a crash
                    self._crash(node, exc or "error", f"logged at {logging.getLevelName(ev.level)}"
                                f" by {ev.site.path}:{ev.site.function}", ev.site)

    def _exit(self, ev: ExitEvent) -> None:
        node = self._current.get(ev.owner)
        if ev.name == "update_available_resource":
            self._current.pop(ev.owner, None)
        if ev.exc_type is None:
            return
        candidates = [n for n in self._bad if ev.exc_message and n in ev.exc_message]
        if node in self._bad:
            candidates.append(node)
        for bad in dict.fromkeys(candidates):
            if ev.exc_type not in REJECTIONS:
                self._crash(bad, ev.exc_type, f"escaped {ev.name}",
                            ev.exc_site or Site(_RT, 0, ev.name))

    def _accounting(self, snap: AccountingSnapshot) -> None:
        live = {i.uuid for i in snap.instances if i.vm_state != "deleted"}
        for node in snap.nodes:
            if node.uuid not in self._bad:
                continue
            if len(node.db_records) > 1 or node.providers > 1:
                self._corrupt(node.uuid, "duplicate compute node records or providers", snap.label)
            if any(c not in live for c in node.consumers) or len(node.consumers) > 1:
                self._corrupt(node.uuid, "allocations that no single instance explains",
                              snap.label)

    def _crash(self, node: str, exc: str, how: str, site: Site) -> None:
        key = (CRASH.id, node, exc)
        if key not in self._found:
            self._found[key] = Finding(
                CRASH, f"{exc} {how} for node {node[:8]} ({'; '.join(self._bad[node])})", site,
                {"node": node, "input": "; ".join(self._bad[node]), "exception": exc,
                 "how": how}, key=f"{self._bad[node][0].split(':')[0]}|{exc}")

    def _corrupt(self, node: str, what: str, label: str) -> None:
        key = (CORRUPT.id, node, what)
        if key not in self._found:
            self._found[key] = Finding(
                CORRUPT, f"{what} for node {node[:8]} ({'; '.join(self._bad[node])})",
                Site(_RT, 0, "_update_available_resource"),
                {"node": node, "input": "; ".join(self._bad[node]), "checkpoint": label},
                key=f"{self._bad[node][0].split(':')[0]}|{what}")

    def finish(self) -> Iterable[Finding]:
        return list(self._found.values())


def _exception_name(exc_text: str | None) -> str | None:
    """The qualified-ish name of the last exception in a formatted traceback."""
    if not exc_text:
        return None
    last = exc_text.strip().splitlines()[-1]
    name = last.split(":", 1)[0].strip()
    return name if name and " " not in name else None
