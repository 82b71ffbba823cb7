"""The progress display of a scenario run."""

from __future__ import annotations

import io

from rich.console import Console

from auditor.cli.progress import Progress


def test_mode_label_survives_on_a_terminal():
    """'[threading]' is shown as text, not swallowed as rich markup."""
    out = io.StringIO()
    with Progress("threading", Console(file=out, force_terminal=True, width=100)) as progress:
        progress.update("concurrent-claims", "scenario", 1, 1)
    assert "[threading] concurrent-claims: scenario" in out.getvalue()
