"""A run's quality along its batches: its logged scores, or, for runs that logged none (eval_every 0), a few of
G's previews scored here by the Frechet distance in the real data's leading principal components
(real.RealData.distance), beside what real data gets (the floor)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PREVIEW_CURVE = 24  # previews scored along the run when no scores were logged


@dataclass
class Scores:
    """A quality curve: steps, values and their badness (distance from perfect, lower is better)."""
    name: str
    steps: np.ndarray
    values: np.ndarray
    badness: np.ndarray
    floor: float | None = None  # the badness real data gets against real data, where known


def sampling_floor(name: str, cfg) -> float | None:
    """The badness a logged score cannot be told from zero within: c2st's accuracy on eval_n held-out examples
    (half real, half samples) has a standard deviation of about 0.5 / sqrt(eval_n) at chance."""
    return 0.5 / math.sqrt(cfg.eval_n) if name == "c2st" and cfg.eval_n else None


def preview_scores(ev) -> Scores | None:
    real = ev.compared
    steps = ev.preview_steps  # from batch 0: G's untrained output starts the curve
    if real is None or len(steps) < 2:
        return None
    pick = sorted({steps[int(round(i))] for i in np.linspace(0, len(steps) - 1, min(PREVIEW_CURVE, len(steps)))})
    got, n = [], None
    for s in pick:
        x = ev.preview(s)
        if x is not None and np.isfinite(x).all() and x.shape[1:] == real.train.shape[1:]:
            got.append((s, real.distance(x)))
            n = len(x)
    if len(got) < 2:
        return None
    s, v = (np.array(a) for a in zip(*got))
    return Scores("preview distance", s.astype(int), v, v, floor=real.floor(n))
