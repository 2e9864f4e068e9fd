"""Find the post's "transition" and the later drift ("divergence") in a run's statistics.

Two signals, used together where both exist:
- D's margin, the smoothed gap between its mean logit on real and on fake batches (D/real - D/fake). In the
  garbage phase D separates the two by several logits; the transition is where that gap collapses.
- A quality score logged during training (`eval/<metric>` rows, e.g. a Frechet distance), read as its distance
  from perfect (`Metric.badness`: the value itself for a distance, |accuracy - 0.5| for c2st, |log| for ratios).

Definitions (all on the smoothed curves):
- transition, from quality: the first evaluation from which the score has covered at least half of its way,
  in log scale, from its worst value before the best (the garbage phase) to the best (at least MIN_GAIN times
  better), for HOLD evaluations in a row;
- transition, from the margin: the first batch after the margin's peak (at least MIN_PEAK logits) at which it
  has fallen below half of that peak;
- divergence: after the transition, the first point from which the quality falls back below halfway (in log
  scale) for HOLD evaluations, or, from the stats alone (smoothed over a longer window), where the margin has
  climbed DRIFT logits above its post-transition minimum while G's loss rose by DRIFT_G_LOSS x its minimum,
  and both stay so for PERSIST batches or until the end of the run.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import load_config
from ..atomic import atomic_write
from ..runfolder import RunLog, read_stats, require_run
from .metrics import METRICS

MIN_PEAK = 2.0  # a garbage phase means D separated real from fake by at least this many logits
DRIFT = 1.5  # logits the margin must regain above its post-transition minimum to count as drifting apart
DRIFT_G_LOSS = 1.5  # ... while G's smoothed loss is this many times its post-transition minimum
HOLD = 2  # evaluations in a row a quality change must hold
MIN_GAIN = 2.0  # a quality transition needs the best score at least this many times better than the first
PERSIST = 500  # batches a drift must last (or last until the end of the run) to count as divergence


def smooth(y: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average that keeps the length (edges padded with edge values)."""
    if n <= 1 or len(y) < 2:
        return y.astype(float)
    n = min(n, len(y))
    k = np.ones(n) / n
    return np.convolve(np.pad(y.astype(float), (n // 2, n - 1 - n // 2), mode="edge"), k, mode="valid")


def window(n_rows: int) -> int:
    return max(20, n_rows // 100)


def margin_transition(steps: np.ndarray, margin: np.ndarray) -> int | None:
    if len(steps) < 10:
        return None
    peak_i = int(np.argmax(margin))
    if margin[peak_i] < MIN_PEAK:
        return None
    below = np.nonzero(margin[peak_i:] < margin[peak_i] / 2)[0]
    return int(steps[peak_i + below[0]]) if len(below) else None


def worst_before_best(scores: np.ndarray) -> int:
    """Index of the worst score before the best one: where the garbage phase peaked (an untrained G can
    score better than the garbage it first learns to make, so the first score is not the reference)."""
    return int(np.argmax(scores[:int(np.argmin(scores)) + 1]))


def quality_progress(scores: np.ndarray) -> np.ndarray:
    """0 at the worst score before the best, 1 at the best, in log scale (scores are distances, lower is better)."""
    logs = np.log(np.maximum(scores, 1e-12))
    worst = logs[worst_before_best(scores)]
    span = worst - logs.min()
    return (worst - logs) / span if span > 0 else np.zeros_like(logs)


def quality_transition(steps: np.ndarray, scores: np.ndarray) -> int | None:
    if len(scores) < 3 or scores[worst_before_best(scores)] < MIN_GAIN * scores.min():
        return None
    ok = quality_progress(scores) >= 0.5
    first = worst_before_best(scores)
    return next((int(steps[i]) for i in range(first, len(ok)) if ok[i:i + HOLD].all() and i + HOLD <= len(ok)), None)


def quality_divergence(steps: np.ndarray, scores: np.ndarray, after: int) -> int | None:
    progress = quality_progress(scores)
    best = int(np.argmin(scores))
    bad = progress < 0.5
    for i in range(max(best, int(np.searchsorted(steps, after))), len(bad)):
        if bad[i:i + HOLD].all() and i + HOLD <= len(bad):
            return int(steps[i])
    return None


def margin_divergence(steps: np.ndarray, margin: np.ndarray, loss_g: np.ndarray, after: int) -> int | None:
    start = int(np.searchsorted(steps, after))
    if start >= len(steps) - 1:
        return None
    i_min = start + int(np.argmin(margin[start:]))
    drifting = (margin > margin[i_min] + DRIFT) & (loss_g > DRIFT_G_LOSS * loss_g[start:].min())
    for i in range(i_min, len(steps)):
        span = drifting[i:int(np.searchsorted(steps, steps[i] + PERSIST))]
        if drifting[i] and span.all():
            return int(steps[i])
    return None


def analyse_rows(rows: list[dict], metric: str | None = None) -> dict:
    """Transition and divergence from stats rows (batch rows and `eval/...` rows)."""
    log = RunLog.from_rows(rows)
    batch = log.batches
    out: dict = {"transition": None, "divergence": None, "transition_margin": None, "transition_quality": None,
                 "metric": None, "best": None}
    if not batch:
        return out
    steps = np.array([r["step"] for r in batch])
    w = window(len(batch))
    margin = smooth(np.array([r["D/real"] - r["D/fake"] for r in batch]), w)
    loss_g = smooth(np.array([r["loss/G"] for r in batch]), w)
    out["transition_margin"] = margin_transition(steps, margin)

    scored = log.metrics()
    if scored:
        out["metric"] = metric if metric in scored else scored[0]
        e_steps, values = (np.array(v) for v in log.scores(out["metric"]))
        m = METRICS.get(out["metric"])  # scores as distances from perfect (c2st: |acc - 0.5|, ratios: |log|)
        scores = np.array([m.badness(v) for v in values]) if m else values
        keep = ~np.isnan(scores)  # no verdict (e.g. nn_ratio without held-out data)
        e_steps, values, scores = e_steps[keep], values[keep], scores[keep]
        finite = np.isfinite(scores)
        scores = np.where(finite, scores, 10 * scores[finite].max() if finite.any() else 1.0)  # a collapse: worst
        if len(scores):
            i = int(np.argmin(scores))
            out["best"] = {"step": int(e_steps[i]), "value": float(values[i])}
            out["transition_quality"] = quality_transition(e_steps, scores)
            out["transition"] = out["transition_quality"]
            if out["transition"] is not None:
                out["divergence"] = quality_divergence(e_steps, scores, out["transition"])
    if out["transition"] is None:
        out["transition"] = out["transition_margin"]
    if out["divergence"] is None and out["transition"] is not None:
        slow = 5 * w  # drift is slow: judge it on a longer average than the transition
        out["divergence"] = margin_divergence(steps, smooth(margin, slow), smooth(loss_g, slow), out["transition"])
    return out


def analyse(run: str | Path, metric: str | None = None) -> dict:
    """Analyse a run's stats.jsonl and write run/analysis.json."""
    run = require_run(run)
    config = load_config(run / "config.json")  # read even with a metric given: a broken run is refused either way
    result = analyse_rows(read_stats(run), metric if metric is not None else config.best_metric)
    atomic_write(run / "analysis.json", lambda f: f.write((json.dumps(result, indent=2) + "\n").encode()))
    return result


def describe(result: dict) -> str:
    t, d = result["transition"], result["divergence"]
    parts = [f"transition: batch {t}" if t is not None else "transition: not found"]
    if result["transition_margin"] is not None and result["transition_quality"] is not None:
        parts[0] += f" (quality: {result['transition_quality']}, D margin: {result['transition_margin']})"
    parts.append(f"divergence: batch {d}" if d is not None else "divergence: none found")
    if result["best"]:
        parts.append(f"best {result['metric']}: {result['best']['value']:.4g} at batch {result['best']['step']}")
    return "; ".join(parts)
