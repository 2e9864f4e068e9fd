"""What wavegen does on a CUDA GPU, in one table: run by bench/gpu_check.sh (at most 8 minutes on one GPU).

    python bench/gpu_check.py [--smoke]

Rows: the post and fast presets' training speed (batches/s, whole loop: data, step, stats, previews), the fast
preset's time to the quality bar (bench/time_to_quality.py's bar, seed 0), WaveGAN at the paper's size (d 64,
16384 samples, batch 64, WGAN-GP with 5 D steps) in float32 and bf16 (bench/bf16.py's step), the `audio` preset
when it exists, and a torchrun run (NCCL on a GPU), each with its peak GPU memory.
Without a GPU it says so and runs every row at smoke size on the CPU, so that the script cannot rot; `--smoke`
does the same on a GPU.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bf16 import seconds_per_step, wavegen_step  # noqa: E402
from time_to_quality import Bars, wavegen_run  # noqa: E402

from wavegen import GaussianSpec, make_config, make_gaussian, read_stats, train  # noqa: E402
from wavegen.config import PRESETS  # noqa: E402


@dataclass
class Size:
    examples: int  # seed-data files
    batches: int  # per speed run
    ttq_batches: int  # most batches of the time-to-quality run
    wavegan: str  # bench/bf16.py row
    steps: int  # timed WaveGAN steps per precision


FULL = Size(examples=10000, batches=600, ttq_batches=1500, wavegan="wavegan-paper", steps=5)
SMOKE = Size(examples=300, batches=6, ttq_batches=4, wavegan="wavegan-4096", steps=1)


def peak_mb(device: torch.device) -> str:
    if device.type != "cuda":
        return "-"
    mb = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return f"{mb:,.0f}"


def loop_speed(data: str, preset: str, batches: int, tmp: str, **overrides) -> str:
    """Batches per second of a whole training run (the run's own loop time, startup excluded)."""
    run = train(make_config(preset, data=data, out=f"{tmp}/{preset}", batches=batches, ckpt_every=10**9,
                            print_every=10**9, **overrides))
    wall = [r["time/wall_s"] for r in read_stats(run) if "time/wall_s" in r][-1]
    return f"{batches / wall:.1f} batches/s"


def time_to_bar(data: str, batches: int, bar: float = 1.5) -> str:
    """Training seconds until the fast preset's samples first score a Frechet distance at or under `bar`
    (bench/time_to_quality.py's run and bar: 500 samples, scored every 50 batches), seed 0."""
    r = wavegen_run(data, "fast", batches, every=max(1, min(50, batches // 2)), n=500, bars=Bars(bar, 0.6, bar))
    hit = r["hits"].get("frechet")
    if hit:
        return f"{hit['seconds']:.1f} s ({hit['batch']} batches)"
    return f"not reached in {batches} batches ({r['ran_seconds']:.0f} s)"


def wavegan_speed(row: str, amp: str, steps: int, device: torch.device) -> str:
    step = wavegen_step(row, amp, device)
    step()  # warm-up: cuDNN and oneDNN pick their kernels
    return f"{seconds_per_step(step, steps, device):.3f} s/batch"


def audio_speed(tmp: str, size: Size) -> str:
    """The audio preset at its own length (16384 at 16 kHz), or a quarter of it at smoke size."""
    if "audio" not in PRESETS:
        return "no `audio` preset yet"
    from wavegen.data.synthetic import make_sounds

    data = make_sounds(f"{tmp}/sounds", 64, 16000, 1.0, 0)
    smoke = {"length": 4096, "batch_size": 4} if size is SMOKE else {}
    return loop_speed(str(data), "audio", size.batches, tmp, **smoke)


def torchrun_speed(data: str, batches: int, tmp: str, device: torch.device) -> str:
    """A fast-preset run under torchrun, one rank per GPU (NCCL), or one CPU rank (gloo) without one: the smoke run
    checks the launch, tests/test_distributed.py checks several ranks."""
    ranks = torch.cuda.device_count() if device.type == "cuda" else 1
    out = f"{tmp}/torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks), "-m", "wavegen",
           "train", data, "--preset", "fast", "--batches", str(batches), "--out", out, "--ckpt-every", str(10**9)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode:  # torchrun ends with a banner: the cause is the last line that names an error
        lines = r.stderr.strip().splitlines() or ["no output"]
        return "failed: " + next((x for x in reversed(lines) if "Error" in x or "error" in x), lines[-1])[:160]
    wall = [x["time/wall_s"] for x in read_stats(out) if "time/wall_s" in x][-1]
    backend = "NCCL" if device.type == "cuda" else "gloo"
    return f"{batches / wall:.1f} batches/s on {ranks} rank(s), {backend}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="every row at smoke size (what runs on a CPU)")
    a = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    size = SMOKE if a.smoke or not cuda else FULL
    if cuda:
        p = torch.cuda.get_device_properties(device)
        print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, {torch.cuda.device_count()} device(s); torch "
              f"{torch.__version__}, CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}")
    else:
        print(f"no CUDA GPU here: every row runs at smoke size on the CPU (torch {torch.__version__}); "
              "these are not GPU figures")
    rows: list[tuple[str, str, str]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = str(make_gaussian(f"{tmp}/gaussian", GaussianSpec(n=size.examples)))
        checks = [
            ("post preset (float32)", lambda: loop_speed(data, "post", size.batches, tmp)),
            ("fast preset (`--amp auto`)", lambda: loop_speed(data, "fast", size.batches, tmp)),
            ("fast: time to Frechet <= 1.5", lambda: time_to_bar(data, size.ttq_batches)),
            (f"{size.wavegan}, float32", lambda: wavegan_speed(size.wavegan, "false", size.steps, device)),
            (f"{size.wavegan}, bf16", lambda: wavegan_speed(size.wavegan, "true", size.steps, device)),
            ("audio preset", lambda: audio_speed(tmp, size)),
            ("torchrun, fast preset", lambda: torchrun_speed(data, size.batches, tmp, device)),
        ]
        for name, check in checks:
            peak_mb(device)
            t = time.perf_counter()
            result = check()
            rows.append((name, result, peak_mb(device)))
            print(f"  {name}: {result} ({time.perf_counter() - t:.0f} s)", flush=True)
    print("\n| check | result | peak GPU MB |\n|---|---|---:|")
    for name, result, mb in rows:
        print(f"| {name} | {result} | {mb} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
