"""What gives a generator's samples away on the post's data, and its two quality scores, one row per run.

    python -m experiments.post_giveaways RUN [RUN ...] [--step N | --best] [--n 1000]

For each run's checkpoint (best.pt with --best; G's moving average when the run keeps one), n samples drawn as
`wavegen eval` draws them (the run's sample mode, sampling seed 0) against n fresh draws of the data's recipe
(real set A, from the run's seed): wavegen.evaluation.giveaways (offset and fixed pattern of the mean residual,
per-position variance against the data's, lag-1 autocorrelation of the residual noise, the classifier test
with the mean and the variance corrected, the fitted peaks), then c2st and frechet as `wavegen eval` scores
them, and frechet over its real-vs-real value. The first row is real set B, the floor of every column.
"""
import argparse
import sys

import torch

from wavegen import checkpoint
from wavegen.data.source import open_examples
from wavegen.evaluation.giveaways import giveaways
from wavegen.evaluation.metrics import METRICS
from wavegen.evaluation.scoring import real_sets
from wavegen.sampling import draw, load_generator

COLUMNS = [("offset", "{:+.4f}"), ("pattern", "{:.4f}"), ("var_ratio", "{:.2f}"), ("var_ratio_lo", "{:.2f}"),
           ("var_ratio_hi", "{:.2f}"), ("lag1", "{:+.3f}"), ("fit_amplitude_mean", "{:.3f}"),
           ("fit_amplitude_std", "{:.3f}"), ("fit_width_mean", "{:.2f}"), ("fit_width_std", "{:.2f}"),
           ("fit_centre_std", "{:.2f}"), ("fit_offset_std", "{:.4f}"), ("c2st_raw", "{:.3f}"),
           ("c2st_mean_fixed", "{:.3f}"), ("c2st_var_fixed", "{:.3f}"), ("frechet", "{:.4f}"), ("frechet_x", "{:.2f}")]


def row(samples, sets, floor: float | None) -> dict:
    out = giveaways(samples, sets)
    out["frechet"] = METRICS["frechet"].fn(samples, sets, 0)
    out["frechet_x"] = out["frechet"] / floor if floor else 1.0
    return out


def run_row(run: str, step: int | None, best: bool, n: int) -> tuple[str, dict, dict]:
    """(label, row of the run's checkpoint, real set B's row against the same real set A)."""
    path = checkpoint.find(run, step, best)
    G, cfg, state = load_generator(path)
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    sets, _ = real_sets(examples, state["data"].get("meta"), examples.sample_rate, cfg.holdout, cfg.seed, n)
    floor = METRICS["frechet"].fn(sets.real2, sets, 0)
    samples = draw(G, cfg, n, cfg.sample_mode, 0, torch.device("cpu")).numpy()  # (n, C, L)
    label = f"{run} (batch {state['step']}{', ema' if 'G_ema' in state else ''})"
    return label, row(samples, sets, floor), row(sets.real2, sets, floor)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--step", type=int)
    p.add_argument("--best", action="store_true")
    p.add_argument("--n", type=int, default=1000)
    a = p.parse_args()
    print(f"{a.n} samples each; real set B is the floor (its row: the first run's real sets)\n")
    print("| samples | " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for i, run in enumerate(a.runs):
        label, r, real = run_row(run, a.step, a.best, a.n)
        if i == 0:
            print("| real set B | " + " | ".join(f.format(real[k]) for k, f in COLUMNS) + " |")
        print(f"| {label} | " + " | ".join(f.format(r[k]) for k, f in COLUMNS) + " |", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
