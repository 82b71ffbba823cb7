"""Peers of the process as ``WireEvent``s describe them: where, loopback or not, and how."""

from __future__ import annotations

import functools
import ipaddress

from auditor.events import WireEvent

__all__ = ["ENDPOINTS", "loopback", "address", "channel"]

#: The peers the tracker and the Ironic driver talk to (the coverage's ``endpoints``).
ENDPOINTS = frozenset({"placement", "ironic", "database", "message-bus"})


@functools.lru_cache(maxsize=1024)
def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (no name resolution; remembered:
    every placement request's ``WireEvent`` asks it again about the same few hosts)."""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def address(event: WireEvent) -> str:
    """``scheme://host`` of a peer (no port, no path), or what kind of transport it is."""
    if not event.host:
        return f"{event.scheme} (in-process or local file)"
    return f"{event.scheme}://{event.host}"


def channel(event: WireEvent) -> str:
    """One line about how a peer was reached (never a credential): the coverage's id."""
    where = ("in-process or local file" if not event.host
             else f"loopback {event.host}" if loopback(event.host) else f"remote {event.host}")
    tls = "off" if not event.tls else "on, verified" if event.verify else "on, unverified"
    if event.verify is False and not event.tls:
        tls = "off, verification disabled"
    timeout = "none" if event.timeout is None else f"{event.timeout:g} s"
    retries = "n/a" if event.retries is None else str(event.retries)
    creds = ", ".join(sorted({c.kind for c in event.credentials})) or "none"
    return (f"{event.endpoint}: {event.scheme} to {where}; TLS {tls}; client cert "
            f"{'yes' if event.client_cert else 'no'}; timeout {timeout}; retries {retries}; "
            f"credentials {creds}")
