"""Record how the process reaches its peers and what credentials it sends (``WireEvent``).

Three narrow points, each where the final values exist:

- keystoneauth ``Session._send_request`` (placement, Ironic through openstacksdk, any
  keystoneauth client): the URL, the headers with the auth plugin's headers merged in,
  ``verify``, ``cert``, ``timeout`` and the retry counts; once per request, not per retry.
  ``Session.request`` is wrapped too, only to note the service type and auth plugin.
- SQLAlchemy ``DefaultDialect.connect``: the DBAPI's connect arguments (host, password, TLS
  options, connect timeout) each time the pool opens a connection.
- oslo.messaging ``BaseDriver.__init__``: the transport URL's hosts and credentials and, for
  RabbitMQ, its ``ssl`` options, once per transport (``adopt``: nova's transports made
  before installation).

Each is recorded once per run for the same channel, credentials, call site and held locks
(``Recorder.first``): the checks judge one finding per call site, and nova opens a SQLite
connection for every database access.
"""

from __future__ import annotations

import inspect
import re
import sys
import urllib.parse
from typing import Any

import wrapt

from auditor.events import WireCredential, WireEvent
from auditor.hooks.ledger import Target, Unsupported, wrapping
from auditor.hooks.recorder import Recorder, guarded, outermost, owner
from auditor.hooks.sites import site_outside
from auditor.nova import hook_points as hp

__all__ = ["TARGETS", "CREDENTIAL_HEADER", "ENDPOINTS", "adopt"]

#: Header names that carry a credential (matched on the lower-cased name).
CREDENTIAL_HEADER = re.compile(r"token|authorization|password|secret|api-key|cookie")
#: keystoneauth service types -> endpoint names of the report (a request with no service
#: type, such as the SDK's version discovery, is named ``http``).
ENDPOINTS = {"placement": "placement", "baremetal": "ironic"}
#: Library frames skipped when naming the call site.
_LIBRARIES = ("keystoneauth1/", "openstack/", "requests/", "urllib3/", "sqlalchemy/",
              "oslo_db/", "oslo_messaging/", "stevedore/", "kombu/", "oslo_utils/",
              "neutronclient/", "glanceclient/", "cinderclient/")
_PG_TLS = {"require": False, "verify-ca": True, "verify-full": True}


def _facts(endpoint: str, scheme: str, host: str, port: Any, tls: bool, verify: bool | None,
           client_cert: bool, timeout: Any, retries: int | None, auth: str,
           credentials: tuple[WireCredential, ...]) -> tuple:
    """A ``WireEvent``'s fields after its head and before its call site."""
    return (endpoint, scheme, host or "", int(port) if port else None, tls, verify,
            client_cert, _seconds(timeout), retries, auth, credentials)


@guarded("wire.emit")
def _emit(rec: Recorder, facts: tuple) -> None:
    who = owner()
    where, held = site_outside(_LIBRARIES), rec.held_by(who)
    # A repeat (same channel, credentials, call site and held locks) tells no check anything
    # new: nova opens a SQLite connection per database access, ~20 per node per pass.
    if rec.first((facts, where, held)):
        rec.emit(WireEvent(*rec.stamp(who), *facts, where, held))


def _seconds(timeout: Any) -> float | None:
    """A requests timeout (number, or (connect, read) pair) as one number; None: none."""
    if isinstance(timeout, (tuple, list)):
        parts = [t for t in timeout if t is not None]
        return float(max(parts)) if len(parts) == len(timeout) and parts else None
    try:
        return float(timeout) if timeout is not None else None
    except (TypeError, ValueError):
        return None


def _url_password(url: urllib.parse.SplitResult) -> tuple[WireCredential, ...]:
    password = url.password
    return (WireCredential("url-password", urllib.parse.unquote(password)),) if password else ()


# -- keystoneauth -------------------------------------------------------------------------

def _request_wrapper(rec: Recorder, attr: str):
    """``Session.request``: note the service type and auth plugin for ``_send_request``."""
    def wrapper(wrapped, instance, args, kwargs):
        if not rec.active:
            return wrapped(*args, **kwargs)
        who = owner()
        stack = rec.extras.setdefault("wire", {}).setdefault(who, [])
        flt = kwargs.get("endpoint_filter") or {}
        stack.append((flt.get("service_type") if isinstance(flt, dict) else None,
                      kwargs.get("auth") or getattr(instance, "auth", None)))
        try:
            return wrapped(*args, **kwargs)
        finally:
            stack.pop()
    return wrapper


def _make_send(rec: Recorder, original: Any, owner_cls: Any, attr: str) -> Any:
    """Wrap ``Session._send_request``, its positional arguments found by name once."""
    try:
        names = list(inspect.signature(original).parameters)[1:]   # without self
        at = {name: names.index(name) for name in ("url", "connect_retries",
                                                   "status_code_retries")}
    except (TypeError, ValueError):
        raise Unsupported(f"{attr}: unexpected signature") from None

    def send(who, wrapped, instance, args, kwargs):
        _http(rec, who, instance, args, kwargs, at)
        return wrapped(*args, **kwargs)
    # retries and redirects call it again: the request counts once
    return wrapt.FunctionWrapper(original, outermost(rec, "wire.send", send))


def _arg(args: tuple, kwargs: dict, at: dict, name: str) -> Any:
    i = at[name]
    return args[i] if i < len(args) else kwargs.get(name)


_peers: dict[str, tuple[str, str, int | None, tuple[WireCredential, ...]]] = {}
_credential_names: dict[str, bool] = {}


def _peer(url: str) -> tuple[str, str, int | None, tuple[WireCredential, ...]]:
    """``(scheme, host, port, URL password)`` of a URL, cached by its scheme and authority."""
    key = "/".join(url.split("/", 3)[:3])     # scheme://authority
    found = _peers.get(key)
    if found is None:
        parts = urllib.parse.urlsplit(url)
        if len(_peers) > 256:
            _peers.clear()
        found = _peers[key] = (parts.scheme, parts.hostname or "", parts.port,
                               _url_password(parts))
    return found


def _credential_header(name: Any) -> bool:
    found = _credential_names.get(name)
    if found is None:
        found = _credential_names[name] = bool(CREDENTIAL_HEADER.search(str(name).lower()))
    return found


@guarded("wire.http")
def _http(rec: Recorder, who: int, session: Any, args: tuple, kwargs: dict, at: dict) -> None:
    stack = rec.extras.get("wire", {}).get(who) or [(None, getattr(session, "auth", None))]
    service, plugin = stack[-1]
    scheme, host, port, in_url = _peer(str(_arg(args, kwargs, at, "url")))
    issued = None
    creds = []
    for name, value in (kwargs.get("headers") or {}).items():
        if value and _credential_header(name):
            if issued is None:
                issued = _issued_token(plugin) or ""
            creds.append(WireCredential(name, str(value), str(value) == issued))
    basic = kwargs.get("auth")
    if isinstance(basic, (tuple, list)) and len(basic) == 2 and basic[1]:
        creds.append(WireCredential("basic-auth", str(basic[1])))
    connect, status = (_arg(args, kwargs, at, n) for n in ("connect_retries",
                                                            "status_code_retries"))
    _emit(rec, _facts(ENDPOINTS.get(service, service or "http"), scheme, host, port,
                      scheme == "https", kwargs.get("verify", True) is not False,
                      bool(kwargs.get("cert")), kwargs.get("timeout"),
                      (connect if isinstance(connect, int) else 0)
                      + (status if isinstance(status, int) else 0), _qualname(plugin),
                      tuple(creds) + in_url))


def _issued_token(plugin: Any) -> str | None:
    """The token an auth plugin got at run time (identity service, or a request context), or
    the placeholder keystoneauth's no-auth plugin sends (``notused``: no credential)."""
    ref = getattr(plugin, "auth_ref", None)
    token = getattr(ref, "auth_token", None)
    kind = type(plugin).__name__
    if token is None and kind == "_ContextAuthPlugin":   # nova.context
        token = getattr(plugin, "auth_token", None)
    elif token is None and kind == "NoAuth" and type(plugin).__module__ == "keystoneauth1.noauth":
        token = plugin.get_token(None)
    return str(token) if token else None


def _qualname(obj: Any) -> str:
    if obj is None:
        return "none"
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


# -- SQLAlchemy ---------------------------------------------------------------------------

def _connect_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if rec.active and not rec.ignored():
            _database(rec, instance, kwargs)
        return wrapped(*args, **kwargs)
    return wrapper


@guarded("wire.database")
def _database(rec: Recorder, dialect: Any, params: dict) -> None:
    """A connection's facts; worked out again only when a dialect's connect arguments
    changed (nova opens a connection per database access, with the same arguments)."""
    name = getattr(dialect, "name", "database")
    known = rec.extras.setdefault("wire.database", {})   # name -> (arguments, facts), last
    last = known.get(name)
    if last is not None and last[0] == params:
        facts = last[1]
    else:
        facts = _database_facts(name, params)
        known[name] = (dict(params), facts)
    _emit(rec, facts)


def _database_facts(name: str, params: dict) -> tuple:
    password = params.get("password") or params.get("passwd")
    sslmode = str(params.get("sslmode") or "")
    ssl = params.get("ssl") if isinstance(params.get("ssl"), dict) else {}
    if sslmode in _PG_TLS:
        tls, verify = True, _PG_TLS[sslmode]
    elif ssl or params.get("ssl_ca"):
        tls = True
        verify = bool(ssl.get("ca") or params.get("ssl_ca")) and \
            ssl.get("check_hostname", True) is not False
    else:
        tls, verify = False, None
    cert = bool(params.get("sslcert") or ssl.get("cert") or params.get("ssl_cert"))
    timeout = params.get("connect_timeout", params.get("timeout"))
    return _facts("database", name, "" if name == "sqlite" else str(params.get("host") or ""),
                  params.get("port"), tls, verify, cert, timeout, None, f"{name} password",
                  (WireCredential("password", str(password)),) if password else ())


# -- oslo.messaging -----------------------------------------------------------------------

def _driver_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        result = wrapped(*args, **kwargs)
        if rec.active:
            _transport(rec, instance)
        return result
    return wrapper


@guarded("wire.transport")
def _transport(rec: Recorder, driver: Any) -> None:
    url, conf = getattr(driver, "_url", None), getattr(driver, "conf", None)
    scheme = str(getattr(url, "transport", "") or "").split("+")[0]
    ssl = _rabbit_ssl(conf) if scheme == "rabbit" else None
    timeout = getattr(conf, "rpc_response_timeout", None)
    hosts = list(getattr(url, "hosts", None) or ()) or [None]
    for host in hosts:
        password = getattr(host, "password", None)
        _emit(rec, _facts("message-bus", scheme, getattr(host, "hostname", "") or "",
                          getattr(host, "port", None), bool(ssl and ssl[0]),
                          ssl[1] if ssl and ssl[0] else None, bool(ssl and ssl[2]), timeout,
                          None, f"{scheme} password",
                          (WireCredential("url-password", str(password)),) if password else ()))


def adopt(rec: Recorder) -> None:
    """Record nova's message-bus transports made before the hooks were installed (a process
    that built its environment first, such as a test session)."""
    rpc = sys.modules.get(hp.RPC_MODULE)
    for name in hp.RPC_TRANSPORTS:
        driver = getattr(getattr(rpc, name, None), "_driver", None)
        if driver is not None:
            _transport(rec, driver)


def _rabbit_ssl(conf: Any) -> tuple[bool, bool, bool] | None:
    """RabbitMQ's ``[oslo_messaging_rabbit]`` TLS options: (on, peer verified against a CA
    file, client certificate); None if they are not registered."""
    try:
        group = conf.oslo_messaging_rabbit
        return bool(group.ssl), bool(group.ssl_ca_file), bool(group.ssl_cert_file)
    except Exception:  # noqa: BLE001 - options not registered: say nothing
        return None


TARGETS = (
    Target("keystoneauth1.session", "Session", ("request",), wrapping(_request_wrapper)),
    Target("keystoneauth1.session", "Session", ("_send_request",), _make_send),
    Target("sqlalchemy.engine.default", "DefaultDialect", ("connect",),
           wrapping(_connect_wrapper)),
    Target("oslo_messaging._drivers.base", "BaseDriver", ("__init__",),
           wrapping(_driver_wrapper)),
)
