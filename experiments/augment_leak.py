"""Do the augmentations leak into G's samples? One recipe trained with `--augment fixed` at several p for each op
alone, on a small data set, and what each op would leave in the samples if G learned it, against the data's and
against the same recipe without augmentation.

    python -m experiments.augment_leak [--data DIR | --sounds 200] [--preset audio] [--length 4096]
        [--sample-rate 8000] [--batches 2000] [--ps 0.2,0.5,0.8] [--ops shift,gain,eq,noise,mask] [--out runs/leak]

Each run is a normal run folder under --out (a finished one is reused); G's samples are its newest preview (64).
The columns, one per op's trace (each of a set of examples (n, L)):
  level   std over examples of their RMS in dB: gain's
  floor   median over examples of their quietest 64-sample frame, in dB under their loudest: noise's
  holes   share of examples with a silent run (under 1e-3 of their peak) of 1/32 of the length inside them: mask's
  onset   mean position of the first sample over 10% of the peak, a share of the length: shift's
  tilt    std over examples of the slope of their power spectrum, dB per octave: eq's
A leak shows as an op's column moving away from the data's row (and the unaugmented run's) as p grows.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wavegen.config import AUGMENT_OPS, make_config
from wavegen.data.synthetic import make_sounds
from wavegen.data.source import open_examples
from wavegen.reports.plot import load_preview, preview_steps
from wavegen.training.loop import train

FRAME = 64  # samples per frame of the noise floor
SILENT = 1e-3  # under this share of an example's peak a sample is silent
HOLE = 1 / 32  # a silent run this share of the length inside an example is a hole
ONSET = 0.1  # the onset: the first sample over this share of the peak


def leak_stats(x: np.ndarray) -> dict:
    """x (n, L) -> the traces each op would leave: level, floor, holes, onset, tilt."""
    n, length = x.shape
    rms = np.sqrt((x ** 2).mean(1)) + 1e-12
    frames = np.sqrt((x[:, :length // FRAME * FRAME].reshape(n, -1, FRAME) ** 2).mean(2)) + 1e-12  # (n, frames)
    peak = np.abs(x).max(1, keepdims=True) + 1e-12
    silent = np.abs(x) < SILENT * peak  # (n, L)
    run, holes = int(HOLE * length), np.zeros(n, bool)
    for i in range(n):  # a silent run of `run` samples that touches neither end
        loud = np.flatnonzero(~silent[i])
        if len(loud) > 1:
            holes[i] = np.diff(loud).max() > run
    onset = (np.abs(x) > ONSET * peak).argmax(1) / length
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2 + 1e-20  # (n, F)
    f = np.fft.rfftfreq(length)
    band = f >= 1 / 64  # above the lowest octaves, where few bins carry the fit
    slope = np.polyfit(np.log2(f[band]), 10 * np.log10(power[:, band]).T, 1)[0]  # (n,) dB per octave
    return {"level": float(np.std(20 * np.log10(rms))),
            "floor": float(np.median(20 * np.log10(frames.min(1) / frames.max(1)))),
            "holes": float(holes.mean()), "onset": float(onset.mean()), "tilt": float(np.std(slope))}


def samples(run: Path) -> np.ndarray:
    return load_preview(run, preview_steps(run)[-1]).mean(1)  # (64, L), channels mixed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="a folder of audio (default: --sounds synthetic sounds)")
    ap.add_argument("--sounds", type=int, default=200, help="without --data: this many `wavegen data sounds` clips")
    ap.add_argument("--preset", default="audio")
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--ps", default="0.2,0.5,0.8")
    ap.add_argument("--ops", default=",".join(AUGMENT_OPS))
    ap.add_argument("--width", type=int, default=16, help="ngf and ndf")
    ap.add_argument("--out", default="runs/augment_leak")
    a = ap.parse_args()
    out = Path(a.out)
    data = a.data or str(out / "data" if (out / "data").exists() else make_sounds(out / "data", a.sounds, a.sample_rate, 0.5))
    base = dict(data=data, length=a.length, sample_rate=a.sample_rate, batches=a.batches, ngf=a.width, ndf=a.width,
                preview_every=a.batches, ckpt_every=a.batches, eval_every=0, print_every=10**6)
    runs = {"none": {}}
    for op in a.ops.split(","):
        for p in (float(s) for s in a.ps.split(",")):
            runs[f"{op} p {p:g}"] = dict(augment="fixed", augment_ops=(op,), augment_p=p)
    rows = {}
    for name, kw in runs.items():
        run = out / name.replace(" ", "_")
        if not (run / "checkpoints").exists():
            train(make_config(a.preset, out=str(run), **base, **kw))
        rows[name] = leak_stats(samples(run))
    cfg = make_config(a.preset, **base)
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    import torch

    real = examples.get(torch.arange(min(256, examples.n))).numpy().mean(1)  # (n, L)
    print(f"{a.preset} at width {a.width}, {a.batches} batches, {examples.n} examples of {a.length} samples at "
          f"{a.sample_rate} Hz; G's 64 preview samples per run\n")
    print("| run | level (gain) dB | floor (noise) dB | holes (mask) | onset (shift) | tilt std (eq) dB/oct |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in {f"data ({len(real)})": leak_stats(real), **rows}.items():
        print(f"| {name} | {s['level']:.1f} | {s['floor']:.1f} | {s['holes']:.0%} | {s['onset']:.3f} | {s['tilt']:.2f} |")


if __name__ == "__main__":
    main()
