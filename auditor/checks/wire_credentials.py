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
the sensitive-log scanner knows (``admin:<token>``, base64 of ``user:password``). One
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
        self._seen: set[str] = set()

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
        found = []
        for cred in event.credentials:
            if cred.issued or masked(cred.value) or self.origin(cred.value) is not None:
                continue
            key = f"{event.endpoint}:{cred.kind}"
            ident = f"{event.site.path}:{event.site.function}:{key}"
            if ident in self._seen:
                continue
            what = f"{cred.kind} header" if cred.kind[:1].isupper() else cred.kind
            finding = Finding(
                WIRE, f"A credential ({what}, {len(cred.value)} characters) sent to "
                f"{event.endpoint} at {address(event)} is held by no configuration "
                f"(auth: {event.auth})", event.site,
                {"endpoint": event.endpoint, "kind": cred.kind, "auth": event.auth,
                 "peer": address(event), "length": str(len(cred.value))},
                key=key, run=self.run)
            self._seen.add(ident)
            found.append(finding)
        return found

    def finish(self) -> Iterable[Finding]:
        return ()
