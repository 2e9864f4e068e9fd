"""The fixed pattern in the samples of a generator trained on the post's data, and what the classifier test makes of it.

    python -m experiments.fixed_pattern RUN [--step N | --best] [--n 1000]

For the synthetic Gaussian data only. The residual of a sample is its difference from the ideal (noiseless)
curve; averaged over n samples, real data's residual is noise over sqrt(n) at every position. A generator's
average residual shows what all its samples share: an offset (its mean) and a pattern from one sample position
to the next (its spread around that mean). Prints both, with the classifier test's accuracy, for the raw
weights G and, in a run with --ema, the moving average G_ema from the same checkpoint, beside real set B.
"""
import argparse

import numpy as np
import torch

from wavegen import checkpoint
from wavegen.config import config_from_dict
from wavegen.data import load_folder
from wavegen.evaluation.scoring import real_sets
from wavegen.sampling import draw
from wavegen.evaluation.metrics import METRICS
from wavegen.evaluation.metrics.gaussian_fit import spec_of
from wavegen.models import build_models

p = argparse.ArgumentParser()
p.add_argument("run")
p.add_argument("--step", type=int)
p.add_argument("--best", action="store_true")
p.add_argument("--n", type=int, default=1000)
a = p.parse_args()

state = checkpoint.load(checkpoint.find(a.run, a.step, a.best))
cfg = config_from_dict(state["config"])
data = load_folder(cfg.data, cfg.formats)
sets, _ = real_sets(data.x, state["data"]["meta"], data.sample_rate, cfg.holdout, cfg.seed, a.n)
ideal = spec_of(sets).ideal()  # (L,)

candidates = {"real set B": sets.real2}
for key in ("G", "G_ema"):
    if key in state:
        G, _ = build_models(cfg, state["data"]["channels"], state["data"]["length"])
        G.load_state_dict(state[key])
        candidates[key] = draw(G, cfg, a.n, cfg.sample_mode, 0, torch.device("cpu")).numpy()

print(f"{a.run}, batch {state['step']}, {a.n} samples each\n")
print("| samples | mean residual (offset) | pattern: std over positions | largest position | c2st |")
print("|---|---:|---:|---:|---:|")
for name, x in candidates.items():
    mean_residual = (x - ideal).mean(axis=0).reshape(-1)  # (C * L,) what every sample shares
    pattern = mean_residual - mean_residual.mean()
    c2st = METRICS["c2st"].fn(x, sets, 0)
    print(f"| {name} | {mean_residual.mean():+.4f} | {pattern.std():.4f} | {np.abs(pattern).max():.4f} | {c2st:.3f} |")
