"""A short written summary of a run: length, speed, where the losses ended, and for the synthetic
Gaussian data how far the fixed-noise samples are from the ideal curve at every preview."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.synthetic import GaussianSpec
from ..errors import WavegenError
from ..evaluation.analysis import analyse, describe
from ..config import load_config
from ..atomic import atomic_write
from ..runfolder import read_eval, read_json_object, read_log, require_run
from ..statkeys import STAT_KEYS
from .plot import load_preview, preview_steps

SHAPE_SHARE = 0.8  # the shape milestone: samples first keep this share of the real data's shape score
TAIL = 100  # batches averaged for the closing values


def shape_score(x: np.ndarray, ideal: np.ndarray) -> float:
    """Mean Pearson correlation of each example (n, L) with the ideal curve: 1 is the curve's exact shape,
    0 is unrelated. Like the post's discriminator (BatchNorm on each batch), it ignores offset and scale."""
    xc = x - x.mean(1, keepdims=True)
    ic = ideal - ideal.mean()
    return float(((xc @ ic) / (np.linalg.norm(xc, axis=1) * np.linalg.norm(ic) + 1e-12)).mean())


def ideal_errors(run: str | Path) -> tuple[list[dict], float] | None:
    """Per preview: shape score, offset and RMSE (in noise std) to the ideal curve; and the real data's score."""
    path = Path(run) / "data.json"
    spec = GaussianSpec.from_meta(read_json_object(path, "the data description").get("meta") if path.exists() else None)
    if spec is None:
        return None
    ideal = spec.ideal()
    real_score = shape_score(spec.draw(1000, np.random.default_rng(0)), ideal)
    out = []
    for step in preview_steps(run):
        x = load_preview(run, step)[:, 0]  # (n, L)
        out.append({"step": step, "shape": shape_score(x, ideal), "offset": float((x - ideal).mean()),
                    "rmse": float(np.sqrt(((x - ideal) ** 2).mean())) / max(spec.noise, 1e-12)})
    return out, real_score


def shape_milestone(errors: list[dict], real_score: float, hold: int = 3) -> int | None:
    """The first preview from which the samples keep SHAPE_SHARE of the real data's shape score for `hold`
    previews in a row (a lucky early preview that falls back does not count). Not the transition, which is
    found in the training statistics (evaluation/analysis.py): this one looks at the samples themselves."""
    ok = [e["shape"] >= SHAPE_SHARE * real_score for e in errors]
    return next((e["step"] for i, e in enumerate(errors) if all(ok[i:i + hold])), None)


def write_summary(run: str | Path) -> str:
    run = require_run(run)
    cfg = load_config(run / "config.json").to_dict()
    log = read_log(run)
    batch_rows = log.batches
    if not batch_rows:
        raise WavegenError(f"{run}: no training statistics (stats.jsonl) to summarise")
    wall = log.wall_s()
    last = batch_rows[-1]
    tail = batch_rows[-TAIL:]
    lines = [f"# Run {run.name}", "",
             f"- preset `{cfg['preset']}`, data `{cfg['data']}`, batch {cfg['batch_size']}, lr G {cfg['lr_g']:g} / D {cfg['lr_d']:g}, betas ({cfg['beta1']}, {cfg['beta2']})",
             f"- trained {last['step']} batches ({last['epoch']} full epochs)"
             + (f" in {wall:.0f} s: {last['step'] / wall:.2f} batches/s" if wall else ""),
             f"- mean of the last {len(tail)} batches: "
             + ", ".join(f"{k} {np.mean([r[k] for r in tail]):.4f}" for k in STAT_KEYS)]
    if cfg.get("init_from"):  # --init-from: where its weights came from
        lines.insert(3, f"- started from `{cfg['init_from']}` (batch {cfg['init_step']}): architecture and weights")
    lines += ["", "From the statistics: " + describe(analyse(run)) + "."]
    result = read_eval(run)
    if result is not None:
        lines += ["", f"Scores of checkpoint {result['checkpoint']} (batch {result['step']}, `wavegen eval`), "
                  f"{result['n']} generated vs {result['n']} real ({result['real']}):", "",
                  "| metric | generated | real vs real |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['value']:.4g} | {v['real_vs_real']:.4g} |" for k, v in result["metrics"].items()]
    found = ideal_errors(run)
    if found:
        errors, real_score = found
        t = shape_milestone(errors, real_score)
        lines += ["", f"Fixed-noise samples against the ideal curve. Shape: mean correlation with the curve (real data: {real_score:.3f}); "
                  "offset: mean of sample - curve; RMSE in units of the data's noise std (real data: 1.00).", "",
                  "| batch | shape | offset | RMSE / noise |", "|---:|---:|---:|---:|"]
        lines += [f"| {e['step']} | {e['shape']:.3f} | {e['offset']:+.3f} | {e['rmse']:.2f} |" for e in errors]
        lines += ["", f"Shape milestone (first preview keeping a shape score of {SHAPE_SHARE:g} x the real data's): "
                  + (f"batch {t}" if t is not None else "not reached")]
    text = "\n".join(lines) + "\n"
    atomic_write(run / "summary.md", lambda f: f.write(text.encode()))
    return text
