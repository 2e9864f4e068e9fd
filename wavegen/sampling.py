"""Sampling a trained generator into wav files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import checkpoint
from .errors import WavegenError
from .models.build import generator_mode, noise
from .models.conditional import build_pair
from .atomic import atomic_write, remove_stale_temps, shown
from .runfolder import outside_data
from .runlock import FolderLock

MAX_FILES = 1_000_000  # wavs one generate writes: its samples are drawn in memory at once


def load_generator(path: str | Path, device: str = "cpu"):
    """G with the weights of a checkpoint file (see `checkpoint.find`), plus its config and whole state.
    A run with an average of G's weights (ema) samples from the average."""
    state = checkpoint.load(path, map_location=device)
    cfg = checkpoint.config_of(state, path)
    G, _ = build_pair(cfg, state["data"]["channels"], state["data"]["length"], len(state["data"].get("classes") or []))
    checkpoint.load_weights(G, state["G_ema"] if "G_ema" in state else state["G"], path)
    return G.to(device), cfg, state


def draw(G, cfg, n: int, mode: str, seed: int, device: torch.device, labels=None) -> torch.Tensor:
    """`n` samples (n, C, L) on the CPU. Noise goes through G in batches of the training batch size, so
    that BatchNorm in "batch" or "train" mode sees batches like those it was trained on. Noise and dropout
    masks both come from `seed`; the caller's random stream is left as it was. A conditional G makes sample i
    of class labels[i] (n ints), or without labels every class in turn."""
    chunks = []
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)
        labels = torch.cat([labels, labels.new_zeros(-n % cfg.batch_size)])  # whole batches; the rest is cut off
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), generator_mode(G, mode, device):
        torch.manual_seed(seed)
        for start in range(0, n, cfg.batch_size):
            y = () if labels is None else (labels[start:start + cfg.batch_size],)
            chunks.append(G(noise(cfg, cfg.batch_size, device), *y)[: n - start].float().cpu())  # (b, C, L)
    return torch.cat(chunks)


def interpolate(G, cfg, n: int, mode: str, seed: int, device: torch.device, labels=None) -> torch.Tensor:
    """`n` samples (n, C, L) along a straight line between two noise vectors drawn from `seed`: a walk
    through G's latent space. Dropout is off in every mode here ("train" runs as "batch", the same without
    Dropout), so neighbours differ only by their noise. A conditional G walks within class labels[i] (class 0
    without labels)."""
    mode = "batch" if mode == "train" else mode
    if getattr(cfg, "conditional", False):
        labels = torch.as_tensor(np.zeros(n, np.int64) if labels is None else np.asarray(labels), device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), generator_mode(G, mode, device):
        torch.manual_seed(seed)
        a, b = noise(cfg, 2, device)  # (nz, 1) each
        t = torch.linspace(0, 1, n, device=device)[:, None, None]
        z = (1 - t) * a + t * b  # (n, nz, 1)
        y = lambda i: () if labels is None else (labels[i:i + cfg.batch_size],)  # noqa: E731
        return torch.cat([G(z[i:i + cfg.batch_size], *y(i)).float().cpu() for i in range(0, n, cfg.batch_size)])


def between_classes(G, cfg, n: int, mode: str, seed: int, device: torch.device, a: int, b: int) -> torch.Tensor:
    """`n` samples (n, C, L) of one noise vector drawn from `seed`, while G's class embedding moves in a straight
    line from class a to class b: what changes is the class alone. Dropout is off, as in `interpolate`."""
    mode = "batch" if mode == "train" else mode
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), generator_mode(G, mode, device):
        torch.manual_seed(seed)
        z = noise(cfg, 1, device).expand(n, -1, -1)  # (n, nz, 1): the same noise throughout
        t = torch.linspace(0, 1, n, device=device)
        return torch.cat([G.blend(z[i:i + cfg.batch_size], a, b, t[i:i + cfg.batch_size]).float().cpu()
                          for i in range(0, n, cfg.batch_size)])


def chosen_classes(run, cfg, classes: list[str], name: str | None, per_class: bool) -> list[tuple[str | None, int | None]]:
    """(class name: the folder under OUT it goes to, or None; class number or None) of each group of files
    `generate` writes."""
    if name is not None and per_class:
        raise WavegenError("--class and --per-class both choose the classes; give one")
    if (name is not None or per_class) and not getattr(cfg, "conditional", False):
        raise WavegenError(f"{run}: not a conditional run (trained without --conditional true), so it cannot make a "
                           "chosen class")
    if name is not None and name not in classes:
        raise WavegenError(f"unknown class {name!r} (known: {', '.join(classes)})")
    if per_class:
        return list(zip(classes, range(len(classes))))
    return [(None, None if name is None else classes.index(name))]


def generate(run: str | Path, n: int, out: str | Path, step: int | None = None, mode: str | None = None,
             seed: int = 0, device: str = "cpu", walk: bool = False, best: bool = False, klass: str | None = None,
             per_class: bool = False, to: str | None = None) -> list[Path]:
    """Write `n` wavs at the data's sample rate (see `draw`), or with `walk` the `n` steps of a latent walk
    (see `interpolate`) as numbered wavs plus one wav of them all in a row (`walk.wav`). The checkpoint is the
    newest, the one at batch `step`, or with `best` checkpoints/best.pt. A conditional run makes class `klass`,
    or with `per_class` `n` files of every class into out/<class>/ (without either: every class in turn); with
    `walk`, `klass` and `to`, the walk goes from class `klass` to class `to` at fixed noise (`between_classes`)."""
    if not 0 < n <= MAX_FILES:
        raise WavegenError(f"--n must be between 1 and {MAX_FILES:,}, got {n}")
    if not 0 <= seed < 2**63:
        raise WavegenError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WavegenError(f"{out}: is a file, not a folder to generate into")
    G, cfg, state = load_generator(checkpoint.find(run, step, best), device)
    outside_data(cfg.data, out, "generate's output folder (--out)")
    classes = state["data"].get("classes") or []
    groups = chosen_classes(run, cfg, classes, klass, per_class)
    if to is not None:
        if not walk or klass is None:
            raise WavegenError("--to walks from --class to another class: give it with --interpolate and --class")
        if to not in classes:
            raise WavegenError(f"unknown class {to!r} (known: {', '.join(classes)})")
    mode = mode or cfg.sample_mode
    width = max(4, len(str(n - 1)))
    folders = [out / sub if sub else out for sub, _ in groups]
    names = [[d / f"{'step' if walk else 'sample'}_{i:0{width}d}.wav" for i in range(n)] for d in folders]
    written = []
    with FolderLock() as lock:  # one generate per folder; each wav is written whole or not at all
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WavegenError(f"{shown(out)}: cannot create the folder ({e.strerror or e})") from None
        lock.claim(out, "generate")
        for d in folders:
            remove_stale_temps(d)  # wavs a killed generate had begun
        clash = next((p for d, group in zip(folders, names) for p in [*group, d / "walk.wav"] if p.exists()), None)
        if clash is not None:
            raise WavegenError(f"{shown(clash)}: exists; generate into an empty folder")
        for d, group, (_, k) in zip(folders, names, groups):
            labels = None if k is None else np.full(n, k)
            if to is not None:
                audio = between_classes(G, cfg, n, mode, seed, torch.device(device), k, classes.index(to)).numpy()
            else:
                audio = (interpolate if walk else draw)(G, cfg, n, mode, seed, torch.device(device), labels).numpy()  # (n, C, L)
            written += _write(group, audio, state["data"]["sample_rate"], d / "walk.wav" if walk else None)
    return written


def _write(names: list[Path], audio: np.ndarray, sr: int, walk: Path | None) -> list[Path]:
    """audio (n, C, L) as float wavs `names`, and with `walk` all of them in a row, each written atomically."""
    def wav(path: Path, x: np.ndarray) -> None:  # x (C, L)
        atomic_write(path, lambda f: sf.write(f, x.T, sr, format="WAV", subtype="FLOAT"))

    for path, x in zip(names, audio):
        wav(path, x)
    if walk is not None:
        wav(walk, np.concatenate(list(audio), axis=1))  # (C, n * L)
        return [*names, walk]
    return list(names)
