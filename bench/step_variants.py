"""Where the post step's time goes, and speed ideas that were measured and not kept (issue 5).

    python -m bench.step_variants [--profile-only]

0. A profile of 20 post-preset steps (torch.profiler): each op's share of self CPU time, with torch's masks
   and with --dropout-masks int32.
1. torch.compile (inductor) of G's and D's layer stacks against eager, post-preset steps per second, after a
   warm-up that includes the compile (its time is printed too).
2. One D pass over real and fake together (batch 200) against the post's two passes of 100: forward and
   backward of D, milliseconds (keeping the post's per-batch BatchNorm statistics in one pass would add work
   on top, so this bounds what the idea could save).
"""
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from bench.fixed_batch_step import fixed_batch_step
from wavegen import make_config
from wavegen.models import build_models


def profile_shares(masks: str, steps: int = 20, top: int = 8) -> str:
    _, _, step = fixed_batch_step(make_config("post", dropout_masks=masks))
    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    return ", ".join(f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in ops[:top])


def steps_per_second(compiled: bool, batches: int = 60) -> tuple[float, float]:
    G, D, step = fixed_batch_step(make_config("post"))
    if compiled:
        G.main, D.main = torch.compile(G.main), torch.compile(D.main)
    t = time.perf_counter()
    for _ in range(5):  # warm-up (and the compile)
        step()
    warm = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(batches):
        stats = step()
    stats.tolist()
    return batches / (time.perf_counter() - t), warm


def d_pass_ms(reps: int = 30) -> tuple[float, float]:
    _, D = build_models(make_config("post"), 1)
    x = torch.randn(200, 1, 100)
    one = lambda: D(x).sum().backward()  # noqa: E731
    two = lambda: (D(x[:100]).sum() + D(x[100:]).sum()).backward()  # noqa: E731
    out = []
    for f in (one, two):
        f()
        t = time.perf_counter()
        for _ in range(reps):
            f()
        out.append((time.perf_counter() - t) / reps * 1000)
    return out[0], out[1]


if __name__ == "__main__":
    for masks in ("torch", "int32"):
        print(f"profile, {masks} masks (share of self CPU time): {profile_shares(masks)}", flush=True)
    if "--profile-only" in sys.argv:
        sys.exit()
    for round_ in range(2):
        eager, _ = steps_per_second(False)
        comp, warm = steps_per_second(True)
        one, two = d_pass_ms()
        print(f"round {round_ + 1}: eager {eager:.2f} batches/s, torch.compile {comp:.2f} batches/s "
              f"(warm-up with compile {warm:.0f} s); D forward+backward: one pass of 200 {one:.1f} ms, "
              f"two passes of 100 {two:.1f} ms", flush=True)
