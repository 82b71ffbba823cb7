"""The wire hooks on real clients (keystoneauth over HTTP, SQLAlchemy), and the channel rules."""

from __future__ import annotations

import http.server
import threading

import pytest

from auditor.checks.channels import ChannelsCheck
from auditor.events import WireCredential, WireEvent, Site
from auditor.peers import channel
from auditor.session import AuditSession


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 answering 200 to everything; its URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def wire_events():
    """An installed session; the ``WireEvent``s it records."""
    events: list = []
    session = AuditSession(observer=lambda e: events.append(e) if isinstance(e, WireEvent)
                           else None).start()
    events.clear()  # transports an earlier test made, adopted at install: not this test's
    yield events
    session.stop()


class TestHooks:
    def test_keystoneauth_request(self, server, wire_events):
        """Token, verification, timeout and retries as keystoneauth sent them; once per request."""
        from keystoneauth1 import session, token_endpoint

        auth = token_endpoint.Token(server, "tok-configured-1")
        sess = session.Session(auth=auth, verify=False, timeout=7)
        sess.get(f"{server}/x", endpoint_filter={"service_type": "placement"},
                 connect_retries=2)
        [event] = wire_events
        assert (event.endpoint, event.scheme, event.host, event.verify, event.timeout,
                event.retries, event.auth) == (
            "placement", "http", "127.0.0.1", False, 7.0, 2,
            "keystoneauth1.token_endpoint.Token")
        assert [(c.kind, c.value, c.issued) for c in event.credentials] == [
            ("X-Auth-Token", "tok-configured-1", False)]
        assert event.site.path.endswith("test_wire.py")
        assert channel(event).startswith("placement: http to loopback 127.0.0.1; TLS off, "
                                         "verification disabled; client cert no; timeout 7 s")

    def test_no_auth_placeholder_is_not_a_credential(self, server, wire_events):
        """keystoneauth's no-auth plugin (nova's ``[ironic] auth_type = none``) sends
        ``X-Auth-Token: notused``: recorded as the plugin's, never judged hard-coded."""
        from keystoneauth1 import noauth, session

        session.Session(auth=noauth.NoAuth()).get(
            f"{server}/v1", endpoint_filter={"service_type": "baremetal"},
            endpoint_override=server)
        [event] = wire_events
        assert event.endpoint == "ironic"
        assert [(c.kind, c.issued) for c in event.credentials] == [("X-Auth-Token", True)]

    def test_database_connection(self, wire_events):
        """A SQLAlchemy connection: a local file, no credentials, its timeout."""
        import sqlalchemy

        engine = sqlalchemy.create_engine("sqlite://", connect_args={"timeout": 3})
        with engine.connect():
            pass
        [event] = wire_events
        assert (event.endpoint, event.scheme, event.host, event.tls, event.timeout,
                event.credentials) == ("database", "sqlite", "", False, 3.0, ())

    def test_ignored_threads_connect_unrecorded(self, on_threads):
        """A thread whose events are dropped (``ignore_threads``: in-process placement)
        costs its connections no hook work; the audited thread's is recorded."""
        import sqlalchemy

        engine = sqlalchemy.create_engine("sqlite://", poolclass=sqlalchemy.pool.NullPool)

        def connect():
            with engine.connect():
                pass
        events = on_threads(connect)
        assert [e.thread for e in events if isinstance(e, WireEvent)
                and e.thread != "MainThread"] == ["audited-1"]   # install adopts transports there

    def test_a_repeat_is_recorded_once_per_run(self):
        """The same connection from the same call site holding the same locks: once per run;
        again after ``begin_run``; another call site or a held lock is new."""
        import sqlalchemy
        from oslo_concurrency import lockutils

        events: list = []
        session = AuditSession(observer=lambda e: events.append(e) if isinstance(e, WireEvent)
                               and e.endpoint == "database" else None).start()
        engine = sqlalchemy.create_engine("sqlite://", poolclass=sqlalchemy.pool.NullPool)

        def connect():
            with engine.connect():
                pass
        try:
            session.begin_run("one")
            for _ in range(3):
                connect()
            with lockutils.lock("compute_resources"):
                connect()
                connect()
            with engine.connect():   # another line
                pass
            assert [e.held for e in events] == [(), ("compute_resources",), ()]
            assert len({e.site for e in events}) == 2
            session.begin_run("two")
            connect()
            assert len(events) == 4
        finally:
            session.stop()


def wire(host: str = "10.0.0.5", *, tls: bool = False, verify: bool | None = True,
         timeout: float | None = 30.0, held: tuple[str, ...] = (),
         endpoint: str = "placement") -> WireEvent:
    return WireEvent(1, 0.0, 1, "MainThread", endpoint, "https" if tls else "http", host, 8778,
                     tls, verify, False, timeout, 0, "keystoneauth1.token_endpoint.Token",
                     (WireCredential("X-Auth-Token", "tok-configured-1"),),
                     Site("nova/scheduler/client/report.py", 288, "get"), held)


class TestChannelRules:
    def rules(self, *events: WireEvent) -> list[str]:
        check = ChannelsCheck()
        return sorted(f.rule.id for e in events for f in check.observe(e))

    def test_plaintext_credentials_to_a_remote_peer(self):
        """Credentials over http to another host: a finding; to loopback or over TLS: none."""
        assert self.rules(wire("10.0.0.5")) == ["external-call/plaintext-credentials"]
        assert self.rules(wire("127.0.0.1"), wire("::1"), wire("localhost"),
                          wire("10.0.0.5", tls=True)) == []

    def test_tls_unverified(self):
        assert self.rules(wire("10.0.0.5", tls=True, verify=False)) == [
            "external-call/tls-unverified"]

    def test_no_timeout_only_under_the_semaphore_and_only_for_http(self):
        """No timeout while holding compute_resources: a finding; without the lock, or for a
        database connection: none."""
        held = ("nova-compute_resources",)
        assert self.rules(wire("127.0.0.1", timeout=None, held=held)) == [
            "external-call/no-timeout"]
        assert self.rules(wire("127.0.0.1", timeout=None),
                          wire("127.0.0.1", timeout=None, held=held, endpoint="database"),
                          wire("127.0.0.1", timeout=5.0, held=held)) == []
