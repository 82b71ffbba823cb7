"""Issue 12, tracing and report reading: findings durable from the moment they are made,
signals chained, eventlet's kill file, bounded traces, trusted trace directories, and
``auditor report`` on bad, hostile or huge input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.tracing.trace_file import read_trace

PY = sys.executable
ROOT = Path(__file__).parents[1]

# Two functions, two fingerprints; ``n`` leaks each, then says so and waits to be stopped.
LEAKER = '''\
import logging, os, signal, sys, time
{before}
import nova
{after}
log = logging.getLogger("nova.reliability")
def first(i):
    log.warning("password=%s", "hunter2hunter2")
def second(i):
    log.warning("token=%s", "s3cr3tt0ken99")
for i in range({n}):
    first(i)
    second(i)
print("leaked", flush=True)
time.sleep(120)
'''


def env() -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_TRACE")}
    out["PYTHONPATH"] = str(ROOT)
    return out


def start(tmp: Path, body: str, *extra: str) -> subprocess.Popen:
    """``auditor trace`` (which execs: the pid is the traced program's) of ``body``."""
    path = tmp / "host.py"
    path.write_text(textwrap.dedent(body))
    return subprocess.Popen([PY, "-m", "auditor.cli", "trace", *extra, "--output",
                             str(tmp / "t.jsonl"), "--", PY, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            cwd=str(tmp))


def wait_for(proc: subprocess.Popen, line: str) -> None:
    try:
        assert proc.stdout.readline().strip() == line, proc.stderr.read()
    except BaseException:
        proc.kill()
        proc.wait(30)
        raise


def lines(tmp: Path) -> list[dict]:
    (path,) = tmp.glob("t.jsonl.*")
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def counts(tmp: Path) -> dict[str, tuple[int, str]]:
    """Per finding: its count (flush windows) and occurrences (log calls) in the trace."""
    (path,) = tmp.glob("t.jsonl.*")
    return {f["rule"] + ":" + f["location"]["function"]: (f["count"],
                                                          f["evidence"]["occurrences"])
            for f in read_trace(path).report["findings"]}


class TestDurableFindings:
    def test_first_seen_is_on_file_and_survives_sigkill(self, tmp_path):
        """With the default 60 s interval, both findings are on file while the process runs;
        after kill -9 the trace still holds them (before: zero findings)."""
        proc = start(tmp_path, LEAKER.format(before="", after="", n=3))
        wait_for(proc, "leaked")
        found = {r["location"]["function"] for r in lines(tmp_path) if r["event"] == "finding"}
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(60) == -signal.SIGKILL
        assert found == {"first", "second"}
        assert counts(tmp_path) == {"sensitive-log/pattern:first": (1, "1"),
                                    "sensitive-log/pattern:second": (1, "1")}

    def test_sigterm_flushes_counts_then_dies_of_sigterm(self, tmp_path):
        """SIGTERM with the default action: the flush counts every occurrence, trace-end is
        written, and the process still ends by SIGTERM (before: 0 findings of 550 leaks)."""
        proc = start(tmp_path, LEAKER.format(before="", after="", n=550))
        wait_for(proc, "leaked")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == -signal.SIGTERM
        assert counts(tmp_path) == {"sensitive-log/pattern:first": (1, "550"),
                                    "sensitive-log/pattern:second": (1, "550")}
        assert lines(tmp_path)[-1]["reason"] == "signal SIGTERM"
        assert "hunter2" not in "".join(p.read_text() for p in tmp_path.glob("t.jsonl.*"))

    @pytest.mark.parametrize("where", ["before", "after"])
    def test_host_sigterm_handler_keeps_working(self, tmp_path, where):
        """A host handler set before tracing starts is chained (ours flushes first); one set
        after replaces ours. Either way it runs, and the findings are on file."""
        handler = textwrap.dedent('''\
            def bye(signum, frame):
                print("host handler", flush=True)
                sys.exit(7)
            signal.signal(signal.SIGTERM, bye)''')
        body = LEAKER.format(n=5, **{where: handler, ("after" if where == "before"
                                                      else "before"): ""})
        proc = start(tmp_path, body)
        wait_for(proc, "leaked")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 7
        assert proc.stdout.read().strip() == "host handler"
        assert counts(tmp_path) == {"sensitive-log/pattern:first": (1, "5"),
                                    "sensitive-log/pattern:second": (1, "5")}

    def test_sigint_flushes_then_raises_keyboardinterrupt(self, tmp_path):
        """SIGINT: flushed, then Python's own handler (KeyboardInterrupt) as without us."""
        proc = start(tmp_path, LEAKER.format(before="", after="", n=4))
        wait_for(proc, "leaked")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) in (1, -signal.SIGINT)
        assert "KeyboardInterrupt" in proc.stderr.read()
        assert counts(tmp_path) == {"sensitive-log/pattern:first": (1, "4"),
                                    "sensitive-log/pattern:second": (1, "4")}


EVENTLET_HOST = '''\
import os, sys, time
from scenarios import mode
mode.apply("eventlet")
import logging, nova
log = logging.getLogger("nova.reliability")
print("started", flush=True)
left = 1500                # 30 s at most; 1 s more once the kill file is there
while left:
    log.warning("password=%s", "hunter2hunter2")
    time.sleep(0.02)
    left = min(left - 1, 50) if os.path.exists(sys.argv[1]) else left - 1
print("finished", flush=True)
'''


def test_kill_file_under_eventlet_does_not_hang(tmp_path):
    """Touching the kill file while an eventlet-patched process runs stops tracing at the
    next flush and the host runs on to its end (before: it hung in the flush)."""
    script = tmp_path / "host.py"
    script.write_text(EVENTLET_HOST)
    proc = subprocess.Popen([PY, "-m", "auditor.cli", "trace", "--interval", "0.2", "--output",
                             str(tmp_path / "t.jsonl"), "--", PY, str(script),
                             str(tmp_path / "auditor-trace.disable")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            cwd=str(ROOT))
    wait_for(proc, "started")
    (tmp_path / "auditor-trace.disable").touch(mode=0o600)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "finished"
    assert lines(tmp_path)[-1]["reason"] == "kill-file"
