"""The figures of docs/experiments.md: one per question, each a subset of the ablation sweep's settings.

    python -m experiments.figures [sweeps/ablations] [docs]
"""
import sys
from pathlib import Path

from wavegen.reports.plot import plot_sweep_curves
from wavegen.sweep import finished_runs

QUESTIONS = {  # figure name: (title, settings)
    "dropout": ("Dropout in G, in D, in both (the post) or in neither",
                ["post", "dropout none", "dropout G only", "dropout D only"]),
    "labels": ("Label noise: exact labels, the post's 0.1, and 0.2", ["post", "labels exact", "label noise 0.2"]),
    "adam_batch": ("Adam and batch size: the post's 5e-5 / 0.9 against the DCGAN paper's 2e-4 / 0.5; batch 50, 100, 200",
                   ["post", "adam 2e-4 b1 0.5", "batch 50", "batch 200"]),
    "losses": ("The loss: the post's soft-label BCE, non-saturating, least squares, hinge, WGAN-GP",
               ["post", "loss nonsat", "loss lsgan", "loss hinge", "loss wgan-gp"]),
}

out = Path(sys.argv[1] if len(sys.argv) > 1 else "sweeps/ablations")
docs = Path(sys.argv[2] if len(sys.argv) > 2 else "docs")
groups = dict(finished_runs(out))
for name, (title, settings) in QUESTIONS.items():
    print(plot_sweep_curves(out, [(s, groups[s]) for s in settings], docs / f"experiments_{name}.png", title))
