"""The pytest plugin (entry point ``auditor`` -> ``auditor.pytest_plugin.plugin``).

``plugin``: options, hooks, the ``audit`` fixture; ``fixture``: the fixture's
object; ``summary``: the terminal summary (pure); ``nova_compat``: the shims
that let nova's own unittest-based tests run under pytest.
"""

__all__: list[str] = []
