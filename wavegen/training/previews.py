"""Previews: G's output on the run's fixed noise, saved every few batches for the figures, the report and
TensorBoard; audio runs also get a few of them as wav files to listen to."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .. import atomic

PREVIEW_WAVS = 4  # fixed-noise previews of audio runs also written as wav files, per preview step
TB_AUDIO = 4  # previews sent to TensorBoard as audio, per preview step


def preview_path(run: str | Path, step: int) -> Path:
    return Path(run) / "previews" / f"step_{step:08d}.npy"


def save_wav(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """(C, L) float32 as a float wav (no clipping, no quantisation)."""
    atomic.atomic_write(path, lambda f: sf.write(f, x.T, sample_rate, format="WAV", subtype="FLOAT"))


def save_preview(run: Path, step: int, x: torch.Tensor, sample_rate: int, audio: bool, tb=None) -> None:
    """Save previews x (n, C, L) taken at `step`: always as .npy, as wavs when the data is audio rather than
    the post's curves, and to TensorBoard (`tb`, a SummaryWriter) as audio and a figure."""
    out = x.numpy()
    path = preview_path(run, step)
    atomic.atomic_write(path, lambda f: np.save(f, out))
    if audio:
        for i in range(min(PREVIEW_WAVS, len(out))):
            save_wav(path.with_name(f"{path.stem}_{i}.wav"), out[i], sample_rate)
    if tb is not None:
        _tensorboard(tb, step, x, sample_rate)


def _tensorboard(tb, step: int, x: torch.Tensor, sample_rate: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for i in range(min(TB_AUDIO, len(x))):
        tb.add_audio(f"preview/{i}", x[i].mean(0).clamp(-1, 1), step, sample_rate)  # channels mixed to mono
    fig, axes = plt.subplots(2, 4, figsize=(10, 4), sharex=True, sharey=True)
    for ax, s in zip(axes.flat, x):
        ax.plot(s.T.numpy(), lw=0.7)
    tb.add_figure("preview/samples", fig, step)  # closes the figure
