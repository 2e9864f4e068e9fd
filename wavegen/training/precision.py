"""Whether a run computes in bfloat16: `--amp auto` turns it on only where it was measured to pay.

bf16 autocast halves the bytes each activation moves and, on hardware with bf16 dot-product or matrix units, raises
the arithmetic ceiling; it also adds casts and, on a GPU, kernel launches. So it pays only when a training step holds
enough arithmetic: measured with bench/bf16.py (docs/performance.md, "bfloat16"), per batch of G and D forward FLOPs:
  - a CPU with bf16 units (AVX-512 BF16 or AMX): 1.0x at the fast preset (0.1 GFLOP), 1.2x for WaveGAN at 4096
    samples, d 16, batch 16 (0.7 GFLOP), 1.4x at 16384 samples, d 32 (13.7 GFLOP);
  - an H200 with cuDNN's autotuner: 0.8x to 0.9x up to WaveGAN at d 32, batch 16 (13.7 GFLOP: launch-bound),
    1.4x at the paper's size (d 64, batch 64: 217 GFLOP).
The choice is made once, printed, and saved in the run's config.json, so a resumed run keeps it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import Config
from .distributed import World
from .graph import resolve_cuda_graph
from ..models.build import build_models

MIN_GFLOP = {"cpu": 0.5, "cuda": 100.0}  # G + D forward GFLOP per batch from which bf16 was measured to pay


def cpu_bf16_units() -> str | None:
    """The name of this CPU's bf16 arithmetic units ("AMX", "AVX-512 BF16"), or None (also off Linux)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    return None


def forward_gflops(cfg: Config, channels: int, length: int) -> float:
    """GFLOP of one batch through G and then D (convolutions and matmuls, as torch counts them). Counted on the meta
    device (no memory, no arithmetic); for models with an op that has no meta kernel (torch.istft), on one example
    on the CPU, scaled to the batch, with the random streams left as they were."""
    try:
        return _count(cfg, channels, length, torch.device("meta"), cfg.batch_size)
    except (NotImplementedError, RuntimeError):
        with torch.random.fork_rng(devices=[]):
            return _count(cfg, channels, length, torch.device("cpu"), 1) * cfg.batch_size


def _count(cfg: Config, channels: int, length: int, device: torch.device, batch: int) -> float:
    with device:
        G, D = build_models(cfg, channels, length)
        z = torch.zeros(batch, cfg.nz, 1)  # (B, nz, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        D(G(z))
    return counter.get_total_flops() / 1e9


def auto_amp(device: torch.device, gflops: float) -> tuple[bool, str]:
    """(on, why) for `--amp auto` on `device`, for a step of `gflops` G + D forward GFLOP per batch."""
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            return False, f"{torch.cuda.get_device_name(device)} has no bf16 support"
        units = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        units = cpu_bf16_units()
        if units is None:
            return False, "this CPU has no bf16 units"
        units = f"this CPU's {units} units"
    else:
        return False, f"not measured on {device.type}"
    least = MIN_GFLOP[device.type]
    if gflops < least:
        return False, f"{gflops:.1f} GFLOP per batch is too little for {units} to pay (from {least:g})"
    return True, f"{gflops:.1f} GFLOP per batch on {units}"


def resolve_amp(asked: str, device: torch.device, gflops: float) -> tuple[str, str]:
    """The run's amp value ("true" / "false") for the value asked ("auto", "true", "false"), and why."""
    if asked != "auto":
        return asked, "as configured"
    on, why = auto_amp(device, gflops)
    return ("true" if on else "false"), f"auto: {why}"


def autotune_convolutions(device: torch.device, gflops: float) -> None:
    """Let cuDNN time its algorithms for each shape and keep the fastest, where a step is big enough for that to pay:
    WaveGAN at the paper's size ran 1.3x faster in float32 and 1.9x in bf16 on an H200, while the post presets,
    launch-bound, only paid the timing at start. A process-wide switch: set for each run (or bench row)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = gflops >= MIN_GFLOP["cuda"]


def choose_precision(cfg: Config, device: torch.device, world: World, channels: int, length: int) -> tuple[Config, bool]:
    """The run's config with amp "auto" resolved for this device and model (config.json records the choice, so a
    resume keeps it), and whether its steps replay from a CUDA graph; cuDNN's autotuner set; both choices printed."""
    gflops = forward_gflops(cfg, channels, length)
    amp, why = resolve_amp(cfg.amp, device, gflops)
    autotune_convolutions(device, gflops)
    graphed, graph_why = resolve_cuda_graph(cfg, device, world)
    if world.main:
        print(f"bf16 autocast: {'on' if amp == 'true' else 'off'} ({why})", flush=True)
        if device.type == "cuda":
            print(f"CUDA graph: {'on' if graphed else 'off'} ({graph_why})", flush=True)
    return replace(cfg, amp=amp), graphed
