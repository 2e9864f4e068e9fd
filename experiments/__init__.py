"""Experiments: the research questions behind docs/ (sweep specs for `wavegen sweep`, one-off probes, and the run
diagnostics that produced the findings). Each script runs from the repository root as `python -m experiments.NAME`;
see experiments/README.md."""
