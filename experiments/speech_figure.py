"""Spectrograms of real clips and of conditional runs' samples of the same classes, side by side: does a sample have
a voice's harmonics (the stacked lines of a pitch and its multiples) where the real clips have them?

    python -m experiments.speech_figure RUN [RUN ...] [--classes one,four,seven] [--per 2] [--out docs/x.png]

One row per class and clip; the first column real clips of that class (the run's data, its first run's windows),
then one column per run: its newest checkpoint's samples asked for that class (`wavegen generate --class`), drawn
from a fixed seed. Log-power spectrograms (a 256-point STFT), 60 dB of range under each clip's loudest bin.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.signal import stft

from wavegen import checkpoint
from wavegen.data.source import open_examples
from wavegen.sampling import draw, load_generator

NPERSEG = 256  # 32 ms at 8 kHz: harmonics of a speaking voice's pitch resolve
RANGE_DB = 60.0  # shown under each clip's loudest bin


def real_clips(cfg, classes: list[str], per: int) -> dict[str, np.ndarray]:
    """per real windows (per, L) of each class, channels mixed, the first in the data's own order."""
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    labels = np.asarray(examples.labels)
    out = {}
    for name in classes:
        idx = np.flatnonzero(labels == examples.classes.index(name))[:per]
        out[name] = examples.get(torch.as_tensor(idx)).numpy().mean(1)
    return out


def samples(run: str, classes: list[str], per: int, seed: int) -> dict[str, np.ndarray]:
    G, cfg, state = load_generator(checkpoint.find(run))
    known = state["data"]["classes"]
    return {name: draw(G, cfg, per, cfg.sample_mode, seed, torch.device("cpu"),
                       labels=[known.index(name)] * per).numpy().mean(1) for name in classes}


def spectrogram(ax, x: np.ndarray, rate: int) -> None:
    f, t, z = stft(x, rate, nperseg=NPERSEG)
    db = 10 * np.log10(np.abs(z) ** 2 + 1e-12)
    ax.pcolormesh(t, f / 1000, db, vmin=db.max() - RANGE_DB, vmax=db.max(), shading="auto", cmap="magma")
    ax.set_xticks([])
    ax.set_yticks([0, 2, 4] if rate >= 8000 else [])


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wavegen.config import load_config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="conditional run folders (the first one's data gives the real clips)")
    ap.add_argument("--names", default="", help="comma-separated column titles for the runs (default: folder names)")
    ap.add_argument("--classes", default="one,four,seven")
    ap.add_argument("--per", type=int, default=2, help="clips of each class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="speech_spectrograms.png")
    a = ap.parse_args()
    classes = a.classes.split(",")
    cfg = load_config(Path(a.runs[0]) / "config.json")
    names = a.names.split(",") if a.names else [Path(r).name for r in a.runs]
    columns = [("real", real_clips(cfg, classes, a.per))] + [(n, samples(r, classes, a.per, a.seed))
                                                            for n, r in zip(names, a.runs)]
    rows = [(c, i) for c in classes for i in range(a.per)]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 1.3 * len(rows)), squeeze=False)
    for j, (title, clips) in enumerate(columns):
        axes[0, j].set_title(title, fontsize=9)
        for i, (c, k) in enumerate(rows):
            spectrogram(axes[i, j], clips[c][k], cfg.sample_rate)
            if j == 0:
                axes[i, j].set_ylabel(f"{c}\nkHz", fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}: {len(rows)} clips x {len(columns)} columns")


if __name__ == "__main__":
    main()
