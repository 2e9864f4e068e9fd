"""The model families side by side: parameter counts and CPU seconds per batch of each preset at its lengths.

    python -m bench.presets [--batches 3] [--presets seed,fast]

Each row builds the preset's G and D at one length and width, then times `--batches` real training steps
(wavegen.training.step.gan_step: the preset's loss, D steps, penalties) on random data after one warm-up step, in this
process, with torch's default threads. Widths below the paper's are marked: they are what trains on a CPU.
"""
from __future__ import annotations

import argparse
import time

import torch

from wavegen.config import make_config
from wavegen.models import build_models
from wavegen.training.state import optimisers
from wavegen.training.step import gan_step

ROWS = [  # (preset, length, width overrides, batch size)
    ("post", 100, {}, 100),
    ("fast", 100, {}, 100),
    ("dcgan", 1024, {}, 64),
    ("dcgan", 16384, {}, 64),
    ("dcgan", 16384, {"ngf": 64, "ndf": 64}, 16),
    ("wavegan", 16384, {}, 64),
    ("wavegan", 16384, {"ngf": 16, "ndf": 16}, 16),
    ("wavegan", 4096, {"ngf": 16, "ndf": 16}, 16),
    ("wavegan", 65536, {"ngf": 8, "ndf": 8}, 4),
    ("audio", 16384, {}, 16),
    ("audio", 8192, {}, 16),
    ("ensemble", 16384, {}, 16),
    ("ensemble", 8192, {}, 16),
    ("ensemble", 8192, {"arch": "istft", "ngf": 128}, 16),
]


def params(m) -> float:
    return sum(p.numel() for p in m.parameters()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--presets", default=None, help="only the rows of these presets (comma-separated)")
    a = ap.parse_args()
    only = set(a.presets.split(",")) if a.presets else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print("| preset | length | width (ngf / ndf) | G params | D params | batch | D steps | loss | s / batch |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|")
    for preset, length, widths, batch in ROWS:
        if only and preset not in only:
            continue
        cfg = make_config(preset, length=length, batch_size=batch, **widths)
        torch.manual_seed(0)
        G, D = build_models(cfg, 1, length)
        opt_G, opt_D = optimisers(G, D, cfg)
        reals = [torch.randn(batch, 1, length).clamp(-1, 1) for _ in range(cfg.d_steps)]  # (B, C, L) each
        gan_step(G, D, opt_G, opt_D, reals, cfg)  # warm-up
        t = time.perf_counter()
        for _ in range(a.batches):
            gan_step(G, D, opt_G, opt_D, reals, cfg)
        per = (time.perf_counter() - t) / a.batches
        name = preset + (f" (--arch {widths['arch']})" if "arch" in widths else "")
        print(f"| {name} | {length} | {cfg.ngf} / {cfg.ndf} | {params(G):.2f}M | {params(D):.2f}M | {batch} | "
              f"{cfg.d_steps} | {cfg.loss} | {per:.3f} |", flush=True)


if __name__ == "__main__":
    main()
