"""``auditor stack``: real nova services on loopback, the computes traced as docs/tracing.md says.

The end-to-end test runs the whole stack once in one mode at a small size
(about 5 minutes here); the both-modes run at ``--nodes 6`` is ``full``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios.stack import groups

PY = sys.executable

pytestmark = pytest.mark.skipif(
    not os.access("/usr/lib/rabbitmq/bin/rabbitmq-server", os.X_OK),
    reason="needs Debian's rabbitmq-server (.ci/run installs it)")


def stack(*args: str, timeout: float = 1500, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "auditor.cli", "stack", *args], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def left_behind(workdir: Path) -> list[str]:
    """Processes whose command line or environment names the work directory."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for name in ("cmdline", "environ"):
                if str(workdir).encode() in Path(f"/proc/{pid}/{name}").read_bytes():
                    out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(
                        b"\0", b" ").decode(errors="replace")[:120])
                    break
        except OSError:
            continue
    return out


def listening_ports(workdir: Path) -> set[int]:
    """TCP ports the stack's configuration named that something still listens on."""
    import re

    ports = set()
    for conf in workdir.rglob("*.conf"):
        ports |= {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", conf.read_text())}
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                listening.add(int(local.rsplit(":", 1)[1], 16))
    return ports & listening


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One stack, threading, 2 computes, 3 nodes: build, failed deploy, delete, node removed,
    compute stopped; the report of the traces."""
    base = tmp_path_factory.mktemp("stack")
    workdir, report = base / "w", base / "report.json"
    proc = stack("--mode", "threading", "--computes", "2", "--nodes", "3",
                 "--workdir", str(workdir), "-o", str(report))
    return proc, workdir, report


class TestSmallStack:
    def test_workload_ran_through_the_real_services(self, small_run):
        """Every step of the workload reached its observable end state."""
        proc, _, report = small_run
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        for step in ("3 nodes in placement", ": active", ": error", "record gone, allocation "
                     "freed, node available", "removed from Ironic: provider and record gone",
                     "compute-2 stopped (SIGTERM): its nodes rebalanced to ['compute-1']"):
            assert step in proc.stderr, step
        assert report.exists()

    def test_report_names_each_compute_and_has_the_remove_node_finding(self, small_run):
        """The report's runs are the traced nova-compute processes; the node removed from
        Ironic gives the remove_node unheld-lock finding; entry points, locks and placement
        calls were recorded in the real processes."""
        _, _, report = small_run
        data = json.loads(report.read_text())
        runs = [r["id"] for r in data["runs"]]
        assert len(runs) == 2 and all(r.startswith("nova-compute[pid=") for r in runs)
        remove_node = [f for f in data["findings"] if f["category"] == "unheld-lock"
                       and f["location"].get("function") == "remove_node"]
        assert remove_node
        events = data["summary"]["events"]
        assert events["EntryEvent"] and events["LockEvent"] and events["CallEvent"]
        cov = data["coverage"]
        assert "_update_available_resource" in cov["synchronized_entry_points"]["ids_hit"]
        assert "instance_claim" in cov["synchronized_entry_points"]["ids_hit"]
        assert cov["report_client_calls"]["hit"] >= 3
        # every credential the services sent (placement token, RabbitMQ password, Ironic's
        # no-auth placeholder) is traced to configuration; placement, Ironic and the bus seen
        assert not [f for f in data["findings"] if f["rule"] == "hard-coded/wire"]
        assert {"placement", "ironic", "message-bus"} <= set(cov["endpoints"]["ids_hit"])

    def test_no_canary_in_any_artefact(self, small_run):
        """The driver_info secrets enrolled in Ironic appear in no trace, log of nova, report
        or output."""
        proc, workdir, report = small_run
        secrets = (workdir / "threading" / "secrets").read_text().split()
        assert len(secrets) == 3
        texts = [proc.stdout, proc.stderr, report.read_text()]
        texts += [p.read_text(errors="replace") for p in (workdir / "threading").glob("nova-*.log")]
        texts += [p.read_text() for p in (workdir / "threading" / "traces").iterdir()]
        for secret in secrets:
            assert not any(secret in text for text in texts)

    def test_nothing_left_running(self, small_run):
        """No process of the stack and no port it listened on remains."""
        _, workdir, _ = small_run
        assert groups.alive(str(workdir)) == []
        assert left_behind(workdir) == []
        assert listening_ports(workdir) == set()


class TestStops:
    def test_ctrl_c_stops_everything(self, tmp_path):
        """Ctrl-C (SIGINT to the terminal's process group) mid-start: exit 130, nothing left."""
        workdir = tmp_path / "w"
        proc = subprocess.Popen([PY, "-m", "auditor.cli", "stack", "--mode", "threading",
                                 "--nodes", "3", "--workdir", str(workdir)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        record = workdir / "threading" / groups.FILE_NAME
        deadline = time.monotonic() + 300
        while "rabbitmq" not in (record.read_text() if record.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 130, err[-2000:]
        assert groups.alive(str(workdir)) == []
        assert left_behind(workdir) == []
        assert listening_ports(workdir) == set()

    def test_down_stops_recorded_groups(self, tmp_path):
        """``--down WORKDIR`` stops a recorded process group whose leader is gone (a daemon's
        worker left behind) and says so."""
        shell = subprocess.run(
            ["setsid", "sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $$ $!"],
            capture_output=True, text=True, check=True, timeout=30)
        pgid, sleeper = map(int, shell.stdout.split())
        groups.Groups(str(tmp_path)).record("sleeper", pgid)
        proc = stack("--down", str(tmp_path), timeout=120)
        assert proc.returncode == 0 and "sleeper" in proc.stderr
        deadline = time.monotonic() + 10
        while Path(f"/proc/{sleeper}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{sleeper}").exists()
        assert groups.alive(str(tmp_path)) == []

    def test_a_service_that_does_not_come_up(self, tmp_path):
        """A broker that exits at start: one line naming it and its log, exit 2, and every
        service already started is stopped."""
        opts = json.dumps({"workdir": str(tmp_path), "mode": "threading", "computes": 1,
                           "nodes": 3})
        code = ("import sys, scenarios.stack.rabbit as r; r.SERVER = '/bin/false'; "
                "from scenarios.stack.__main__ import main; sys.exit(main(sys.argv[1:]))")
        proc = subprocess.run([PY, "-c", code, opts], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 2
        failure = [line for line in proc.stderr.splitlines() if "rabbitmq exited" in line]
        assert len(failure) == 1 and str(tmp_path / "rabbitmq" / "rabbitmq.out") in failure[0]
        assert groups.alive(str(tmp_path)) == []
        assert left_behind(tmp_path) == []


class TestBadInput:
    @pytest.mark.parametrize("args, fragment", [
        (("--down", "/no/such/dir"), "holds no record of a stack"),
        (("--nodes", "2"), "at least 3 nodes"),
        (("--computes", "0"), "at least 1"),
        (("-o", "/no/such/dir/r.json"), "does not exist"),
    ])
    def test_one_line_exit_2(self, args, fragment):
        proc = stack(*args, timeout=120)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0]


@pytest.mark.full
def test_both_modes_at_six_nodes(tmp_path):
    """``auditor stack --nodes 6``: both modes, the remove_node finding, nothing left."""
    report = tmp_path / "report.json"
    proc = stack("--nodes", "6", "--workdir", str(tmp_path / "w"), "-o", str(report))
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    data = json.loads(report.read_text())
    assert len(data["runs"]) == 4
    assert any(f["location"].get("function") == "remove_node" for f in data["findings"])
    assert groups.alive(str(tmp_path / "w")) == [] and left_behind(tmp_path / "w") == []
