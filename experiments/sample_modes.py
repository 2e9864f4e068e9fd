"""How G's sampling mode changes its samples, on a trained run of the synthetic Gaussian data.

    python -m experiments.sample_modes runs/demo [STEP]

Prints, for 1,000 real examples and 1,000 samples in each mode ("train": BatchNorm on the batch and Dropout on,
as D sees G during training; "batch": BatchNorm on the batch, no Dropout; "eval": BatchNorm's running averages):
RMSE to the ideal curve in noise units, mean offset, residual std around each sample's mean, the mean level at
the peak, and the spread across samples (the real data's spread is its noise std).
"""
import sys

import torch

from wavegen import checkpoint
from wavegen.data import GaussianSpec, load_folder
from wavegen.sampling import load_generator
from wavegen.models import generator_mode

run = sys.argv[1]
step = int(sys.argv[2]) if len(sys.argv) > 2 else None
G, cfg, state = load_generator(checkpoint.find(run, step))
meta = state["data"]["meta"]
spec = GaussianSpec.from_meta(meta)
ideal = torch.tensor(spec.ideal())
real = load_folder(cfg.data).x[:1000, 0]  # (1000, L)


def describe(name: str, x: torch.Tensor) -> None:
    r = x - ideal
    print(f"{name:6s} rmse/noise {r.pow(2).mean().sqrt().item() / spec.noise:5.2f}  offset {r.mean().item():+.3f}  "
          f"resid std/noise {(r - r.mean(1, keepdim=True)).std().item() / spec.noise:5.2f}  "
          f"peak {x[:, 45:55].mean().item():.3f}  spread across samples {x.std(0).mean().item():.3f}")


describe("real", real)
torch.manual_seed(1)
for mode in ["train", "batch", "eval"]:
    with generator_mode(G, mode, torch.device("cpu")):
        x = torch.cat([G(torch.randn(cfg.batch_size, cfg.nz, 1))[:, 0] for _ in range(1000 // cfg.batch_size)])
    describe(mode, x)
