"""Every metric for one run's generator at several points, beside real vs real and a collapsed generator.

    python -m experiments.quality_milestones runs/long --steps 0,1000,8000 [--n 1000]
    python -m experiments.quality_milestones RUN --steps 0,best      # best.pt, kept by scoring during training

Batch 0 is the untrained generator (rebuilt from the run's seed, exactly the weights training started from);
other batches load their checkpoints (a run with --ema: the average of G's weights, as generate and eval do); "collapsed" is the last of them fed one noise vector repeated, so every
sample is the same. Prints a Markdown table (lower is better unless the column `better` says otherwise).
"""
import argparse

import torch

from wavegen import checkpoint
from wavegen.config import config_from_dict
from wavegen.data import load_folder
from wavegen.evaluation.scoring import real_sets
from wavegen.sampling import draw, load_generator
from wavegen.evaluation.metrics import METRICS, evaluate
from wavegen.models import build_models, generator_mode

p = argparse.ArgumentParser()
p.add_argument("run")
p.add_argument("--steps", default="0")
p.add_argument("--n", type=int, default=1000)
a = p.parse_args()
steps = [s if s == "best" else int(s) for s in a.steps.split(",")]

last = checkpoint.load(checkpoint.find(a.run))
cfg = config_from_dict(last["config"])
data = load_folder(cfg.data, cfg.formats)
sets, source = real_sets(data.x, last["data"]["meta"], data.sample_rate, cfg.holdout, cfg.seed, a.n)


def generator(step: int | str):
    if step == "best":
        return load_generator(checkpoint.find(a.run, best=True))[0]
    if step:
        return load_generator(checkpoint.find(a.run, step))[0]
    torch.manual_seed(cfg.seed)  # as train() does before building the models
    return build_models(cfg, last["data"]["channels"])[0]


columns, real_vs_real = {}, None
for step in steps:
    res = evaluate(draw(generator(step), cfg, a.n, cfg.sample_mode, 0, torch.device("cpu")).numpy(), sets)
    columns[f"batch {step}" if step != "best" else f"best (batch {checkpoint.load(checkpoint.find(a.run, best=True))['step']})"] = {k: v["value"] for k, v in res.items()}
    real_vs_real = {k: v["real_vs_real"] for k, v in res.items()}
G = generator(steps[-1])
with generator_mode(G, "batch", torch.device("cpu")):
    one = G(torch.randn(1, cfg.nz, 1).repeat(cfg.batch_size, 1, 1))  # (B, C, L), all the same
collapsed = one[:1].repeat(a.n, 1, 1).numpy()
columns[f"collapsed ({list(columns)[-1]})"] = {k: v["value"] for k, v in evaluate(collapsed, sets).items()}

print(f"{a.n} generated vs {a.n} real ({source}); sample mode {cfg.sample_mode}\n")
print("| metric | better | real vs real | " + " | ".join(columns) + " |")
print("|---|---|---:|" + "---:|" * len(columns))
for name in real_vs_real:
    cells = " | ".join(f"{columns[c].get(name, float('nan')):.4g}" for c in columns)
    print(f"| {name} | {METRICS[name].better()} | {real_vs_real[name]:.4g} | {cells} |")
