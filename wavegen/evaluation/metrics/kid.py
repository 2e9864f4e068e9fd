"""kid: the kernel inception distance (Binkowski et al. 2018) on the judge's penultimate features: the unbiased
MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over SUBSETS random subsets of at most
SUBSET examples of each set. Unlike the Frechet distance it is unbiased, so its real-vs-real value is ~0 at any n
(it can dip below 0)."""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .judged import has_judge, judged_features

SUBSETS = 10
SUBSET = 1000


def kid_value(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Mean unbiased polynomial-kernel MMD^2 between feature sets a (n, d) and b (m, d) over random subsets."""
    rng = np.random.default_rng(seed)
    m = min(len(a), len(b), SUBSET)
    d = a.shape[1]
    values = []
    for _ in range(SUBSETS):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))  # (m, m) each
        # unbiased: leave out the diagonals k(x_i, x_i)
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values))


@register("kid", lower_is_better=True, applies=has_judge)
def kid(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Kernel inception distance (unbiased MMD^2, cubic kernel) on the judge's features of real set A and the samples; ~0 is ideal."""
    return kid_value(judged_features(sets.real, sets), judged_features(samples, sets), seed)
