"""Performance benchmarks (not tests): ``python -m benchmarks [--quick]``; see docs/benchmarks.md."""
