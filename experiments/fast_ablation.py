"""The ablation of issue 16: each change to the `fast` preset alone, and together, on the post's data, over seeds.

    python -m experiments.fast_ablation [--data data/gaussian] [--variants before,noise,...] [--seeds 0,1,2]
                                  [--batches 1000] [--out runs/ablation]

Each variant is the `fast` preset as it was before issue 16 (BEFORE), plus the overrides in VARIANTS: each change
alone (ALONE), all of them (FINAL, the `fast` preset now), and all but one (LEFT_OUT), trained from scratch for
--batches batches per seed, scored every 100 batches on frechet and c2st (500 samples), keeping best.pt as
the variant's preset would (by frechet before issue 16, by c2st after: c2st is 1.0 at every score of the
before-issue variants, so it could not pick among them). Then experiments/post_giveaways.py's numbers for its best.pt (1,000 samples): one row per variant
and seed, and the mean over the seeds. Run folders stay in --out, so a second call only scores (delete to
retrain).
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from experiments.post_giveaways import COLUMNS, run_row
from wavegen import make_config, read_stats, train

# `fast` before issue 16, spelled out, so that the baseline row stays what it was whatever the preset becomes
BEFORE = {"init": "dcgan", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "ngf": 128, "ndf": 128,
          "dropout_masks": "int32", "upsample": "transpose", "g_noise": "none", "d_batchnorm": True, "d_mbstd": 0,
          "ema": 0.0, "dropout_g": 0.2, "r1_gamma": 0.0, "best_metric": "frechet"}
FINAL = {"g_batchnorm": False, "dropout_g": 0.0, "upsample": "nearest", "g_noise": "output", "ema": 0.999,
         "d_batch": "joint", "best_metric": "c2st"}  # what issue 16 added to `fast`
ALONE = {  # each change on its own, added to BEFORE
    "noise": {"g_noise": "output"},
    "upsample": {"upsample": "nearest"},
    "d-joint": {"d_batch": "joint"},
    "d-nobn": {"d_batchnorm": False},
    "mbstd": {"d_mbstd": 4},
    "ema": {"ema": 0.999},
    "r1": {"r1_gamma": 1.0},
    "g-nobn": {"g_batchnorm": False},
    "g-nodropout": {"dropout_g": 0.0},
}
LEFT_OUT = {  # the new fast with one change undone
    "fast-noise": {"g_noise": "none"},
    "fast-upsample": {"upsample": "transpose"},
    "fast-joint": {"d_batch": "separate"},
    "fast-gnobn": {"g_batchnorm": True},
    "fast-ema": {"ema": 0.0},
    "fast-nodropout": {"dropout_g": 0.2},
}
VARIANTS = {"before": {}, **ALONE, "fast": FINAL, **{k: {**FINAL, **v} for k, v in LEFT_OUT.items()}}


def train_variant(data: str, name: str, overrides: dict, seed: int, batches: int, out: Path) -> Path:
    run = out / f"{name}-s{seed}"
    if (run / "checkpoints" / "best.pt").exists():
        return run
    cfg = make_config("post", **{**BEFORE, **overrides}, data=data, out=str(run), batches=batches, seed=seed,
                      eval_every=100, eval_n=500, eval_metrics=("frechet", "c2st"),
                      print_every=10**9, ckpt_every=10**9, amp="false")
    train(cfg)
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/gaussian")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--extra", action="append", default=[],
                   help="another variant, NAME:key=value,key=value (values as on the command line)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--batches", type=int, default=1000)
    p.add_argument("--out", default="runs/ablation")
    a = p.parse_args()
    variants = {name: VARIANTS[name] for name in a.variants.split(",") if name}
    for spec in a.extra:
        from wavegen.config import parse_value
        name, _, body = spec.partition(":")
        variants[name] = {k: parse_value(k, v) for k, v in (kv.split("=", 1) for kv in body.split(",") if kv)}
    names = [k for k, _ in COLUMNS]
    print("| variant | seed | best at | " + " | ".join(names) + " |")
    print("|---|---:|---:|" + "---:|" * len(names))
    for name, overrides in variants.items():
        rows = []
        for seed in map(int, a.seeds.split(",")):
            torch.manual_seed(seed)
            run = train_variant(a.data, name, overrides, seed, a.batches, Path(a.out))
            label, r, _ = run_row(str(run), None, True, 1000)
            wall = [x["time/wall_s"] for x in read_stats(run) if "time/wall_s" in x][-1]
            rows.append(r)
            best = label.split("batch ")[1].split(",")[0].rstrip(")")
            print(f"| {name} | {seed} | {best} ({wall:.0f} s run) | " + " | ".join(f.format(r[k]) for k, f in COLUMNS)
                  + " |", flush=True)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in names}
        print(f"| **{name}** | mean | | " + " | ".join(f.format(mean[k]) for k, f in COLUMNS) + " |", flush=True)


if __name__ == "__main__":
    main()
