"""hard-coded/wire: a credential the process sent that no configuration holds.

Rules
    hard-coded/wire (high)   a credential on the wire (an ``X-Auth-Token``/``Authorization``
                             header of a placement, Ironic or other keystoneauth request,
                             the password of a database connection or of a message-bus
                             transport URL) is traced to no configured secret: not a
                             canary (audited runs), not the value of a ``secret=True``
                             option or of a URL's password (live tracing), not a line of
                             ``AUDITOR_SECRETS_FILE`` (kept as keyed hashes), and not a
                             token the auth plugin obtained at run time from the identity
                             service or a request context.

A credential is traced when it equals a registered secret or contains one in any form
the sensitive-log scanner knows (``admin:<token>``, base64 of ``user:password``), judged
at the end of the run (or of a trace's window) against every secret known by then. One
finding per (call site, endpoint, credential kind) per run; evidence names the endpoint,
the kind, the auth plugin and the length, never the value.

Example::

    HIGH hard-coded/wire  nova/scheduler/client/report.py:288 get
      A credential (X-Auth-Token header, 24 characters) sent to placement at
      http://127.0.0.1 is held by no configuration (auth: keystoneauth1.token_endpoint.Token)

See also: hard-coded/literal and hard-coded/shape (the loaded code's literals).
"""

from __future__ import annotations

from typing import Any, Iterable

from auditor.checks.registry import RunContext, register
from auditor.checks.secrets_scan import FollowingScanner, masked
from auditor.events import WireEvent
from auditor.findings import Finding, Rule, Severity
from auditor.peers import address

__all__ = ["RULES", "WIRE", "WireCredentialCheck"]

WIRE = Rule(
    "hard-coded/wire", Severity.HIGH, "A credential on the wire that no configuration holds",
    "A credential the process sent (auth header, database or message-bus password) is "
    "neither a configured secret nor a token obtained at run time: it was built into the "
    "code or assembled from something that is not configuration.")
RULES: tuple[Rule, ...] = (WIRE,)


@register(*RULES)
class WireCredentialCheck:
    """Trace every credential of every ``WireEvent`` to a registered secret."""

    EVENTS = (WireEvent,)

    def __init__(self, registry: Any, run: str = "") -> None:
        """``registry``: a ``CanaryRegistry`` (followed as it grows)."""
        self._registry = registry
        self._following = FollowingScanner(registry)
        self.run = run
        #: call site and credential kind -> its first untraced occurrence (until ``finish``)
        self._pending: dict[str, tuple[WireEvent, Any]] = {}

    @classmethod
    def for_run(cls, ctx: RunContext) -> "WireCredentialCheck":
        return cls(ctx.canaries, ctx.run)

    def origin(self, value: str) -> str | None:
        """Where a credential comes from: a registered secret's source, or None."""
        source = self._registry.source(value)
        if source:
            return source
        hits = self._following.current.scan(value)
        return hits[0].source if hits else None

    def observe(self, event: WireEvent) -> Iterable[Finding]:
        """Note each credential not traced yet; judged at ``finish``, against the registry as
        it is then (a process may send before its configuration's secrets are known: nova's
        ``parse_args`` opens the message bus before it returns)."""
        for cred in event.credentials:
            ident = f"{event.site.path}:{event.site.function}:{event.endpoint}:{cred.kind}"
            if (ident in self._pending or cred.issued or masked(cred.value)
                    or self.origin(cred.value) is not None):
                continue
            self._pending[ident] = (event, cred)
        return ()

    def finish(self) -> Iterable[Finding]:
        found = []
        for event, cred in self._pending.values():
            if self.origin(cred.value) is not None:
                continue
            what = f"{cred.kind} header" if cred.kind[:1].isupper() else cred.kind
            found.append(Finding(
                WIRE, f"A credential ({what}, {len(cred.value)} characters) sent to "
                f"{event.endpoint} at {address(event)} is held by no configuration "
                f"(auth: {event.auth})", event.site,
                {"endpoint": event.endpoint, "kind": cred.kind, "auth": event.auth,
                 "peer": address(event), "length": str(len(cred.value))},
                key=f"{event.endpoint}:{cred.kind}", run=self.run))
        self._pending = {}
        return found
