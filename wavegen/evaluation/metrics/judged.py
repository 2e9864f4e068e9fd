"""What the judge (evaluation/judge.py, a classifier fitted on the real data's classes) says about a set of
waveforms, shared by the classifier metrics (cls_fd, kid, is, mis, cls_acc, and precision / recall / density /
coverage where there is a judge). The sets' own arrays are judged once (sets.cache); so is the newest set of
samples, which every metric of one evaluation passes in turn."""
from __future__ import annotations

import numpy as np


def has_judge(sets) -> bool:
    return getattr(sets, "judge", None) is not None


def judge_outputs(x: np.ndarray, sets) -> tuple[np.ndarray, np.ndarray]:
    """(logits (n, K), penultimate features (n, F)) of the judge for waveforms x (n, C, L)."""
    name = sets.own(x)
    if name is not None:
        return sets.cached(("judge", name), lambda: sets.judge.outputs(x))
    last = sets.cache.get(("judge", "samples"))
    if last is None or last[0] is not x:  # held by reference, so a new array at a freed address is never mistaken
        last = (x, sets.judge.outputs(x))
        sets.cache[("judge", "samples")] = last
    return last[1]


def probabilities(logits: np.ndarray) -> np.ndarray:
    """(n, K) softmax of the logits, float64."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def judged_features(x: np.ndarray, sets) -> np.ndarray:
    return judge_outputs(x, sets)[1]
