"""bfloat16 against float32, side by side in one run: seconds per training step of each model, and what bounds them.

    python -m bench.bf16 [--rounds 3] [--steps 2] [--rows fast,wavegan-16384] [--device cpu|cuda] [--profile]

Each row builds a preset's G and D, then times real training steps (wavegen.training.step.gan_step: the preset's
loss, D steps, penalties) on random data in float32 and with `--amp true` (bf16 autocast), alternating the two within
each round so that a noisy machine slows both alike; the best round of each is printed. The `post` rows add the post's
loop as written (tests/oracles/reference_loop.py, float32), the bar the post preset's bf16 step is measured against.
The header gives what bounds any gain: the CPU's bf16 units, and a matmul and a WaveGAN-size transposed convolution
in both precisions. `--profile` prints each row's top operators in both precisions (torch.profiler, one step).
"""
from __future__ import annotations

import argparse
import time

import torch

# the post's loop: the one copy the suite checks (tests/oracles/__init__.py says why it lives there)
from tests.oracles.reference_loop import post_step
from wavegen.config import make_config
from wavegen.models import build_models
from wavegen.training.precision import (MIN_GFLOP, auto_amp, autotune_convolutions, cpu_bf16_units,
                                        forward_gflops)
from wavegen.training.state import optimisers
from wavegen.training.step import gan_step

ROWS = {  # name: (preset, length, overrides, batch size)
    "post": ("post", 100, {}, 100),
    "fast": ("fast", 100, {}, 100),
    "dcgan-16384": ("dcgan", 16384, {"ngf": 64, "ndf": 64}, 16),
    "wavegan-4096": ("wavegan", 4096, {"ngf": 16, "ndf": 16}, 16),
    "wavegan-16384": ("wavegan", 16384, {"ngf": 32, "ndf": 32}, 16),
    "wavegan-paper": ("wavegan", 16384, {}, 64),  # the paper's size: d 64, batch 64 (a GPU row)
}
CPU_ROWS = "post,fast,dcgan-16384,wavegan-4096,wavegan-16384"
REF = "the post's loop"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def wavegen_step(row: str, amp: str, device: torch.device):
    """One training step of `row` in the given precision, as a function of no arguments (fixed random batch), with
    cuDNN's autotuner set as the trainer sets it for this model."""
    preset, length, overrides, batch = ROWS[row]
    cfg = make_config(preset, length=length, batch_size=batch, amp=amp, **overrides)
    autotune_convolutions(device, forward_gflops(cfg, 1, length))
    torch.manual_seed(0)
    G, D = (m.to(device) for m in build_models(cfg, 1, length))
    opt_G, opt_D = optimisers(G, D, cfg, device)
    reals = [torch.randn(batch, 1, length, device=device).clamp(-1, 1) for _ in range(cfg.d_steps)]  # (B, C, L) each
    return lambda: gan_step(G, D, opt_G, opt_D, reals, cfg)


def reference_step(device: torch.device):
    """One batch of the post's loop as written (float32), on a fixed real batch."""
    from torch import nn

    from wavegen.models import Discriminator, Generator, seed_plan

    torch.manual_seed(0)
    plan = seed_plan(512, 512)
    G, D = Generator(plan, 100, 0.2).to(device), Discriminator(plan, 1, 0.2).to(device)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=5e-5, betas=(0.9, 0.999))  # noqa: E731
    opt_G, opt_D = adam(G), adam(D)
    ones, zeros = torch.ones(100, device=device), torch.zeros(100, device=device)
    real = 0.1 * torch.randn(100, 1, 100, device=device)  # (B, C, L)
    return lambda: post_step(G, D, opt_G, opt_D, nn.BCEWithLogitsLoss(), real, ones, zeros, 100)


def seconds_per_step(step, n: int, device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    for _ in range(n):
        step()
    sync(device)
    return (time.perf_counter() - t) / n


def op_rates(device: torch.device) -> str:
    """GFLOP/s of a 2048^3 matmul and ms of a WaveGAN-size transposed convolution (256 to 128 channels, length
    1024, kernel 25, stride 4, batch 16, forward and backward), float32 then bf16."""
    out = []
    for dtype in (torch.float32, torch.bfloat16):
        a, b = (torch.randn(2048, 2048, device=device, dtype=dtype) for _ in range(2))
        mm = seconds_per_step(lambda: a @ b, 1, device) and seconds_per_step(lambda: a @ b, 5, device)
        x = torch.randn(16, 256, 1024, device=device, dtype=dtype, requires_grad=True)
        conv = torch.nn.ConvTranspose1d(256, 128, 25, stride=4, padding=11, output_padding=1).to(device, dtype)
        run = lambda: conv(x).float().sum().backward()  # noqa: E731
        run()
        out.append((2 * 2048**3 / mm / 1e9, seconds_per_step(run, 2, device) * 1e3))
    (f_mm, f_conv), (b_mm, b_conv) = out
    return (f"matmul 2048^3: {f_mm:,.0f} GFLOP/s float32, {b_mm:,.0f} bf16 ({b_mm / f_mm:.1f}x); transposed conv "
            f"256->128 x 1024: {f_conv:.0f} ms float32, {b_conv:.0f} ms bf16 ({f_conv / b_conv:.1f}x)")


def profile(step, label: str) -> None:
    from torch.profiler import ProfilerActivity, profile as prof

    step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with prof(activities=acts) as p:
        step()
    key = "self_device_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    print(f"\n{label}\n" + p.key_averages().table(sort_by=key, row_limit=12, max_name_column_width=40))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=None, help=f"comma-separated, of {', '.join(ROWS)} (default on CPU: {CPU_ROWS}; "
                    "on CUDA: all)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is printed")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per round")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--profile", action="store_true", help="also print each row's top operators in both precisions")
    ap.add_argument("--cudnn-benchmark", default="auto", choices=["auto", "true", "false"],
                    help="let cuDNN time its algorithms for each shape (auto: as the trainer decides for the row)")
    a = ap.parse_args()
    device = torch.device(a.device)
    rows = (a.rows or (",".join(ROWS) if device.type == "cuda" else CPU_ROWS)).split(",")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, bf16 units: {cpu_bf16_units()}"
    print(f"torch {torch.__version__}, {device} ({name}), {torch.get_num_threads()} threads, "
          f"cudnn.benchmark {a.cudnn_benchmark}")
    print(op_rates(device), flush=True)
    print("\n| row | length | batch | G + D forward GFLOP | float32 s/step | bf16 s/step | bf16 gain | `--amp auto` here |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        preset, length, _, batch = ROWS[row]
        gflops = forward_gflops(make_config(preset, length=length, batch_size=batch, **ROWS[row][2]), 1, length)
        steps = {"float32": wavegen_step(row, "false", device), "bf16": wavegen_step(row, "true", device)}
        if row == "post":
            steps[REF] = reference_step(device)
        if a.cudnn_benchmark != "auto":
            torch.backends.cudnn.benchmark = a.cudnn_benchmark == "true"
        for step in steps.values():
            step()  # warm-up: oneDNN and cuDNN pick their kernels on first use
        best = dict.fromkeys(steps, float("inf"))
        for _ in range(a.rounds):
            for k, step in steps.items():
                best[k] = min(best[k], seconds_per_step(step, a.steps, device))
        on, _ = auto_amp(device, gflops)
        print(f"| {row} | {length} | {batch} | {gflops:.1f} | {best['float32']:.4f} | {best['bf16']:.4f} | "
              f"{best['float32'] / best['bf16']:.2f}x | {'on' if on else 'off'} |", flush=True)
        if row == "post":
            print(f"| {REF} (float32) | 100 | 100 | | {best[REF]:.4f} | | post bf16 vs it: {best[REF] / best['bf16']:.2f}x "
                  "| |", flush=True)
        if a.profile:
            profile(steps["float32"], f"{row}: float32")
            profile(steps["bf16"], f"{row}: bf16")
    print(f"\n`--amp auto` on {device.type}: on with bf16 hardware and at least {MIN_GFLOP[device.type]:g} GFLOP per batch "
          "(wavegen/training/precision.py).")


if __name__ == "__main__":
    main()
