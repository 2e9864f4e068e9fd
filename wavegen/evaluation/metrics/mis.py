"""mis: the modified inception score (Gurumurthy et al. 2017, DeLiGAN): diversity within a class, as the judge sees
it. Samples are grouped by the class the judge gives them; within each group, the mean over ordered pairs of
KL(p(y | x_i) || p(y | x_j)); MIS = exp(the mean of that over the groups). A generator that repeats one sound per
class scores 1. It cannot see a missing class (that is `is`), and noise the judge is unsure about can raise it: read
it beside `is` and cls_fd."""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .inception import TINY
from .judged import has_judge, judge_outputs, probabilities


def modified_inception_score(p: np.ndarray) -> float:
    """From class probabilities p (n, K)."""
    pred = p.argmax(1)
    logp = np.log(p + TINY)
    means = []
    for k in np.unique(pred):
        q, lq = p[pred == k], logp[pred == k]  # (m, K)
        m = len(q)
        if m < 2:
            continue
        kl = (q * lq).sum(1)[:, None] - q @ lq.T  # (m, m): KL(q_i || q_j), 0 on the diagonal
        means.append(kl.sum() / (m * (m - 1)))
    return float(np.exp(np.mean(means))) if means else 1.0


@register("mis", lower_is_better=False, applies=has_judge)
def mis(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Modified inception score: the judge's view of the diversity within each class; 1 = one sound per class, near real vs real is ideal."""
    return modified_inception_score(probabilities(judge_outputs(samples, sets)[0]))
