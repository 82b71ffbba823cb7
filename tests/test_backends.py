"""Backends: the simulator's fidelity, the fault proxy, child servers, real Ironic and DB servers.

Tests that need a server binary or the ironic package skip with the reason when it is
missing, except in CI (``CI=true``), where a missing server fails them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from scenarios.backends import database
from scenarios.backends.process import BackendError, Server, check_bindable, free_port
from scenarios.fault_proxy import FaultProxy, http_fault
from scenarios.ironic_sim import MASK, FakeIronic, Fault
from scenarios.standins.http import HttpFault, serve


def _need(available: bool, what: str) -> None:
    """Skip when ``what`` is missing outside CI; in CI a missing server is a failure."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed here")


def _auditor(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class TestSimulatorFidelity:
    def test_driver_info_passwords_masked_like_ironic(self):
        """The simulator returns driver_info passwords as '******', as Ironic's API does."""
        sim = FakeIronic()
        node = sim.enroll(driver_info={"ipmi_password": "pw-in-clear", "ipmi_username": "admin"})
        info = sim.get_node(node).driver_info
        assert info == {"ipmi_password": MASK, "ipmi_username": "admin"}
        assert sim.node(node)["driver_info"]["ipmi_password"] == "pw-in-clear"  # Ironic's DB

    def test_unfaithful_mode_hands_out_clear_passwords(self):
        """mask_passwords=False exposes what no real Ironic returns (for comparison runs)."""
        sim = FakeIronic(mask_passwords=False)
        node = sim.enroll(driver_info={"redfish_password": "pw-in-clear"})
        assert sim.get_node(node).driver_info["redfish_password"] == "pw-in-clear"

    def test_timeout_raises_what_keystoneauth_raises(self):
        """A timed-out call surfaces as keystoneauth's ConnectTimeout, not an SDK invention."""
        from keystoneauth1 import exceptions as ks_exc

        sim = FakeIronic()
        node = sim.enroll()
        sim.inject(Fault("timeout", methods=("get_node",)))
        with pytest.raises(ks_exc.ConnectTimeout):
            sim.get_node(node)

    def test_outage_lasts_until_cleared(self):
        """A times=None fault fails every call until clear_faults."""
        from openstack import exceptions as sdk_exc

        sim = FakeIronic()
        node = sim.enroll()
        sim.inject(Fault("unavailable", times=None))
        for _ in range(5):
            with pytest.raises(sdk_exc.HttpException):
                sim.get_node(node)
        sim.clear_faults()
        assert sim.get_node(node).id == node


@pytest.fixture
def upstream():
    """A tiny node API: lists two nodes, answers GETs, deletes on DELETE."""
    nodes = {"n-1": {"uuid": "n-1"}, "n-2": {"uuid": "n-2"}}
    seen = []

    def app(environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        seen.append((method, path))
        name = path.rsplit("/", 1)[-1]
        if method == "DELETE":
            nodes.pop(name, None)
            status, body = "204 No Content", b""
        elif path == "/v1/nodes":
            status, body = "200 OK", json.dumps({"nodes": list(nodes.values())}).encode()
        elif name in nodes:
            status, body = "200 OK", json.dumps(nodes[name]).encode()
        else:
            status, body = "404 Not Found", b"{}"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    server = serve(app)
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}", nodes, seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream):
    """A ``FaultProxy`` in front of ``upstream``, stopped after the test."""
    started = FaultProxy(upstream[0]).start()
    yield started
    started.stop()


class TestFaultProxy:
    def test_forwards_and_injects(self, upstream, proxy):
        """Requests pass unchanged; armed faults answer 503/504, or drop the connection."""
        _, _, seen = upstream
        assert _get(f"{proxy.endpoint}/v1/nodes/n-1")[0] == 200
        proxy.faults.arm(HttpFault("unavailable", "GET", r"^/v1/nodes/n-1", times=1))
        assert _get(f"{proxy.endpoint}/v1/nodes/n-1")[0] == 503
        assert _get(f"{proxy.endpoint}/v1/nodes/n-1")[0] == 200
        proxy.faults.arm(HttpFault("timeout", delay_s=0.01))
        assert _get(f"{proxy.endpoint}/v1/nodes")[0] == 504
        proxy.faults.arm(HttpFault("disconnect"))
        with pytest.raises((urllib.error.URLError, ConnectionError, http_client_error())):
            _get(f"{proxy.endpoint}/v1/nodes")
        assert seen.count(("GET", "/v1/nodes/n-1")) == 2

    def test_sustained_outage_until_cleared(self, upstream, proxy):
        """times=None: every request fails until the fault is cleared, then all pass again."""
        _, _, seen = upstream
        proxy.faults.arm(HttpFault("unavailable", times=None))
        assert {_get(f"{proxy.endpoint}/v1/nodes")[0] for _ in range(6)} == {503}
        assert seen == []
        proxy.faults.clear()
        assert _get(f"{proxy.endpoint}/v1/nodes")[0] == 200

    def test_vanish_deletes_a_listed_node_before_the_get(self, upstream, proxy):
        """The node is in the listing nova receives, and gone (404) when nova reads it."""
        _, nodes, _ = upstream
        proxy.faults.arm(http_fault(Fault("vanish", node="n-2")))
        listed = json.loads(_get(f"{proxy.endpoint}/v1/nodes")[1])["nodes"]
        assert [n["uuid"] for n in listed] == ["n-1", "n-2"]
        assert _get(f"{proxy.endpoint}/v1/nodes/n-2")[0] == 404
        assert list(nodes) == ["n-1"]

    def test_sdk_call_faults_map_to_their_requests(self):
        """A simulator fault on get_node of one node becomes a GET of that node's URL."""
        fault = http_fault(Fault("server-error", methods=("get_node",), node="abc", times=2))
        assert (fault.kind, fault.method, fault.times) == ("server-error", "GET", 2)
        import re

        assert re.search(fault.path, "/v1/nodes/abc?fields=uuid")
        assert not re.search(fault.path, "/v1/nodes/xyz")


def http_client_error():
    import http.client

    return http.client.HTTPException


class TestServers:
    def test_failed_start_names_the_log_and_stops(self, tmp_path):
        """A server that exits while starting: one line with its log's last lines."""
        log = tmp_path / "srv.log"
        server = Server("demo", ["sh", "-c", "echo starting; echo FATAL: no space left; exit 3"],
                        str(log), ready=lambda: False)
        with pytest.raises(BackendError) as err:
            server.start(timeout_s=10)
        message = str(err.value)
        assert "demo exited (3)" in message and "FATAL: no space left" in message
        assert "\n" not in message and server.proc is None

    def test_port_that_cannot_be_bound(self):
        """A port in use is refused before anything starts."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            with pytest.raises(BackendError, match="cannot bind 127.0.0.1"):
                check_bindable(s.getsockname()[1])

    def test_stop_takes_the_whole_process_group(self, tmp_path):
        """A forking server's workers go with it."""
        pidfile = tmp_path / "child.pid"
        server = Server("forker", ["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"],
                        str(tmp_path / "f.log"), ready=lambda: pidfile.exists()).start(10)
        child = int(pidfile.read_text())
        server.stop()
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(child, 0)
                threading.Event().wait(0.1)


class TestBadInput:
    def test_real_ironic_without_the_package(self, monkeypatch, capsys):
        """--ironic real without ironic installed: one line, exit 2, nothing started."""
        from auditor import cli

        real_find = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "ironic" else real_find(name, *a))
        assert cli.main(["run", "concurrent-claims", "--ironic", "real"]) == 2
        err = capsys.readouterr().err.strip()
        assert "needs the 'ironic' package" in err and "\n" not in err

    def test_db_url_that_does_not_answer(self, capsys):
        """A --db URL nobody answers: one line naming it with the password masked, exit 2."""
        from auditor import cli

        port = free_port()
        assert cli.main(["run", "--db", f"postgresql://u:hunter2pw@127.0.0.1:{port}/x"]) == 2
        err = capsys.readouterr().err.strip()
        assert "does not answer" in err and "hunter2pw" not in err and "\n" not in err

    def test_db_server_not_installed(self, monkeypatch, capsys):
        """--db postgresql where PostgreSQL is not installed: one line, exit 2, before any work."""
        from auditor import cli

        monkeypatch.setattr(database, "_binary", lambda *names: None)
        assert cli.main(["run", "--db", "postgresql"]) == 2
        err = capsys.readouterr().err.strip()
        assert "apt-get install postgresql" in err and "\n" not in err

    def test_real_only_refuses_sim_only_scenario(self, capsys):
        """malformed-nodes feeds data real Ironic refuses: it runs on the simulator only."""
        from auditor import cli

        if importlib.util.find_spec("ironic") is None:
            pytest.skip("ironic not installed")
        assert cli.main(["run", "malformed-nodes", "--ironic", "real"]) == 2
        assert "does not run on --ironic real" in capsys.readouterr().err


#: engine -> what its version query says
_ENGINES = {"postgresql": "postgresql 1", "mysql": "mariadb "}


def _need_engine(engine: str) -> None:
    try:
        database.check_engine(engine)
    except BackendError as e:
        _need(False, str(e))


@pytest.mark.parametrize("engine", list(_ENGINES))
class TestDatabaseServers:
    def test_throwaway_server_is_a_real_server(self, engine):
        """A throwaway server on loopback: the version query answers, the run's databases
        exist, and stop leaves no process and no directory."""
        _need_engine(engine)
        import sqlalchemy

        db = database.open_database(engine)
        scratch, proc = db._scratch, db._server.proc
        try:
            assert db.version.startswith(_ENGINES[engine])
            url = db.url("nova", "/nonexistent")
            assert "://auditor:" in url and "@127.0.0.1:" in url
            engine_ = sqlalchemy.create_engine(url)
            with engine_.connect() as conn:
                assert conn.exec_driver_sql("SELECT version()").scalar()
                assert conn.exec_driver_sql("SELECT current_database()" if engine == "postgresql"
                                            else "SELECT database()").scalar().endswith("nova")
            engine_.dispose()
        finally:
            db.stop()
        assert proc.poll() is not None and not os.path.exists(scratch)

    def test_port_in_use_stops_and_cleans(self, engine, monkeypatch):
        """The chosen port is taken: one error line, no server left, scratch removed."""
        _need_engine(engine)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            monkeypatch.setattr(database, "free_port", lambda: s.getsockname()[1])
            before = set(os.listdir("/tmp"))
            with pytest.raises(BackendError, match="cannot bind"):
                database.open_database(engine)
        left = {p for p in set(os.listdir("/tmp")) - before
                if p.startswith(("auditor-postgres-", "auditor-mysql-", "auditor-db-"))}
        assert left == set()

    def test_scenario_runs_on_the_server(self, engine, tmp_path):
        """auditor run --db ENGINE: nova and placement migrate and run on the server."""
        _need_engine(engine)
        out = tmp_path / "r.json"
        done = _auditor("run", "concurrent-claims", "--db", engine, "--mode", "threading",
                        "--nodes", "4", "--workers", "2", "--fail-on", "never",
                        "--report", str(out), "--workdir", str(tmp_path / "wd"))
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(out.read_text())
        assert report["target"]["database"].startswith(_ENGINES[engine])
        assert [r["outcome"] for r in report["runs"]] == ["passed"]
        assert not list((tmp_path / "wd").glob("run-*/*.sqlite"))  # no file database


def _ironic_processes(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ironic" in line]


class TestRealIronic:
    def test_scenario_runs_on_real_ironic(self, tmp_path):
        """auditor run --ironic real: Ironic's API answered nova's SDK over HTTP, its conductor
        cleaned and deployed nodes, and nothing is left running afterwards."""
        _need(importlib.util.find_spec("ironic") is not None, "the ironic package")
        out, workdir = tmp_path / "r.json", tmp_path / "wd"
        done = _auditor("run", "concurrent-claims", "--ironic", "real", "--mode", "threading",
                        "--nodes", "4", "--workers", "2", "--fail-on", "never",
                        "--report", str(out), "--workdir", str(workdir))
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(out.read_text())
        assert report["target"]["ironic"] == {"backend": "real", "version": "39.0.0"}
        assert [r["outcome"] for r in report["runs"]] == ["passed"]
        log = next(workdir.glob("run-*/ironic/ironic.log")).read_text()
        assert 'to provision state "cleaning"' in log       # the conductor cleaned nodes
        assert 'to provision state "active"' in log         # and deployed nova's builds
        # nova's driver lists nodes with its own field set, over HTTP (through the proxy)
        assert "GET /v1/nodes?fields=uuid%2Cpower_state" in log
        assert _ironic_processes(str(workdir)) == []
