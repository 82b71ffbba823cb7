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
from test_trace import bootstrap_said

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

    def test_host_handler_ending_in_os_exit_still_closes_the_trace(self, tmp_path):
        """nova's threading-mode services (cotyledon's worker) set their SIGTERM handler after
        tracing starts and end with ``os._exit``, which runs no atexit handler: the trace is
        still closed, with every occurrence counted (before: no trace-end, counts lost)."""
        handler = textwrap.dedent('''\
            def bye(signum, frame):
                os._exit(3)
            signal.signal(signal.SIGTERM, bye)''')
        proc = start(tmp_path, LEAKER.format(before="", after=handler, n=40))
        wait_for(proc, "leaked")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 3
        assert counts(tmp_path) == {"sensitive-log/pattern:first": (1, "40"),
                                    "sensitive-log/pattern:second": (1, "40")}
        assert lines(tmp_path)[-1]["reason"] == "os._exit"

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


def auditor(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          env=env(), timeout=timeout)


def a_report(run: str, duration: float = 1.0) -> dict:
    """A real report: one finding record through ``build_report``."""
    from auditor.report.model import build_report

    record = {"rule": "sensitive-log/pattern", "category": "sensitive-log", "severity": "high",
              "title": "t", "help": "h", "message": "m", "evidence": {"kind": "password"},
              "location": {"path": "nova/x.py", "line": 3, "function": "f"},
              "fingerprint": "0123456789abcdef", "run": run}
    return build_report(findings=[record], runs=[{"id": run, "outcome": "passed",
                                                  "duration_s": duration}],
                        coverage={}, target={"nova": "34.0.0"}, events={"LogEvent": 1},
                        tool_version="0")


def write(path: Path, data, mode: int = 0o600) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    path.chmod(mode)
    return str(path)


HEAD = {"event": "trace-start", "schema": "auditor.trace/1", "pid": 9, "program": "p",
        "ppid": 1, "run": "p[pid=9]", "wall": 1.0, "t": 1.0, "nova": "34", "auditor": "0",
        "python": "3"}


def one_line_exit_2(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


class TestReportInput:
    def test_fifo_and_dev_zero_are_refused_at_once(self, tmp_path):
        """A FIFO (nobody writing: before, it hung) and /dev/zero (before: 7 GB in 8 s)."""
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo, 0o600)
        one_line_exit_2(auditor("report", str(fifo), timeout=30), "not a regular file")
        one_line_exit_2(auditor("report", "/dev/zero", timeout=30), "not a regular file")

    def test_over_the_size_limit_is_refused_unread(self, tmp_path):
        """A (sparse) report just over 256 MiB is refused from its size alone."""
        from auditor.report.inputs import MAX_REPORT_BYTES

        big = tmp_path / "big.json"
        with open(big, "wb") as f:
            f.truncate(MAX_REPORT_BYTES + 1)
        big.chmod(0o600)
        one_line_exit_2(auditor("report", str(big), timeout=30), "over the limit of 256 MiB")

    @pytest.mark.parametrize("change, fragment", [
        (lambda f: f.pop("category"), "'category' is a required property"),
        (lambda f: f.pop("rule"), "'rule' is a required property"),
        (lambda f: f.update(count="7"), "findings/0/count"),
        (lambda f: f.update(location=[1]), "findings/0/location"),
    ])
    def test_bad_content_is_one_line(self, tmp_path, change, fragment):
        """A report of the right schema name but bad content: one line naming the place
        (before: KeyError/TypeError tracebacks)."""
        report = a_report("r1")
        change(report["findings"][0])
        one_line_exit_2(auditor("report", write(tmp_path / "r.json", report)), fragment)

    def test_bad_value_is_named_not_quoted(self, tmp_path):
        """A bad value may be anything, a secret too: the line names its place and the rule
        it breaks, never the value (jsonschema's own message quotes it)."""
        report = a_report("r1")
        report["findings"][0]["count"] = "hunter2-not-a-count"
        proc = auditor("report", write(tmp_path / "r.json", report))
        one_line_exit_2(proc, "findings/0/count: breaks the schema's 'type'")
        assert "hunter2" not in proc.stderr

    def test_bad_trace_line_is_one_line(self, tmp_path):
        """A trace line of the wrong shape (a string time) is named with its line number."""
        lines = [HEAD,
                 {"event": "entry", "pid": 9, "name": "x", "t": "soon", "dur_s": 1, "exc": None,
                  "owner": 1, "thread": "T"}]
        path = write(tmp_path / "t.jsonl.9", "".join(json.dumps(x) + "\n" for x in lines))
        one_line_exit_2(auditor("report", path), "t.jsonl.9:2 does not match auditor.trace/1")

    @pytest.mark.parametrize("output, fragment", [
        ("missing/out.json", "its directory does not exist"),
        (".", "is a directory"),
        ("out.xyz", "cannot tell the format"),
    ])
    def test_bad_output_is_one_line_before_reading(self, tmp_path, output, fragment):
        """``-o`` into a missing directory, onto a directory, or with an unknown extension."""
        path = write(tmp_path / "r.json", a_report("r1"))
        one_line_exit_2(auditor("report", path, "-o", str(tmp_path / output)), fragment)


class TestReportFiles:
    def test_bad_files_are_skipped_and_the_rest_rendered(self, tmp_path):
        """A damaged file, one writable by others and a non-report next to a good report:
        each named on stderr, the good one rendered, exit 3 (before: exit 2 on the set)."""
        good = write(tmp_path / "good.json", a_report("good"))
        damaged = write(tmp_path / "t.jsonl.9", json.dumps(HEAD) + "\ngarbage\n"
                        '{"event":"trace-end","pid":9,"reason":"exit","duration_s":1}\n')
        forged = write(tmp_path / "forged.json", a_report("forged"), mode=0o666)
        other = write(tmp_path / "other.json", {"schema": "something/2"})
        proc = auditor("report", "--fail-on", "never", "--format", "json", good, damaged, forged, other)
        assert proc.returncode == 3, proc.stderr
        assert [r["id"] for r in json.loads(proc.stdout)["runs"]] == ["good"]
        skipped = [x for x in proc.stderr.splitlines() if x.startswith("auditor: skipped: ")]
        assert len(skipped) == 3
        assert "damaged before its last line" in skipped[0]
        assert "writable by other users" in skipped[1] and "not an auditor.report/1" in skipped[2]

    def test_secrets_in_a_foreign_report_are_masked(self, tmp_path):
        """A report from elsewhere (hand-edited, another tool's) is masked as the auditor's
        own output is: a secret-shaped value in it is never printed."""
        report = a_report("r1")
        report["findings"][0]["message"] = "login with password=hunter2xyz failed"
        proc = auditor("report", "--fail-on", "never", write(tmp_path / "r.json", report))
        assert proc.returncode == 0, proc.stderr
        assert "hunter2xyz" not in proc.stdout + proc.stderr and "[REDACTED" in proc.stdout

    def test_nothing_readable_is_exit_2(self, tmp_path):
        """Every input bad: exit 2, one line."""
        one_line_exit_2(auditor("report", write(tmp_path / "x.json", "[]")), "not an auditor")


class TestIdempotentMerge:
    def test_merging_a_report_with_itself_changes_nothing(self, tmp_path):
        """The same report twice (or a merged report with one of its parts) adds nothing;
        distinct reports still add their counts (before: every count doubled)."""
        one = write(tmp_path / "one.json", a_report("run-a"))
        two = write(tmp_path / "two.json", a_report("run-b"))
        same = json.loads(auditor("report", "--fail-on", "never", "--format", "json", one, one).stdout)
        assert same == json.loads(auditor("report", "--fail-on", "never", "--format", "json", one).stdout)
        both = auditor("report", "--fail-on", "never", "--format", "json", "-o", str(tmp_path / "both.json"), one, two)
        assert both.returncode == 0, both.stderr
        (tmp_path / "both.json").chmod(0o600)
        merged = json.loads((tmp_path / "both.json").read_text())
        assert merged["findings"][0]["count"] == 2
        again = json.loads(auditor("report", "--fail-on", "never", "--format", "json", str(tmp_path / "both.json"),
                                   one, two).stdout)
        assert again["findings"][0]["count"] == 2


ROTATING = '''\
import logging, time
import nova
from oslo_concurrency import lockutils
log = logging.getLogger("nova.reliability")
def first():
    log.warning("password=%s", "hunter2hunter2")
first()
for i in range(1500):
    with lockutils.lock("rotation"):
        pass
    log.warning("tick %d", i)   # outside the lock: flushes happen between operations
    time.sleep(0.001)
'''


def test_rotation_keeps_files_bounded_and_findings(tmp_path):
    """AUDITOR_TRACE_MAX_BYTES=20000: the trace rotates, at most KEEP old files stay, and the
    newest file alone still holds the finding made before the first rotation; reading all
    of them counts it once per window, as the newest alone does."""
    from auditor.tracing.environment import KEEP

    script = tmp_path / "host.py"
    script.write_text(ROTATING)
    proc = subprocess.run([PY, "-m", "auditor.cli", "trace", "--interval", "0.05", "--output",
                           str(tmp_path / "t.jsonl"), "--", PY, str(script)],
                          capture_output=True, text=True, timeout=300,
                          env={**env(), "AUDITOR_TRACE_MAX_BYTES": "20000"})
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("t.jsonl.*"))
    (newest,) = [p for p in files if ".old" not in p.name]
    assert {p.name for p in files} == {newest.name, *(f"{newest.name}.old{n}"
                                                      for n in range(1, KEEP + 1))}
    alone = auditor("report", "--fail-on", "never", "--format", "json", str(newest))
    every = auditor("report", "--fail-on", "never", "--format", "json", *map(str, files))
    assert alone.returncode == every.returncode == 0, every.stderr
    found = [f for f in json.loads(alone.stdout)["findings"] if f["location"]["function"]
             == "first"]
    assert len(found) == 1 and found[0]["count"] >= 1
    assert json.loads(every.stdout)["findings"] == json.loads(alone.stdout)["findings"]


SHORT = '''\
import logging, nova
logging.getLogger("nova.reliability").warning("password=%s", "hunter2hunter2")
print("host ok")
'''


class TestTrustedFiles:
    def traced(self, directory: Path) -> subprocess.CompletedProcess:
        script = directory.parent / "short.py"
        script.write_text(SHORT)
        return subprocess.run([PY, "-m", "auditor.cli", "trace", "--output",
                               str(directory / "t.jsonl"), "--", PY, str(script)],
                              capture_output=True, text=True, env=env(), timeout=120)

    @pytest.mark.parametrize("how", ["writable", "owner"])
    def test_untrusted_kill_file_is_ignored(self, tmp_path, how):
        """A kill file writable by others, or owned by another user: one line, and tracing
        goes on (before: anyone could silently switch tracing off)."""
        kill = tmp_path / "auditor-trace.disable"
        kill.touch()
        if how == "writable":
            kill.chmod(0o666)
        elif os.geteuid() == 0:
            os.chown(kill, 65534, 65534)
        else:
            pytest.skip("chown to another user needs root")
        proc = self.traced(tmp_path)
        assert proc.returncode == 0 and proc.stdout.strip() == "host ok"
        ours = bootstrap_said(proc)
        assert len(ours) == 1 and "kill file ignored" in ours[0]
        assert read_trace(next(tmp_path.glob("t.jsonl.*"))).report["findings"]

    def test_trusted_kill_file_still_disables(self, tmp_path):
        """The owner's own kill file (0600) switches tracing off, silently, as before."""
        (tmp_path / "auditor-trace.disable").touch(mode=0o600)
        proc = self.traced(tmp_path)
        assert proc.returncode == 0 and not bootstrap_said(proc)
        assert not list(tmp_path.glob("t.jsonl.*"))

    def test_directory_writable_by_others_is_refused(self, tmp_path):
        """A trace directory anyone may write to (not sticky): one line, host untraced."""
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        proc = self.traced(shared)
        assert proc.returncode == 0 and proc.stdout.strip() == "host ok"
        ours = bootstrap_said(proc)
        assert len(ours) == 1 and "trace directory refused" in ours[0]
        assert not list(shared.glob("t.jsonl.*"))
