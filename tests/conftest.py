"""Shared fixtures: the process's live target (threading mode) and recorded hook events."""

from __future__ import annotations

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
