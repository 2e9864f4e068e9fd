"""A short written summary of a run: length, speed, where the losses ended, and for the synthetic
Gaussian data how far the fixed-noise samples are from the ideal curve at every preview."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write
from .errors import WavegenError
from .plot import ideal_curve, load_preview, preview_steps
from .train import STAT_KEYS, read_stats

TRANSITION_RATIO = 2.0  # samples count as "nearly right" once their RMSE to the ideal curve is under 2x the noise
TAIL = 100  # batches averaged for the closing values


def ideal_error(run: str | Path) -> list[tuple[int, float]]:
    """(batch, RMSE of the preview samples to the ideal curve / the data's noise std) for every preview."""
    ideal = ideal_curve(run)
    if ideal is None:
        return []
    noise = json.loads((Path(run) / "data.json").read_text())["meta"]["noise"]
    out = []
    for step in preview_steps(run):
        x = load_preview(run, step)[:, 0]  # (n, L)
        rmse = float(np.sqrt(((x - ideal) ** 2).mean()))
        out.append((step, rmse / max(noise, 1e-12)))
    return out


def transition_step(errors: list[tuple[int, float]]) -> int | None:
    """The first preview at which the samples are within TRANSITION_RATIO noise levels of the ideal curve."""
    return next((s for s, r in errors if r < TRANSITION_RATIO), None)


def write_summary(run: str | Path) -> str:
    run = Path(run)
    rows = read_stats(run)
    batch_rows = [r for r in rows if "loss/G" in r]
    if not batch_rows:
        raise WavegenError(f"{run}: no training statistics (stats.jsonl) to summarise")
    cfg = json.loads((run / "config.json").read_text())
    walls = [r["time/wall_s"] for r in rows if "time/wall_s" in r]
    last = batch_rows[-1]
    tail = batch_rows[-TAIL:]
    lines = [f"# Run {run.name}", "",
             f"- preset `{cfg['preset']}`, data `{cfg['data']}`, batch {cfg['batch_size']}, lr G {cfg['lr_g']:g} / D {cfg['lr_d']:g}, betas ({cfg['beta1']}, {cfg['beta2']})",
             f"- trained {last['step']} batches ({last['epoch']} full epochs)"
             + (f" in {walls[-1]:.0f} s: {last['step'] / walls[-1]:.2f} batches/s" if walls and walls[-1] > 0 else ""),
             f"- mean of the last {len(tail)} batches: "
             + ", ".join(f"{k} {np.mean([r[k] for r in tail]):.4f}" for k in STAT_KEYS)]
    errors = ideal_error(run)
    if errors:
        t = transition_step(errors)
        lines += ["", "Fixed-noise samples against the ideal curve (RMSE / noise std; 1.0 means as close as the data itself):", "",
                  "| batch | RMSE / noise |", "|---:|---:|"]
        lines += [f"| {s} | {r:.2f} |" for s, r in errors]
        lines += ["", f"Transition (first preview with RMSE under {TRANSITION_RATIO:g}x the noise): "
                  + (f"batch {t}" if t is not None else "not reached")]
    text = "\n".join(lines) + "\n"
    atomic_write(run / "summary.md", lambda f: f.write(text.encode()))
    return text
