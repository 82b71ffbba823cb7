"""external-call: how the tracker's and driver's peers are reached (placement, Ironic, the
database, the message bus), judged from what each request or connection actually used.

Rules
    external-call/plaintext-credentials (high)  credentials sent without TLS to a peer that
                                   is not on a loopback address (``http://``, a database
                                   without a required TLS mode, RabbitMQ without ``ssl``).
                                   A loopback peer (``127.0.0.0/8``, ``::1``, ``localhost``)
                                   is reported in the coverage's ``channels``, not here.
    external-call/tls-unverified (high)   TLS peer verification is off: a keystoneauth
                                   session with ``verify=False`` (``insecure = true``; over
                                   plain http too, where https would go unverified), a
                                   database ``sslmode=require`` or ``ssl`` without a CA.
    external-call/no-timeout (medium)     an HTTP request with no timeout made while holding
                                   ``compute_resources``: a peer that hangs holds the lock,
                                   and every claim behind it, for as long as it hangs.

Facts come from ``WireEvent`` (the ``wire`` hooks): scheme, peer, TLS and verification,
client certificate, timeout, retries. Database and message-bus timeouts are recorded
(``connect_timeout``, ``rpc_response_timeout``) but not judged: a pool's connect timeout
is no per-call limit. One finding per (rule, call site, endpoint) per run.

Example::

    MEDIUM external-call/no-timeout  nova/scheduler/client/report.py:288 get
      A placement request to http://127.0.0.1 has no timeout and is made while holding
      compute_resources (retries: 0)
"""

from __future__ import annotations

from typing import Iterable

from auditor.checks.registry import RunContext, register
from auditor.events import SEMAPHORE, WireEvent
from auditor.findings import Finding, Rule, Severity
from auditor.peers import address, loopback

__all__ = ["RULES", "PLAINTEXT", "UNVERIFIED", "NO_TIMEOUT", "ChannelsCheck",
           "NOT_JUDGED_TIMEOUT"]

PLAINTEXT = Rule(
    "external-call/plaintext-credentials", Severity.HIGH,
    "Credentials sent without TLS to a non-loopback peer",
    "A request or connection carried credentials over an unencrypted channel to a peer "
    "that is not on this host.")
UNVERIFIED = Rule(
    "external-call/tls-unverified", Severity.HIGH, "TLS peer verification is disabled",
    "The client does not verify the peer's certificate (verify=False, insecure, sslmode="
    "require): anyone on the path can impersonate the service and collect credentials.")
NO_TIMEOUT = Rule(
    "external-call/no-timeout", Severity.MEDIUM,
    "An external call without timeout made while holding compute_resources",
    "An HTTP request with no timeout ran under the tracker's semaphore: a hung peer "
    "would hold the lock, and every claim waiting for it, indefinitely.")
RULES: tuple[Rule, ...] = (PLAINTEXT, UNVERIFIED, NO_TIMEOUT)

#: Endpoints whose timeouts are recorded but not judged.
NOT_JUDGED_TIMEOUT = frozenset({"database", "message-bus"})


@register(*RULES)
class ChannelsCheck:
    """Judge each ``WireEvent``'s channel."""

    EVENTS = (WireEvent,)

    def __init__(self, run: str = "") -> None:
        self.run = run
        self._seen: set[str] = set()

    @classmethod
    def for_run(cls, ctx: RunContext) -> "ChannelsCheck":
        return cls(ctx.run)

    def observe(self, event: WireEvent) -> Iterable[Finding]:
        found = []
        peer = address(event)
        where = f"{event.endpoint} {'request' if event.retries is not None else 'connection'}"
        if event.credentials and not event.tls and event.host and not loopback(event.host):
            kinds = ", ".join(sorted({c.kind for c in event.credentials}))
            found.append(self._make(event, PLAINTEXT, f"A {where} to {peer} sends credentials "
                                    f"({kinds}) without TLS", {"kinds": kinds}))
        if event.verify is False:
            note = "" if event.tls else " (plain http now; https would go unverified)"
            found.append(self._make(event, UNVERIFIED, f"A {where} to {peer} does not verify "
                                    f"the peer's TLS certificate{note}", {}))
        if (event.timeout is None and event.endpoint not in NOT_JUDGED_TIMEOUT
                and any(h.endswith(SEMAPHORE) for h in event.held)):
            found.append(self._make(event, NO_TIMEOUT, f"A {where} to {peer} has no timeout "
                                    f"and is made while holding {SEMAPHORE} (retries: "
                                    f"{event.retries})", {"retries": str(event.retries)}))
        return [f for f in found if f is not None]

    def _make(self, event: WireEvent, rule: Rule, message: str,
              extra: dict[str, str]) -> Finding | None:
        ident = f"{rule.id}:{event.site.path}:{event.site.function}:{event.endpoint}"
        if ident in self._seen:
            return None
        self._seen.add(ident)
        return Finding(rule, message, event.site,
                       {"endpoint": event.endpoint, "peer": address(event),
                        "scheme": event.scheme, "tls": str(event.tls),
                        "verify": str(event.verify), "client_cert": str(event.client_cert),
                        "timeout": str(event.timeout), "auth": event.auth, **extra},
                       key=event.endpoint, run=self.run)

    def finish(self) -> Iterable[Finding]:
        return ()
