"""nova's own runner: ``auditor trace -- stestr run`` audits every stestr worker (tracing is
switched on by environment variables they inherit); ``auditor report`` merges them into one report.

nova's wheel ships no ``.stestr.conf``: the tracker's test module is run from the installed
package with ``--test-path``/``--top-dir`` (docs/ci.md has the tox recipe for a checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nova

PY = sys.executable
SITE = Path(nova.__file__).resolve().parents[1]


def test_stestr_workers_traced_and_merged(tmp_path):
    """Two stestr workers each write a trace; the merged report holds both workers' runs and
    the three unlocked writes in remove_node that nova's tests reach."""
    stestr = shutil.which("stestr", path=os.path.dirname(PY))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_TRACE")}
    out = tmp_path / "trace.jsonl"
    proc = subprocess.run(
        [PY, "-m", "auditor.cli", "trace", "--output", str(out), "--", stestr,
         "--test-path", str(SITE / "nova/tests/unit/compute"), "--top-dir", str(SITE),
         "run", "--concurrency", "2", "test_resource_tracker"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Passed: 129" in proc.stdout + proc.stderr
    traces = sorted(tmp_path.glob("trace.jsonl.*"))
    # stestr's listing process imports nova too (a trace without entry points); the two
    # workers ran tracker code
    workers = [p for p in traces if '"event":"entry"' in p.read_text()]
    assert len(workers) == 2, traces
    rep = subprocess.run([PY, "-m", "auditor.cli", "report", "--format", "json", "--fail-on", "never",
                          *map(str, traces)], capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr
    report = json.loads(rep.stdout)
    assert len(report["runs"]) == len(traces)
    assert report["summary"]["events"]["EntryEvent"] > 100
    unlocked = {f["message"].split()[0] for f in report["findings"]
                if f["rule"] == "unheld-lock/declared" and f["location"]["function"] == "remove_node"}
    assert unlocked == {"stats", "compute_nodes", "old_resources"}
