"""Shared fixtures: the process's live target (threading mode) and recorded hook events."""

from __future__ import annotations

import threading
import uuid

import pytest

from scenarios import mode

# The pytest process runs nova in threading mode; this must precede any nova import.
mode.apply("threading")


@pytest.fixture(scope="session")
def env():
    """The per-process nova/placement environment (built once)."""
    from scenarios.environment import Environment

    return Environment.get()


@pytest.fixture
def hooks_host():
    """A host name no other test uses (Environment is shared by the whole session)."""
    return f"host-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hooks_recording():
    """Hooks installed with a list sink; yields ``(installation, events, errors)``."""
    from auditor import hooks

    events: list = []
    errors: list = []
    installation = hooks.install(events.append, on_error=lambda exc, where: errors.append((where, exc)))
    try:
        yield installation, events, errors
    finally:
        installation.uninstall()


@pytest.fixture
def on_threads():
    """``run(work)``: hooks installed ignoring threads named ``other-service-*``, ``work`` run
    on ``other-service-1`` and then on ``audited-1``; the events recorded."""
    from auditor import hooks

    def run(work) -> list:
        events: list = []
        installation = hooks.install(events.append, ignore_threads=("other-service-",))
        try:
            for name in ("other-service-1", "audited-1"):
                thread = threading.Thread(target=work, name=name)
                thread.start()
                thread.join()
        finally:
            installation.uninstall()
        return events
    return run


@pytest.fixture(scope="session")
def run_report(tmp_path_factory):
    """``(path, report)`` of one real ``auditor run`` (two scenarios, threading, small) with
    findings, shared by the report-format, schema and baseline tests.
    """
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("run-report") / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "run", "concurrent-claims", "malformed-nodes",
         "--mode", "threading", "--nodes", "4", "--workers", "2", "--report", str(out),
         "--fail-on", "never"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["findings"], "the shared run is expected to have findings"
    return out, report


@pytest.fixture(scope="session")
def drive_traces(tmp_path_factory):
    """The trace files of one real ``auditor trace`` of a process driving the tracker
    (lock holds, placement calls, entry points, a canary finding)."""
    import subprocess
    import sys

    from test_trace import DRIVE, clean_env, script

    tmp = tmp_path_factory.mktemp("drive-trace")
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "trace", "--output", str(tmp / "t.jsonl"), "--",
         sys.executable, script(tmp, DRIVE), str(tmp / "secret.txt")],
        capture_output=True, text=True, env=clean_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sorted(tmp.glob("t.jsonl*"))
