"""Does torch.compile (inductor) pay for the post and fast presets' steps on a CPU? One table, eager beside compiled.

    python -m bench.compile_cpu [--steps 30] [--rounds 3]

Each row builds the preset's G and D as a run does (wavegen.training.state), compiles both modules with inductor
(the step's loss, optimiser and average stay eager: the penalised presets' double backward cannot be compiled), and
times training steps on a fixed random batch of the preset's shape, eager and compiled in alternating rounds so that
a noisy machine slows both alike. The compile time is printed apart. A compile option would need to pay at least
1.3x to be worth its start-up and its second code path (docs/performance.md has the figures).
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from wavegen.config import make_config
from wavegen.models.conditional import build_pair
from wavegen.training.state import optimisers
from wavegen.training.step import Step, schedule

ROWS = {"post": dict(length=100), "fast": dict(length=100)}


def make_step(cfg, G, D, compiled: bool):
    """A Step on its own copies of G and D (compiled or not), with their optimisers."""
    g, d = copy.deepcopy(G), copy.deepcopy(D)
    opt_G, opt_D = optimisers(g, d, cfg)
    run_g, run_d = (torch.compile(g), torch.compile(d)) if compiled else (g, d)
    return Step(cfg, run_g, run_d, opt_G, opt_D)


def seconds_per_step(step, reals, cfg, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        step(reals, None, schedule(cfg, i))
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of eager and compiled")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print("| preset | eager s/step | compiled s/step | speed-up | compile s |\n|---|---:|---:|---:|---:|")
    for preset, shape in ROWS.items():
        cfg = make_config(preset, amp="false", **shape)
        torch.manual_seed(0)
        G, D = build_pair(cfg, 1, shape["length"])
        reals = [torch.randn(cfg.batch_size, 1, shape["length"]).clamp(-1, 1) for _ in range(cfg.d_steps)]
        eager, compiled = make_step(cfg, G, D, False), make_step(cfg, G, D, True)
        t = time.perf_counter()
        seconds_per_step(compiled, reals, cfg, 2)  # compiles the forward and backward graphs
        compile_s = time.perf_counter() - t
        seconds_per_step(eager, reals, cfg, 2)
        times = {"eager": [], "compiled": []}
        for _ in range(a.rounds):
            times["eager"].append(seconds_per_step(eager, reals, cfg, a.steps))
            times["compiled"].append(seconds_per_step(compiled, reals, cfg, a.steps))
        e, c = min(times["eager"]), min(times["compiled"])
        print(f"| {preset} | {e:.4f} | {c:.4f} | {e / c:.2f}x | {compile_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
