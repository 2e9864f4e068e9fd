"""What `--augment ada` costs per batch: the same recipe with and without it, side by side in one run.

    python -m bench.augment_cost [--preset audio] [--length 16384] [--batch-size 16] [--rounds 10] [--batches 3]
                                 [--device cpu|cuda]

Two trainers' steps (wavegen.training.step.Step, the same initial weights, random data of the run's shape) are
timed in turns: each round times `--batches` batches of one, then of the other, so that a noisy machine slows both
alike. Prints each one's min and median seconds per batch over the rounds and their ratio (issue 36 asks for at
most 1.10).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from wavegen.config import make_config
from wavegen.models.conditional import build_pair
from wavegen.training.state import optimisers
from wavegen.training.step import Step, schedule


class Counted:
    """The step's augmentation, counting its calls (what one batch augments)."""

    def __init__(self, augment):
        self.augment, self.calls = augment, 0

    def __call__(self, x):
        self.calls += 1
        return self.augment(x)

    def __getattr__(self, name):
        return getattr(self.augment, name)


def make_step(cfg, G, D, device: torch.device):
    """A run's step on copies of G and D and the fixed real batches it trains on: (run(batch number), the step)."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    step = Step(cfg, G, D, *optimisers(G, D, cfg, device))
    reals = [torch.randn(cfg.batch_size, 1, cfg.length, device=device).clamp(-1, 1)  # (B, C, L) each
             for _ in range(cfg.d_steps)]
    return (lambda i: step(reals, None, schedule(cfg, i))), step


def augment_alone(step, cfg, device: torch.device, reps: int = 20) -> tuple[int, float]:
    """(calls of the augmentation per batch, seconds per call on a batch of the run's shape)."""
    counted = step.augment = Counted(step.augment)
    step([torch.randn(cfg.batch_size, 1, cfg.length, device=device)] * cfg.d_steps, None, schedule(cfg, 0))
    x = torch.randn(cfg.batch_size, 1, cfg.length, device=device)  # (B, C, L)
    return counted.calls, min(seconds_per_batch(lambda i: counted.augment(x), 0, 1, device) for _ in range(reps))


def seconds_per_batch(run, first: int, n: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    for i in range(n):
        out = run(first + i)
    out.tolist()  # the stats back on the host: every batch's work is done
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="audio")
    ap.add_argument("--length", type=int, default=16384)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batches", type=int, default=3, help="batches of each recipe per round")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    device = torch.device(a.device)
    base = dict(length=a.length, batch_size=a.batch_size, amp="false", cuda_graph="false")
    cfgs = {"none": make_config(a.preset, **base), "ada": make_config(a.preset, **base, augment="ada", augment_p=0.5)}
    torch.manual_seed(0)
    G, D = (m.to(device) for m in build_pair(cfgs["none"], 1, a.length, 0))
    steps = {name: make_step(cfg, G, D, device) for name, cfg in cfgs.items()}
    runs = {name: run for name, (run, _) in steps.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():  # warm-up: allocations, kernels chosen
        seconds_per_batch(run, 0, 1, device)
    for r in range(a.rounds):
        for name, run in runs.items():
            times[name].append(seconds_per_batch(run, 1 + r * a.batches, a.batches, device))
    print(f"{a.preset}, length {a.length}, batch {a.batch_size}, {device}: {a.rounds} rounds of {a.batches} batches "
          "each, in turns (augment ada at p 0.5: every op drawn, half the examples changed by each)")
    for name, t in times.items():
        print(f"  augment {name:<5} min {min(t) * 1000:8.1f} ms/batch   median {statistics.median(t) * 1000:8.1f} ms/batch")
    print(f"  ratio ada / none: min {min(times['ada']) / min(times['none']):.3f}, "
          f"median {statistics.median(times['ada']) / statistics.median(times['none']):.3f}")
    calls, each = augment_alone(steps["ada"][1], cfgs["ada"], device)
    print(f"  the augmentation alone: {calls} calls per batch, {each * 1000:.2f} ms each (best of 20): "
          f"{calls * each / min(times['none']):.1%} of the batch without it")


if __name__ == "__main__":
    main()
