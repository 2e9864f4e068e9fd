"""Seed preset throughput: the post's loop (tests/oracles/reference_loop.py) against wavegen's trainer, side by side.

    python -m bench.throughput [--data data/gaussian] [--batches 200] [--rounds 3]

Each round runs the reference, then wavegen's post preset, then the post preset with `--dropout-masks int32`
(the same law for the masks, drawn from another random stream), then both with `--amp true` (bf16), in fresh
processes on the same data (10,000 wavs of the post's data set,
made under bench/.data if --data is not given), and reads each one's own training-loop time and peak memory.
It prints batches per second of each, their ratio, peak RSS, and the share of the machine's FLOP ceiling:
FLOPs per batch counted by torch's FlopCounterMode over one real batch, against a float32 matmul measured here.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
KINDS = ["reference", "wavegen", "wavegen-int32", "wavegen-bf16", "wavegen-int32-bf16"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(kind: str, data: str, batches: int) -> dict:
    if kind == "reference":
        # The post's loop lives with the tests, which check that wavegen's step makes its updates; timing that one
        # copy (not a second one kept here) is what makes the speed-up a comparison with the loop the suite checks.
        from tests.oracles.reference_loop import run

        r = run(data, batches)
        return {"batches": r["batches"], "seconds": r["seconds"], "peak_rss_mb": peak_rss_mb()}
    from wavegen import make_config, read_stats, train

    masks = "int32" if kind in ("wavegen-int32", "wavegen-int32-bf16") else "torch"
    amp = "true" if kind.endswith("bf16") else "false"
    with tempfile.TemporaryDirectory() as tmp:
        run = train(make_config("post", data=data, out=f"{tmp}/run", batches=batches, ckpt_every=10**9, dropout_masks=masks,
                                amp=amp))
        wall = [r["time/wall_s"] for r in read_stats(run) if "time/wall_s" in r][-1]
    return {"batches": batches, "seconds": wall, "peak_rss_mb": peak_rss_mb()}


def flops_per_batch(skip_d_grads_in_g_step: bool = False) -> float:
    """FLOPs of one post-preset batch (G forward, three D forwards, both backwards), counted by torch: as the
    post computes it, or as wavegen does (no D weight gradients in the G step, which the post throws away)."""
    from torch.utils.flop_counter import FlopCounterMode

    from wavegen import make_config
    from wavegen.models import build_models
    from wavegen.training.step import frozen

    G, D = build_models(make_config("post"), 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    real, y = torch.randn(100, 1, 100), torch.ones(100)
    with FlopCounterMode(display=False) as counter:
        fake = G(torch.randn(100, 100, 1))
        with frozen(D) if skip_d_grads_in_g_step else contextlib.nullcontext():
            g_loss = bce(D(fake), y)
        g_loss.backward()
        (bce(D(real), y) + bce(D(fake.detach()), y * 0)).backward()
    return float(counter.get_total_flops())


def matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def ensure_data(path: str | None) -> str:
    if path:
        return path
    data = HERE / ".data" / "gaussian"
    if not (data / "wavegen_data.json").exists():
        from wavegen import GaussianSpec, make_gaussian

        make_gaussian(data, GaussianSpec(n=10000))
    return str(data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data")
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.data, a.batches)))
        return
    data = ensure_data(a.data)
    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for i in range(a.rounds):
        for kind in results:
            out = subprocess.run([sys.executable, "-m", __spec__.name, "--worker", kind, "--data", data, "--batches", str(a.batches)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[kind].append(r)
            print(f"round {i + 1} {kind:18s} {r['batches'] / r['seconds']:6.2f} batches/s  peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    flops = flops_per_batch()
    ceiling = matmul_gflops()
    print(f"\nmachine: {torch.get_num_threads()} threads, torch {torch.__version__}; float32 matmul {ceiling:.0f} GFLOP/s; "
          f"one batch {flops / 1e9:.1f} GFLOP as the post computes it, so the ceiling is {ceiling * 1e9 / flops:.1f} batches/s; "
          f"wavegen skips D's weight gradients in the G step: {flops_per_batch(True) / 1e9:.1f} GFLOP\n")
    print("| loop | batches/s (best of rounds) | median | peak RSS MB | vs reference | share of FLOP ceiling |")
    print("|---|---:|---:|---:|---:|---:|")
    best = {k: max(r["batches"] / r["seconds"] for r in v) for k, v in results.items()}
    for kind, rs in results.items():
        rates = sorted(r["batches"] / r["seconds"] for r in rs)
        print(f"| {kind} | {best[kind]:.2f} | {rates[len(rates) // 2]:.2f} | {max(r['peak_rss_mb'] for r in rs):.0f} | "
              f"{best[kind] / best['reference']:.2f}x | {best[kind] * flops / (ceiling * 1e9):.0%} |")


if __name__ == "__main__":
    main()
