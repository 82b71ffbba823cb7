"""Tracing mode: ``auditor trace`` on real processes, the trace file's guarantees, reading it back."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.tracing.bootstrap import excluded, program_name, pythonpath_with, pythonpath_without
from auditor.report import claims, perfetto, text
from auditor.tracing.trace_file import read_trace

PY = sys.executable
NOVA_TESTS = "nova.tests.unit.compute.test_resource_tracker"

DRIVE = '''\
"""Drive the real tracker: one Ironic node whose capabilities carry a config secret."""
import sys
from scenarios import mode

mode.apply("threading")
import nova.conf
from scenarios.environment import Cluster, Environment

env = Environment.get()
secret = nova.conf.CONF.key_manager.fixed_key    # secret=True: a live-mode canary
with open(sys.argv[1], "w") as f:
    f.write(secret)
cluster = Cluster(env, ["trace-e2e"])
cluster.ironic.enroll(resource_class="baremetal-gold",
                      capabilities=f"boot_mode:uefi,bmc_password={secret}")
compute = next(iter(cluster.computes.values()))
compute.periodic(startup=True)
compute.periodic()
cluster.close()
print("driven")
'''

LEAKY = '''\
import logging, os, sys, time
import nova
log = logging.getLogger("nova.trace_test")
for i in range({loops}):
    log.warning("password=%s", "hunter2hunter2")
    time.sleep(0.02)
{after}
'''


def auditor(*args: str, env: dict | None = None, cwd: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def traced(out: Path, *command: str, env: dict | None = None, cwd: str | None = None,
           extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return auditor("trace", "--output", str(out), *extra, "--", *command, env=env, cwd=cwd)


def script(tmp_path: Path, text: str, name: str = "script.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def clean_env(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_TRACE")}
    env.update(changes)
    return env


def bootstrap_said(proc) -> list[str]:
    """What the auditor printed besides the launcher's note of where traces go."""
    return [line for line in proc.stderr.splitlines()
            if line.startswith("auditor:") and "each Python process writes its own trace" not in line]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """One traced process driving the real tracker: ``(dir, secret, traces, report)``."""
    tmp = tmp_path_factory.mktemp("e2e")
    proc = traced(tmp / "trace.jsonl", PY, script(tmp, DRIVE), str(tmp / "secret.txt"),
                  env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "driven" in proc.stdout
    traces = sorted(tmp.glob("trace.jsonl*"))
    rep = auditor("report", "--format", "json", "--fail-on", "never", *map(str, traces))
    assert rep.returncode == 0, rep.stderr
    return tmp, (tmp / "secret.txt").read_text(), traces, json.loads(rep.stdout)


class TestEndToEnd:
    def test_config_secret_in_capabilities_is_a_canary_finding(self, e2e):
        """The secret=True option in a node's capabilities is found where the Ironic driver logs it."""
        _, _, _, report = e2e
        hits = [f for f in report["findings"] if f["rule"] == "sensitive-log/canary"]
        assert [(f["location"]["path"], f["location"]["function"]) for f in hits] == [
            ("nova/virt/ironic/driver.py", "_node_resource")]
        assert hits[0]["evidence"]["source"] == "conf.key_manager.fixed_key"

    def test_secret_is_nowhere_in_trace_or_reports(self, e2e):
        """Neither the trace file nor any report format contains the secret value."""
        tmp, secret, traces, _ = e2e
        assert len(secret) >= 8
        for path in traces:
            assert secret not in path.read_text()
        for fmt in ("json", "sarif", "text", "claims", "perfetto"):
            proc = auditor("report", "--format", fmt, "--fail-on", "never", *map(str, traces))
            assert proc.returncode == 0 and secret not in proc.stdout, fmt

    def test_trace_records_the_timeline(self, e2e):
        """Lock holds, placement calls and entry points are written; log records are not."""
        _, _, traces, report = e2e
        kinds = {r["event"] for p in traces for r in records(p)}
        assert {"trace-start", "lock", "call", "entry", "finding", "coverage",
                "trace-end"} <= kinds
        assert "log" not in kinds
        assert report["summary"]["events"]["LogEvent"] > 0
        assert report["runs"][0]["outcome"] == "passed"

    def test_perfetto_of_a_real_trace(self, e2e):
        """The real trace renders to trace-event JSON with lock, placement and entry spans."""
        _, _, traces, _ = e2e
        doc = json.loads(perfetto.render({}, [read_trace(p) for p in traces]))
        assert_trace_event_json(doc)
        cats = {e["cat"] for e in doc["traceEvents"] if e["ph"] == "X"}
        assert {"lock", "placement", "entry-point"} <= cats

    def test_claims_of_a_real_trace(self, e2e):
        """Sensitive logging is refuted by the canary finding; input validation not exercised."""
        _, _, _, report = e2e
        verdicts = {c["area"]: c for c in claims.evaluate(report)}
        assert verdicts["logging of sensitive data"]["verdict"] == claims.REFUTED
        assert "sensitive-log/canary" in verdicts["logging of sensitive data"]["rules"]
        assert verdicts["input validation"]["verdict"] == claims.NOT_EXERCISED
        assert verdicts["external calls"]["events"]["CallEvent"] > 0


class TestNovaTests:
    def test_tracker_tests_pass_the_same_traced(self, tmp_path):
        """nova's own tracker tests under ``auditor trace``: the same 129 tests, the same result."""
        cmd = (PY, "-m", "testtools.run", NOVA_TESTS)
        plain = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp",
                               env=clean_env(), timeout=600)
        trace = traced(tmp_path / "t.jsonl", *cmd, cwd="/tmp", env=clean_env())

        def outcome(proc):   # the program's own output (not the auditor's line before exec)
            lines = [line for line in (proc.stdout + proc.stderr).splitlines()
                     if line.strip() and not line.startswith("auditor: tracing")]
            ran = [line for line in lines if line.startswith("Ran ")]
            return proc.returncode, ran[-1].split(" in ")[0], lines[-1]

        assert outcome(plain) == outcome(trace)
        assert outcome(plain)[1] == "Ran 129 tests"
        assert len(list(tmp_path.glob("t.jsonl*"))) == 1


QUIET_DEBUG = '''\
import logging, nova
log = logging.getLogger("nova.trace_test")
log.setLevel(logging.INFO)
log.debug("password=%s", "hunter2hunter2")
'''


class TestLogCapture:
    @pytest.mark.parametrize("extra, capture, leaks", [((), "emitted", 0),
                                                       (("--debug",), "debug", 1)])
    def test_debug_records_judged_only_with_debug(self, tmp_path, extra, capture, leaks):
        """Tracing judges the records logging emits; ``--debug`` also those it drops."""
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, QUIET_DEBUG), env=clean_env(),
                      extra=extra)
        assert proc.returncode == 0, proc.stderr
        assert "hunter2" not in proc.stderr   # handlers unchanged either way
        (path,) = tmp_path.glob("t.jsonl.*")
        report = read_trace(path).report
        assert report["runs"][0]["log_capture"] == capture
        found = [f for f in report["findings"] if f["category"] == "sensitive-log"]
        assert len(found) == leaks
        assert report["summary"]["events"].get("LogEvent", 0) == leaks


class TestSurfaces:
    def test_a_lighter_profile_records_its_surfaces_only(self, tmp_path):
        """``--surfaces logging,locks`` on the real tracker: log records and lock holds are
        judged, nothing else is recorded, the report says what was hooked, and the claims
        that need the rest are not exercised (locking: partly, its state writes unhooked)."""
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, DRIVE),
                      str(tmp_path / "secret.txt"), env=clean_env(),
                      extra=("--surfaces", "logging,locks"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "hooked: logging, locks only (--surfaces)" in proc.stderr
        (path,) = tmp_path.glob("t.jsonl.*")
        assert records(path)[0]["surfaces"] == ["logging", "locks"]
        report = read_trace(path).report
        assert report["runs"][0]["surfaces"] == ["logging", "locks"]
        events = report["summary"]["events"]
        assert events["LogEvent"] > 0 and events["LockEvent"] > 0
        assert not {"CallEvent", "EntryEvent", "StateAccess", "WireEvent"} & {
            k for k, n in events.items() if n}
        assert "sensitive-log/canary" in {f["rule"] for f in report["findings"]}
        assert "not hooked (auditor trace --surfaces): external, tracker-entry, " \
            "tracker-state, wire" in " ".join(text.render(report).split())
        rows = {c["area"]: c for c in claims.evaluate(report)}
        assert rows["locking"]["verdict"] == claims.PARTLY
        assert "tracker-state not hooked" in rows["locking"]["reason"]
        assert rows["external calls"]["verdict"] == claims.NOT_EXERCISED
        assert rows["external calls"]["reason"].startswith("external, wire not hooked")


class TestGuarantees:
    def test_lines_bypass_a_patched_os_write(self, tmp_path, monkeypatch):
        """A line reaches the file whole through the system's write even when ``os.write`` is
        replaced (eventlet's green one stat()s the descriptor on every call)."""
        from auditor.tracing.trace_file import line_writer, open_exclusive

        path, fd = open_exclusive(str(tmp_path / "t.jsonl"))

        def patched(*args):
            raise AssertionError("the patched os.write was called")
        monkeypatch.setattr(os, "write", patched)
        try:
            line_writer(fd, 7).msg("lock", name="x", t=1.5)
        finally:
            os.close(fd)
        assert json.loads(Path(path).read_text()) == {"event": "lock", "pid": 7, "name": "x",
                                                      "t": 1.5}

    def test_file_is_0600_and_ends_cleanly(self, tmp_path):
        """The trace is created owner-only and closed with a trace-end record."""
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, LEAKY.format(loops=1, after="")),
                      env=clean_env())
        assert proc.returncode == 0, proc.stderr
        (path,) = tmp_path.glob("t.jsonl.*")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        rows = records(path)
        assert rows[0]["event"] == "trace-start" and rows[-1]["event"] == "trace-end"
        assert all(r["pid"] == int(path.suffix[1:]) for r in rows)

    def test_fork_gives_parent_and_child_their_own_files(self, tmp_path):
        """A forked child writes its own valid trace, with its own pid, next to the parent's."""
        body = LEAKY.format(loops=1, after=textwrap.dedent("""\
            pid = os.fork()
            log.warning("token=%s", "childsecretvalue1" if pid == 0 else "parentvalue12345")
            if pid:
                os.waitpid(pid, 0)
            else:
                sys.exit(0)
            """))
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, body), env=clean_env())
        assert proc.returncode == 0, proc.stderr
        paths = sorted(tmp_path.glob("t.jsonl.*"))
        assert len(paths) == 2
        parsed = [read_trace(p) for p in paths]
        assert {t.pid for t in parsed} == {int(p.suffix[1:]) for p in paths}
        assert all(t.complete and not t.truncated for t in parsed)
        child = next(t for t in parsed if records(Path(t.path))[0]["ppid"] in
                     {u.pid for u in parsed})
        assert child.report["findings"], "the child judged its own events"

    def test_kill_switch_env_writes_nothing(self, tmp_path):
        """AUDITOR_TRACE_DISABLE=1: the program runs and no trace file is created."""
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, LEAKY.format(loops=1, after="")),
                      env=clean_env(AUDITOR_TRACE_DISABLE="1"))
        assert proc.returncode == 0 and not bootstrap_said(proc)
        assert not list(tmp_path.glob("t.jsonl*"))

    def test_kill_file_writes_nothing(self, tmp_path):
        """The kill file next to the traces turns tracing off without touching the unit."""
        (tmp_path / "auditor-trace.disable").touch()
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, LEAKY.format(loops=1, after="")),
                      env=clean_env())
        assert proc.returncode == 0
        assert not list(tmp_path.glob("t.jsonl*"))

    def test_excluded_program_is_not_traced(self, tmp_path):
        """A program on the disable list runs untraced."""
        path = script(tmp_path, LEAKY.format(loops=1, after=""), name="skipme.py")
        proc = traced(tmp_path / "t.jsonl", PY, path, env=clean_env(), extra=("--exclude", "skip*"))
        assert proc.returncode == 0
        assert not list(tmp_path.glob("t.jsonl*"))

    @pytest.mark.parametrize("var, value", [
        ("AUDITOR_TRACE", "/no/such/dir/t.jsonl"),
        ("AUDITOR_TRACE_INTERVAL", "soon"),
        ("AUDITOR_TRACE_EXCLUDE", ",,["),
    ])
    def test_broken_environment_never_breaks_the_host(self, tmp_path, var, value):
        """A broken AUDITOR_* value: the program still runs to its normal end; stderr at most one line."""
        body = LEAKY.format(loops=1, after="print('host ok'); sys.exit(3)")
        env = clean_env(AUDITOR_TRACE=str(tmp_path / "t.jsonl"),
                        PYTHONPATH=pythonpath_with(os.environ.get("PYTHONPATH")),
                        AUDITOR_TRACE_HOME=str(Path(__file__).parents[1]))
        env[var] = value
        proc = subprocess.run([PY, script(tmp_path, body)], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 3 and "host ok" in proc.stdout
        ours = [line for line in proc.stderr.splitlines() if line.startswith("auditor:")]
        assert len(ours) <= 1

    def test_users_sitecustomize_still_runs(self, tmp_path):
        """The bootstrap's sitecustomize imports the one it shadows."""
        user = tmp_path / "user"
        user.mkdir()
        (user / "sitecustomize.py").write_text("import builtins; builtins.USER_SITE = 1\n")
        env = clean_env(PYTHONPATH=str(user))
        proc = traced(tmp_path / "t.jsonl", PY, "-c",
                      "import builtins, sys; print(builtins.USER_SITE, "
                      "any('bootstrap' in p for p in sys.path))", env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["1", "False"]

    def test_sigkill_leaves_a_readable_trace(self, tmp_path):
        """kill -9 mid-run: the report still reads, with the findings flushed before the kill."""
        body = LEAKY.format(loops=60, after="print('slept', flush=True); time.sleep(120)")
        env = clean_env()
        proc = subprocess.Popen(
            [PY, "-m", "auditor.cli", "trace", "--interval", "0.2", "--output",
             str(tmp_path / "t.jsonl"), "--", PY, script(tmp_path, body)],
            stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout.readline().strip() == "slept"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        (path,) = tmp_path.glob("t.jsonl.*")
        with open(path, "a") as f:
            f.write('{"event":"lock","name":"compute_res')   # the line being written at the kill
        rep = auditor("report", "--format", "json", "--fail-on", "never", str(path))
        assert rep.returncode == 0, rep.stderr
        report = json.loads(rep.stdout)
        assert [f["rule"] for f in report["findings"]] == ["sensitive-log/pattern"]
        assert report["runs"][0]["outcome"] == "error" and "killed" in report["runs"][0]["note"]
        assert "last line cut" in rep.stderr


class TestReader:
    def test_damaged_middle_line_is_exit_2(self, tmp_path):
        """Only the last line may be cut; damage earlier is one line, exit 2."""
        path = tmp_path / "t.jsonl.1"
        path.write_text(json.dumps(trace_start(1)) + '\ngarbage\n'
                        '{"event":"trace-end","pid":1,"reason":"exit","duration_s":1}\n')
        proc = auditor("report", str(path))
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1 and "damaged" in proc.stderr

    def test_perfetto_needs_traces(self, tmp_path):
        """``--format perfetto`` of JSON reports only is bad input."""
        path = tmp_path / "r.json"
        path.write_text(json.dumps(report_with([], {})))
        proc = auditor("report", "--format", "perfetto", str(path))
        assert proc.returncode == 2 and "needs trace files" in proc.stderr


class TestCli:
    @pytest.mark.parametrize("args, fragment", [
        (("trace",), "no command to trace"),
        (("trace", "--", "no-such-program-xyz"), "command not found"),
        (("trace", "--output", "/no/such/dir/t.jsonl", "--", "true"), "directory does not exist"),
        (("trace", "--interval", "0", "--", "true"), "positive number"),
        (("trace", "--surfaces", "logging,lockz", "--", "true"), "tracker-state"),
        (("trace", "--surfaces", ",", "--", "true"), "comma-separated list"),
        (("trace", "install"), "--venv PATH"),
        (("trace", "install", "--venv", "/no/such/venv"), "not a virtual environment"),
    ])
    def test_bad_input_one_line_exit_2(self, args, fragment):
        """Bad trace input: exit 2 and one line naming the problem."""
        proc = auditor(*args)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0]

    def test_venv_command_found_with_the_venv_not_activated(self, tmp_path):
        """README's ``auditor trace -- nova-compute`` works with the venv's bin/ off PATH:
        a console script of the venv is found there (here ``nova-manage``, traced)."""
        bindir = os.path.dirname(PY)
        path = ":".join(p for p in os.environ["PATH"].split(":")
                        if os.path.realpath(p) != os.path.realpath(bindir))
        proc = traced(tmp_path / "t.jsonl", "nova-manage", "--version",
                      env=clean_env(PATH=path))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip()  # nova's version
        assert list(tmp_path.glob("t.jsonl.*"))  # it imported nova, traced

    def test_missing_command_says_where_it_looked(self):
        """A command on neither PATH nor the venv's bin/: one line naming both, exit 2."""
        proc = auditor("trace", "--", "no-such-program-xyz")
        assert proc.returncode == 2
        assert os.path.dirname(PY) in proc.stderr and "activate" in proc.stderr


class TestVenvInstall:
    def test_install_traces_only_with_the_variable_and_uninstall_removes(self, tmp_path):
        """The .pth imports nothing unless AUDITOR_TRACE is set; then the venv's nova is traced."""
        venv = tmp_path / "venv"
        subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True)
        vpy = str(venv / "bin" / "python")
        purelib = subprocess.run(
            [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True).stdout.strip()
        ours = subprocess.run([PY, "-c", "import wrapt, os; print(os.path.dirname("
                               "os.path.dirname(wrapt.__file__)))"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "deps.pth").write_text(ours + "\n")   # nova & co. from the project venv
        proc = auditor("trace", "install", "--venv", str(venv))
        assert proc.returncode == 0, proc.stderr
        probe = "import sys, nova; print('auditor' in sys.modules)"
        plain = subprocess.run([vpy, "-c", probe], capture_output=True, text=True,
                               env=clean_env())
        assert plain.stdout.strip() == "False" and not plain.stderr
        on = subprocess.run([vpy, "-c", probe], capture_output=True, text=True,
                            env=clean_env(AUDITOR_TRACE=str(tmp_path / "svc-{pid}.jsonl")))
        assert on.stdout.strip() == "True", on.stderr
        (trace,) = tmp_path.glob("svc-*.jsonl")
        assert read_trace(trace).complete
        assert auditor("trace", "uninstall", "--venv", str(venv)).returncode == 0
        assert not Path(purelib, "auditor-trace.pth").exists()

    def test_stacks_sharing_a_venv_keep_the_pth_until_the_last_one_stops(self, tmp_path):
        """Two holders of one venv: the first installs, the last live one uninstalls; a holder
        whose process died is not waited for; a .pth installed by hand is left alone."""
        from auditor.tracing import venv as v

        env = str(tmp_path / "venv")
        subprocess.run([PY, "-m", "venv", "--without-pip", env], check=True)
        pth = Path(v.site_packages(env), v.PTH_NAME)
        installs = []

        def install():
            installs.append(v.install(env, str(tmp_path)))

        first, second = v.hold(env, install), v.hold(env, install)
        assert len(installs) == 1 and pth.exists()
        assert v.release(env, first) is None and pth.exists()     # the other stack runs on
        dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(v.site_packages(env), v.HOLDERS, f"{dead}-0").touch()
        assert v.release(env, second) == str(pth) and not pth.exists()
        v.install(env, str(tmp_path))                              # by hand
        assert v.hold(env, install) is None and len(installs) == 1 and pth.exists()


def trace_start(pid: int, **fields) -> dict:
    """A complete ``trace-start`` line (the reader checks it against the schema)."""
    return {"event": "trace-start", "schema": "auditor.trace/1", "pid": pid, "program": "p",
            "ppid": 1, "run": f"p[pid={pid}]", "wall": 1.0, "t": 1.0, "nova": "34.0.0",
            "auditor": "0", "python": "3", **fields}


def report_with(findings: list[dict], events: dict) -> dict:
    return {"schema": "auditor.report/1", "tool": {"name": "auditor", "version": "0"},
            "target": {}, "runs": [], "findings": findings,
            "coverage": {"missing_hook_points": []},
            "summary": {"findings_by_category": {}, "events": events}}


def finding(rule: str, path: str = "nova/compute/resource_tracker.py", **evidence) -> dict:
    return {"rule": rule, "category": rule.split("/")[0], "severity": "high", "message": "m",
            "location": {"path": path, "line": 1, "function": "f"}, "runs": [], "count": 2,
            "evidence": evidence, "fingerprint": f"fp-{rule}"}


class TestClaims:
    def test_refuted_when_a_finding_exists(self):
        """A finding in a claim's categories refutes it and is linked by fingerprint."""
        report = report_with([finding("unheld-lock/declared")], {"LockEvent": 4})
        row = {c["area"]: c for c in claims.evaluate(report)}["locking"]
        assert (row["verdict"], row["fingerprints"], row["occurrences"]) == (
            claims.REFUTED, ["fp-unheld-lock/declared"], 2)

    def test_not_exercised_without_events(self):
        """No events of the kind a claim needs: not exercised, never upheld."""
        verdicts = {c["area"]: c["verdict"] for c in claims.evaluate(report_with([], {}))}
        assert set(verdicts.values()) == {claims.NOT_EXERCISED}
        assert len(verdicts) == 6

    def test_upheld_only_with_coverage_and_more_than_one_event(self):
        """80% of the reachable total and two events uphold; 79% or a single event do not."""
        def logging(hit: int, events: int) -> dict:
            report = report_with([], {"LogEvent": events})
            report["coverage"] = {"log_call_sites": {"total": 100, "hit": hit,
                                                     "ids_hit": [f"s:{i}" for i in range(hit)]}}
            return {c["area"]: c for c in claims.evaluate(report)}["logging of sensitive data"]

        assert logging(80, 2)["verdict"] == claims.UPHELD
        assert "80%" in logging(80, 2)["reason"]
        assert logging(79, 2)["verdict"] == claims.PARTLY
        assert logging(80, 1)["verdict"] == claims.PARTLY
        assert logging(0, 0)["verdict"] == claims.NOT_EXERCISED

    def test_a_surface_no_run_hooked_caps_its_claims(self):
        """A claim whose surface no run hooked (``--surfaces``) is at most partly exercised,
        and says which; one run that hooked everything lifts the cap."""
        report = report_with([], {"LogEvent": 2, "LockEvent": 4})
        report["coverage"] = {"synchronized_entry_points": {"total": 1, "hit": 1,
                                                            "ids_hit": ["e"]}}
        report["runs"] = [{"id": "a", "outcome": "passed", "duration_s": 1.0,
                           "surfaces": ["logging", "locks"]}]
        row = {c["area"]: c for c in claims.evaluate(report)}["locking"]
        assert (row["verdict"], row["reason"]) == (
            claims.PARTLY, "tracker-state not hooked (auditor trace --surfaces)")
        report["runs"].append({"id": "b", "outcome": "passed", "duration_s": 1.0})
        assert {c["area"]: c for c in claims.evaluate(report)}["locking"]["verdict"] == (
            claims.UPHELD)

    def test_input_validation_is_at_most_partly_exercised(self):
        """Input validation says what evidence is missing, and names the planted inputs."""
        report = report_with([], {"BadInput": 3})
        report["coverage"] = {"bad_inputs": {"total": 1, "hit": 1,
                                             "ids_hit": ["properties.memory_mb: negative"]}}
        row = {c["area"]: c for c in claims.evaluate(report)}["input validation"]
        assert row["verdict"] == claims.PARTLY
        assert "planted malformed input: properties.memory_mb: negative" in claims.render(report)

    def test_code_scan_and_wire_both_needed_for_hard_coded_values(self):
        """Hard-coded values and external calls are upheld only with the code scan (or the
        calls) and the wire observed; either alone is partly exercised, saying which is absent."""
        def rows(events: dict) -> dict:
            report = report_with([], events)
            report["coverage"] = {name: {"total": 3, "hit": 3, "ids_hit": ["a", "b", "c"]}
                                  for name in ("scanned_modules", "report_client_calls",
                                               "endpoints")}
            return {c["area"]: c for c in claims.evaluate(report)}

        scan_only = rows({"LoadedCode": 5, "CallEvent": 9})
        for area in ("hard-coded sensitive values", "external calls"):
            assert scan_only[area]["verdict"] == claims.PARTLY, area
            assert "no WireEvent ran" in scan_only[area]["reason"]
        both = rows({"LoadedCode": 5, "CallEvent": 9, "WireEvent": 4})
        for area in ("hard-coded sensitive values", "external calls"):
            assert both[area]["verdict"] == claims.UPHELD, area

    def test_simulated_ironic_is_no_reachable_endpoint(self):
        """With the in-process Ironic simulator, three of the four endpoints are all there is."""
        report = report_with([], {"CallEvent": 9, "WireEvent": 4})
        report["target"]["ironic"] = {"backend": "sim"}
        report["coverage"] = {"endpoints": {"total": 4, "hit": 3,
                                            "ids_hit": ["database", "message-bus", "placement"],
                                            "ids_missed": ["ironic"]}}
        row = {c["area"]: c for c in claims.evaluate(report)}["external calls"]
        assert (row["coverage"][0]["hit"], row["coverage"][0]["total"]) == (3, 3)

    def test_channel_findings_and_unvalidated_responses_refute_external_calls(self):
        """external-call findings and malformed Ironic responses (not claim arguments) refute."""
        found = [finding("external-call/tls-unverified"),
                 finding("input-validation/crash", input="properties.memory_mb: negative"),
                 finding("input-validation/crash", input="instance.host: preset")]
        row = {c["area"]: c for c in claims.evaluate(
            report_with(found, {"CallEvent": 3}))}["external calls"]
        assert row["verdict"] == claims.REFUTED and row["findings"] == 2

    def test_external_calls_take_lock_io_and_external_exceptions(self):
        """lock-io and leaked exceptions from placement/Ironic refute the external-calls claim."""
        ironic = finding("leaked-exception/unexpected", exception="openstack.exceptions.HttpException")
        tracker_only = finding("leaked-exception/secret", exception="ValueError")
        row = {c["area"]: c for c in claims.evaluate(
            report_with([ironic, tracker_only], {"CallEvent": 3}))}["external calls"]
        assert row["verdict"] == claims.REFUTED and row["findings"] == 1


def assert_trace_event_json(doc: dict) -> None:
    """The trace-event format's object form: a traceEvents list of well-formed events."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    for e in doc["traceEvents"]:
        assert e["ph"] in ("X", "M") and isinstance(e["name"], str)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert isinstance(e["ts"], (int, float))
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0


class TestPerfetto:
    def test_spans_become_complete_events(self, tmp_path):
        """Lock waits and holds, calls and entry points: X events with µs ts/dur on one axis."""
        path = tmp_path / "t.jsonl.7"
        rows = [trace_start(7, wall=1000.0, t=10.0),
                {"event": "lock", "name": "compute_resources", "t": 11.0, "wait_s": 0.5,
                 "hold_s": 0.25, "owner": 3, "thread": "MainThread",
                 "site": {"path": "a.py", "line": 1, "function": "f"}},
                {"event": "call", "surface": "placement", "name": "GET /x", "t": 11.1,
                 "dur_s": 0.1, "exc": None, "owner": 3, "thread": "MainThread", "held": []},
                {"event": "entry", "name": "instance_claim", "t": 10.9, "dur_s": 0.5,
                 "exc": None, "owner": 3, "thread": "MainThread"}]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        doc = json.loads(perfetto.render({}, [read_trace(path)]))
        assert_trace_event_json(doc)
        spans = {e["name"]: e for e in doc["traceEvents"] if e["ph"] == "X"}
        assert set(spans) == {"wait compute_resources", "hold compute_resources",
                              "placement GET /x", "ResourceTracker.instance_claim"}
        assert spans["hold compute_resources"]["ts"] == pytest.approx(1001.0e6)
        assert spans["wait compute_resources"]["dur"] == pytest.approx(0.5e6)
        assert spans["hold compute_resources"]["tid"] == 3


class TestBootstrapUnits:
    @pytest.mark.parametrize("argv, name", [
        (["python", "-m", "testtools.run", "x"], "testtools.run"),
        (["python", "-u", "-X", "dev", "/usr/bin/nova-compute", "--config-file", "a"],
         "nova-compute"),
        (["python", "-c", "pass"], "-c"),
        (["python", "-mpip"], "pip"),
        (["python"], "python"),
    ])
    def test_program_name(self, argv, name):
        """The program is the -m module, the script's basename, -c, or the interpreter."""
        assert program_name(argv) == name

    def test_surfaces_bring_what_they_need(self, monkeypatch):
        """``AUDITOR_TRACE_SURFACES``: the names, in the surfaces' order, with the locks and
        entry points a state write is judged against; unset, every surface."""
        from auditor.tracing.environment import ENV_SURFACES, surfaces

        monkeypatch.setenv(ENV_SURFACES, " tracker-state,logging,")
        assert surfaces() == ("logging", "locks", "tracker-entry", "tracker-state")
        monkeypatch.setenv(ENV_SURFACES, "wire")
        assert surfaces() == ("wire",)
        monkeypatch.delenv(ENV_SURFACES)
        assert surfaces() is None

    def test_default_disable_list(self, monkeypatch):
        """pip and the auditor itself are never traced; the env var adds patterns."""
        monkeypatch.setenv("AUDITOR_TRACE_EXCLUDE", "nova-manage, stestr*")
        assert excluded("pip") and excluded("auditor") and excluded("nova-manage")
        assert excluded("stestr") and not excluded("nova-compute")

    def test_pythonpath_helpers(self):
        """The bootstrap dir goes first exactly once and comes out cleanly."""
        value = pythonpath_with("/a:/b")
        assert value.split(":")[1:] == ["/a", "/b"] and pythonpath_with(value) == value
        assert pythonpath_without(value) == "/a:/b"


def test_interval_flush_writes_findings_before_exit(tmp_path):
    """With a short interval, findings are in the file while the process still runs."""
    body = LEAKY.format(loops=30, after="print('flushed' if any('\"finding\"' in l for l in "
                        "open(sys.argv[1] + '.' + str(os.getpid()))) else 'none')")
    out = tmp_path / "t.jsonl"
    proc = auditor("trace", "--interval", "0.1", "--output", str(out), "--", PY,
                   script(tmp_path, body), str(out), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "flushed"


FILE_LEAK = '''\
import logging, sys
import nova
logging.getLogger("nova.trace_test").warning("driver said %r", {"info": sys.argv[1]})
'''


class TestSecretsFile:
    """``AUDITOR_SECRETS_FILE``: extra secrets a traced process never holds, watched hashed."""

    SECRET = "Bmc\\Pass-77x"

    def test_a_file_secret_is_found_and_never_written(self, tmp_path):
        """The second line's secret, logged repr-escaped, is a canary finding of
        ``secrets-file:2``; neither the trace nor the report holds it in any form."""
        path = tmp_path / "secrets"
        path.write_text(f"other-secret-1\n{self.SECRET}\n")
        path.chmod(0o600)
        proc = traced(tmp_path / "t.jsonl", PY, script(tmp_path, FILE_LEAK), self.SECRET,
                      env=clean_env(AUDITOR_SECRETS_FILE=str(path)))
        assert proc.returncode == 0, proc.stderr[-2000:]
        traces = sorted(tmp_path.glob("t.jsonl*"))
        rep = auditor("report", "--format", "json", "--fail-on", "never", *map(str, traces))
        hits = [f for f in json.loads(rep.stdout)["findings"]
                if f["rule"] == "sensitive-log/canary"]
        assert [(f["evidence"]["source"], f["evidence"]["form"]) for f in hits] == [
            ("secrets-file:2", "repr")]
        written = rep.stdout + "".join(t.read_text() for t in traces)
        assert self.SECRET not in written and repr(self.SECRET)[1:-1] not in written

    def test_refused_when_others_can_read_it(self, tmp_path):
        """A world-readable secrets file: one line, exit 2, nothing run."""
        path = tmp_path / "secrets"
        path.write_text(f"{self.SECRET}\n")
        path.chmod(0o644)
        proc = traced(tmp_path / "t.jsonl", PY, "-c", "print('ran')",
                      env=clean_env(AUDITOR_SECRETS_FILE=str(path)))
        assert proc.returncode == 2 and "ran" not in proc.stdout
        [line] = proc.stderr.strip().splitlines()
        assert "AUDITOR_SECRETS_FILE" in line and "chmod 600" in line
        assert self.SECRET not in proc.stderr
