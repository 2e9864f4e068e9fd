"""Benchmarks: measurements of wavegen itself (speed, memory, data loading, time to quality, the GPU checks, how
often the doctor and the judge are right). Each runs from the repository root as `python -m bench.NAME`; see
bench/README.md. Research questions and the run diagnostics that answered them are in experiments/."""
