"""Sampling a trained generator into wav files."""
from __future__ import annotations

from pathlib import Path

import soundfile as sf
import torch

from . import checkpoint
from .config import config_from_dict
from .errors import WavegenError
from .models import build_models, sample


def load_generator(path: str | Path, device: str = "cpu"):
    """G with the weights of a checkpoint file (see `checkpoint.find`), plus its config and whole state."""
    state = checkpoint.load(path, map_location=device)
    cfg = config_from_dict(state["config"])
    G, _ = build_models(cfg, state["data"]["channels"])
    G.load_state_dict(state["G"])
    return G.to(device), cfg, state


def draw(G, cfg, n: int, mode: str, seed: int, device: torch.device) -> torch.Tensor:
    """`n` samples (n, C, L) on the CPU. Noise goes through G in batches of the training batch size, so
    that BatchNorm in "batch" or "train" mode sees batches like those it was trained on. Noise and dropout
    masks both come from `seed`; the caller's random stream is left as it was."""
    chunks = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), sample(G, mode, device):
        torch.manual_seed(seed)
        for start in range(0, n, cfg.batch_size):
            z = torch.randn(cfg.batch_size, cfg.nz, 1, device=device)
            chunks.append(G(z)[: n - start].float().cpu())  # (b, C, L)
    return torch.cat(chunks)


def generate(run: str | Path, n: int, out: str | Path, step: int | None = None, mode: str | None = None,
             seed: int = 0, device: str = "cpu") -> list[Path]:
    """Write `n` wavs at the data's sample rate (see `draw`)."""
    if n <= 0:
        raise WavegenError(f"--n must be positive, got {n}")
    G, cfg, state = load_generator(checkpoint.find(run, step), device)
    mode = mode or cfg.sample_mode
    out = Path(out)
    width = max(4, len(str(n - 1)))
    names = [out / f"sample_{i:0{width}d}.wav" for i in range(n)]
    clash = next((p for p in names if p.exists()), None)
    if clash is not None:
        raise WavegenError(f"{clash}: exists; generate into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    audio = draw(G, cfg, n, mode, seed, torch.device(device)).numpy()  # (n, C, L)
    sr = state["data"]["sample_rate"]
    for path, x in zip(names, audio):
        sf.write(path, x.T, sr, subtype="FLOAT")
    return names
