"""Test oracles: code written the way the post writes it, that the suite checks wavegen against.

The benchmarks that time the post's loop import it from here (`from tests.oracles.reference_loop import run`), so
the loop they time is the one copy whose updates the suite compares with wavegen's step. They run from the
repository root (`python -m bench.NAME`), where `tests` is importable as a namespace package.
"""
