"""Sweeps: one recipe over several settings and seeds. Each run is a normal run folder, trained by
`python -m wavegen train` in a subprocess (a crash takes down one run, not the sweep; runs can go in
parallel), resumable, and tabulated at the end.

A spec is JSON (experiments/README.md):

    {"preset": "post", "data": "data/gaussian",
     "base": {"batches": 1500, "eval_every": 100},                 # overrides for every run
     "settings": [{"name": "no dropout", "dropout_g": 0, "dropout_d": 0}, {"name": "post"}],
     "grid": {"lr_g": [5e-5, 2e-4]},                                 # Cartesian product, within each setting
     "seeds": [0, 1, 2]}

The sweep folder OUT holds sweep.json (the spec and its runs, written first: a different spec is refused),
runs/<setting>__seed<k>/ (run folders; `sweep.done` once trained to the end), logs/<run>.log (console
output of each run), and the report: table.md, table.csv (per setting), runs.csv (per run), curves.png.

spec.py reads a spec into runs, runner.py trains them, results.py tabulates them; reports/plot.py draws the curves.
"""
from .results import (DONE, FIELDS, aggregate, ended, finished_runs, format_table, reached_end, run_result,
                      run_state, summarise, write_sweep_report)
from .runner import Runner, check_out, cpu_count, locked, open_out, run_sweep
from .spec import Run, check_runs, expand, load_spec, run_config, shown, slug, train_command

__all__ = ["DONE", "FIELDS", "Run", "Runner", "aggregate", "check_out", "check_runs", "cpu_count", "ended", "expand",
           "finished_runs", "format_table", "load_spec", "locked", "open_out", "reached_end", "run_config",
           "run_result", "run_state", "run_sweep", "shown", "slug", "summarise", "train_command",
           "write_sweep_report"]
