"""Maximum mean discrepancy (MMD^2, unbiased) between real set A and the samples, with an RBF kernel:

    k(x, y) = exp(-|x - y|^2 / (2 h^2)),   h = median of the pooled pairwise distances (median heuristic)
    MMD^2 = mean_{i != j} k(r_i, r_j) + mean_{i != j} k(s_i, s_j) - 2 mean_{i, j} k(r_i, s_j)

0 (up to sampling noise, and it can dip just below 0) when the two sets come from one distribution.
Computed on features; each set is subsampled to at most MAX_N examples (seeded) to bound the n^2 cost.
"""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .features import pairwise_sq_dists, set_features

MAX_N = 2000  # examples per set: the pooled kernel matrix is (2 MAX_N)^2 float64 = 128 MB at most


def _subsample(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= MAX_N else x[rng.choice(len(x), MAX_N, replace=False)]


def mmd2_rbf(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between feature sets a (n, d) and b (m, d), median-heuristic bandwidth."""
    n = len(a)
    d2 = pairwise_sq_dists(*(2 * [np.concatenate([a, b])]))  # (n+m, n+m) pooled
    off = d2[np.triu(np.ones(d2.shape, dtype=bool), 1)]  # each pair once, no self-pairs
    h2 = np.median(off)  # median squared distance = (median distance)^2
    if h2 <= 0:  # more than half the pairs coincide (both sets collapsed onto one point): any h will do
        h2 = off.max() if off.max() > 0 else 1.0
    d2 *= -0.5 / h2
    k = np.exp(d2, out=d2)  # in place: the pooled matrix is the big allocation here
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    m = len(b)
    # unbiased: leave out the diagonals (k(x, x) = 1), which would bias MMD^2 upwards
    return float((kaa.sum() - n) / (n * (n - 1)) + (kbb.sum() - m) / (m * (m - 1)) - 2.0 * kab.mean())


@register("mmd", lower_is_better=True)
def mmd(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Unbiased MMD^2 (RBF kernel, median-heuristic width) between features of real set A and the samples; ~0 is ideal."""
    rng = np.random.default_rng(seed)
    return mmd2_rbf(_subsample(set_features(sets.real, sets), rng), _subsample(set_features(samples, sets), rng))
