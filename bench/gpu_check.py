"""What wavegen does on a CUDA GPU, in one table: run by bench/gpu_check.sh (at most 8 minutes on one GPU).

    python -m bench.gpu_check [--smoke]

Rows: the post, fast and audio presets' training speed (batches/s, whole loop: data, step, stats, previews) and
WaveGAN at the paper's size (d 64, 16384 samples, batch 64, WGAN-GP with 5 D steps; s/batch) in float32 and bf16,
each eager and with the step replayed from a CUDA graph (`--cuda-graph false` / `true`) side by side; the fast
preset's time to the quality bar (bench/time_to_quality.py's bar, seed 0); a torchrun run (NCCL on a GPU); each
with its peak GPU memory.
Without a GPU it says so and runs every row at smoke size on the CPU (eager only: a graph needs CUDA), so that the
script cannot rot; `--smoke` does the same on a GPU.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

from bench.time_to_quality import Bars, wavegen_run
from wavegen import GaussianSpec, make_config, make_gaussian, read_stats, train


@dataclass
class Size:
    examples: int  # files of the post's data
    batches: int  # per speed run of the small presets
    ttq_batches: int  # most batches of the time-to-quality run
    wavegan_batches: int  # per WaveGAN run
    wavegan: dict  # WaveGAN's shape


FULL = Size(examples=10000, batches=600, ttq_batches=1500, wavegan_batches=40,
            wavegan=dict(length=16384, batch_size=64, ngf=64, ndf=64))
SMOKE = Size(examples=300, batches=6, ttq_batches=4, wavegan_batches=2,
             wavegan=dict(length=4096, batch_size=4, ngf=8, ndf=8))


def peak_mb(device: torch.device) -> str:
    if device.type != "cuda":
        return "-"
    mb = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return f"{mb:,.0f}"


def loop_seconds(data: str, preset: str, batches: int, tmp: str, **overrides) -> float:
    """Seconds per batch of a whole training run over its second half (the loop's own time between the two
    checkpoints: start-up, warm-up and the graphs' capture fall in the first half)."""
    out, half = tempfile.mkdtemp(dir=tmp), batches // 2
    run = train(make_config(preset, data=data, out=f"{out}/run", batches=batches, ckpt_every=half, keep_ckpts=1,
                            print_every=10**9, preview_every=10**9, **overrides))
    walls = {r["step"]: r["time/wall_s"] for r in read_stats(run) if "time/wall_s" in r}
    return (walls[batches] - walls[half]) / (batches - half)


def side_by_side(cuda: bool, unit: str, seconds) -> tuple[str, str]:
    """`seconds(graph)` eager and, on CUDA, replayed from a CUDA graph: (the two figures, the speed-up)."""
    eager = seconds("false")
    show = (lambda s: f"{1 / s:.1f} batches/s") if unit == "rate" else (lambda s: f"{s:.3f} s/batch")
    if not cuda:
        return f"{show(eager)} | no CUDA", "-"
    graph = seconds("true")
    return f"{show(eager)} | {show(graph)}", f"{eager / graph:.1f}x"


def time_to_bar(data: str, batches: int, bar: float = 1.5) -> str:
    """Training seconds until the fast preset's samples first score a Frechet distance at or under `bar`
    (bench/time_to_quality.py's run and bar: 500 samples, scored every 50 batches), seed 0."""
    r = wavegen_run(data, "fast", batches, every=max(1, min(50, batches // 2)), n=500, bars=Bars(bar, 0.6, bar))
    hit = r["hits"].get("frechet")
    if hit:
        return f"{hit['seconds']:.1f} s ({hit['batch']} batches)"
    return f"not reached in {batches} batches ({r['ran_seconds']:.0f} s)"


def sounds(tmp: str) -> str:
    from wavegen.data.synthetic import make_sounds

    return str(make_sounds(f"{tmp}/sounds", 64, 16000, 1.0, 0))


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
    rows: list[tuple[str, str, str, str]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = str(make_gaussian(f"{tmp}/gaussian", GaussianSpec(n=size.examples)))
        clips = sounds(tmp)
        smoke_audio = {"length": 4096, "batch_size": 4} if size is SMOKE else {}
        n, wg = size.batches, size.wavegan

        def speed(*a, **kw):
            return lambda graph: loop_seconds(*a, cuda_graph=graph, **kw)

        checks = [
            ("post preset (float32)", "rate", speed(data, "post", n, tmp)),
            ("fast preset (`--amp auto`)", "rate", speed(data, "fast", n, tmp)),
            ("audio preset", "rate", speed(clips, "audio", n, tmp, **smoke_audio)),
            ("WaveGAN, the paper's size, float32", "seconds",
             speed(clips, "wavegan", size.wavegan_batches, tmp, amp="false", **wg)),
            ("WaveGAN, the paper's size, bf16", "seconds",
             speed(clips, "wavegan", size.wavegan_batches, tmp, amp="true", **wg)),
        ]
        for name, unit, seconds in checks:
            peak_mb(device)
            t = time.perf_counter()
            result, gain = side_by_side(cuda, unit, seconds)
            rows.append((name, result, gain, peak_mb(device)))
            print(f"  {name}: {result} ({gain}; {time.perf_counter() - t:.0f} s)", flush=True)
        for name, check in [("fast: time to Frechet <= 1.5", lambda: time_to_bar(data, size.ttq_batches)),
                            ("torchrun, fast preset", lambda: torchrun_speed(data, n, tmp, device))]:
            peak_mb(device)
            result = check()
            rows.append((name, f"{result} | -", "-", peak_mb(device)))
            print(f"  {name}: {result}", flush=True)
    print("\n| check | eager | CUDA graph | speed-up | peak GPU MB |\n|---|---|---|---:|---:|")
    for name, result, gain, mb in rows:
        print(f"| {name} | {result} | {gain} | {mb} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
