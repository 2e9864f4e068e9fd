"""Sampling a trained generator into wav files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import checkpoint
from .errors import WavegenError
from .models.build import build_models, generator_mode, noise

MAX_FILES = 1_000_000  # wavs one generate writes: its samples are drawn in memory at once


def load_generator(path: str | Path, device: str = "cpu"):
    """G with the weights of a checkpoint file (see `checkpoint.find`), plus its config and whole state.
    A run with an average of G's weights (ema) samples from the average."""
    state = checkpoint.load(path, map_location=device)
    cfg = checkpoint.config_of(state, path)
    G, _ = build_models(cfg, state["data"]["channels"], state["data"]["length"])
    checkpoint.load_weights(G, state["G_ema"] if "G_ema" in state else state["G"], path)
    return G.to(device), cfg, state


def draw(G, cfg, n: int, mode: str, seed: int, device: torch.device) -> torch.Tensor:
    """`n` samples (n, C, L) on the CPU. Noise goes through G in batches of the training batch size, so
    that BatchNorm in "batch" or "train" mode sees batches like those it was trained on. Noise and dropout
    masks both come from `seed`; the caller's random stream is left as it was."""
    chunks = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), generator_mode(G, mode, device):
        torch.manual_seed(seed)
        for start in range(0, n, cfg.batch_size):
            chunks.append(G(noise(cfg, cfg.batch_size, device))[: n - start].float().cpu())  # (b, C, L)
    return torch.cat(chunks)


def interpolate(G, cfg, n: int, mode: str, seed: int, device: torch.device) -> torch.Tensor:
    """`n` samples (n, C, L) along a straight line between two noise vectors drawn from `seed`: a walk
    through G's latent space. Dropout is off in every mode here ("train" runs as "batch", the same without
    Dropout), so neighbours differ only by their noise."""
    mode = "batch" if mode == "train" else mode
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), generator_mode(G, mode, device):
        torch.manual_seed(seed)
        a, b = noise(cfg, 2, device)  # (nz, 1) each
        t = torch.linspace(0, 1, n, device=device)[:, None, None]
        z = (1 - t) * a + t * b  # (n, nz, 1)
        return torch.cat([G(z[i:i + cfg.batch_size]).float().cpu() for i in range(0, n, cfg.batch_size)])


def generate(run: str | Path, n: int, out: str | Path, step: int | None = None, mode: str | None = None,
             seed: int = 0, device: str = "cpu", walk: bool = False, best: bool = False) -> list[Path]:
    """Write `n` wavs at the data's sample rate (see `draw`), or with `walk` the `n` steps of a latent walk
    (see `interpolate`) as numbered wavs plus one wav of them all in a row (`walk.wav`). The checkpoint is the
    newest, the one at batch `step`, or with `best` checkpoints/best.pt."""
    if not 0 < n <= MAX_FILES:
        raise WavegenError(f"--n must be between 1 and {MAX_FILES:,}, got {n}")
    if not 0 <= seed < 2**63:
        raise WavegenError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WavegenError(f"{out}: is a file, not a folder to generate into")
    G, cfg, state = load_generator(checkpoint.find(run, step, best), device)
    mode = mode or cfg.sample_mode
    width = max(4, len(str(n - 1)))
    names = [out / f"{'step' if walk else 'sample'}_{i:0{width}d}.wav" for i in range(n)]
    clash = next((p for p in [*names, out / "walk.wav"] if p.exists()), None)
    if clash is not None:
        raise WavegenError(f"{clash}: exists; generate into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    make = interpolate if walk else draw
    audio = make(G, cfg, n, mode, seed, torch.device(device)).numpy()  # (n, C, L)
    sr = state["data"]["sample_rate"]
    for path, x in zip(names, audio):
        sf.write(path, x.T, sr, subtype="FLOAT")
    if walk:
        names.append(out / "walk.wav")
        sf.write(names[-1], np.concatenate(list(audio), axis=1).T, sr, subtype="FLOAT")  # (n * L, C)
    return names
