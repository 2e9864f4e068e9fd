"""What an audio run's generator has learned, in plain terms: loudness, envelope and brightness of its newest
fixed-noise preview against real examples of its data.

    python -m experiments.audio_character runs/NAME [--n 200]

RMS and peak per example; the share of the energy in the first half of the window (percussive sounds: most);
the median spectral centroid (the "brightness", from a 256-point STFT). Real examples are every 8th window of
the run's data (epoch 0), the generated ones the 64 samples of the newest preview.
"""
import argparse
import glob
from pathlib import Path

import numpy as np
import torch
from scipy.signal import stft

from wavegen.config import load_config
from wavegen.data.source import open_examples


def character(x: np.ndarray, sample_rate: int) -> dict:
    """x (n, L) -> mean RMS, mean peak, mean first-half energy share, median spectral centroid in Hz."""
    f, _, Z = stft(x, sample_rate, nperseg=256)
    power = np.abs(Z) ** 2  # (n, freqs, frames)
    centroid = (f[None, :, None] * power).sum(1) / (power.sum(1) + 1e-12)
    energy = x ** 2
    half = x.shape[1] // 2
    return {"rms": float(np.sqrt(energy.mean(1)).mean()), "peak": float(np.abs(x).max(1).mean()),
            "first_half_energy": float((energy[:, :half].sum(1) / (energy.sum(1) + 1e-12)).mean()),
            "centroid_hz": float(np.median(centroid))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=200, help="real examples (default 200)")
    a = ap.parse_args()
    cfg = load_config(Path(a.run) / "config.json")
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    real = examples.get(torch.arange(0, examples.n, 8)[:a.n]).numpy().mean(1)  # (n, L), channels mixed
    newest = sorted(glob.glob(str(Path(a.run) / "previews" / "step_*.npy")))[-1]
    fake = np.load(newest).mean(1)  # (64, L)
    print(f"| | RMS | peak | energy in first half | spectral centroid |\n|---|---:|---:|---:|---:|")
    for name, x in ((f"real ({len(real)})", real), (f"generated ({Path(newest).stem})", fake)):
        c = character(x, examples.sample_rate)
        print(f"| {name} | {c['rms']:.2f} | {c['peak']:.2f} | {c['first_half_energy']:.0%} | {c['centroid_hz']:.0f} Hz |")


if __name__ == "__main__":
    main()
