"""Evaluation: did it work? Metrics behind a registry (metrics/), scoring a generator against real data
(scoring.py), and the transition and divergence found in a run's stats (analysis.py). Nothing is imported
here: config.py checks metric names against the registry without loading the scoring code."""
