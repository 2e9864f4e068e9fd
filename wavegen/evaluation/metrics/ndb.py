"""NDB, the number of statistically different bins (Richardson & Weiss 2018): catches mode collapse.

The training set's features (or real set A's, if the training set is smaller than A) are split into
K = min(100, n // 10) bins by k-means (seeded; at most MAX_FIT examples are clustered). Real set A and the
samples are each assigned to their nearest centre, and for every bin a two-proportion z-test asks whether the
share of samples in it differs from the share of real examples (alpha = 0.05, |z| > 1.96). The value is the
fraction of the K bins that differ:

    ~0.05 (the test's false-positive rate) for a good generator; near 1 when the samples fall in a few bins.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.cluster.vq

from .registry import EvalSets, register
from .features import set_features

MAX_BINS = 100
MAX_FIT = 10000  # examples k-means sees at most: 10,000 x 100 features x 100 bins is about 1 s
Z_CRIT = 1.959964  # two-sided alpha = 0.05


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    with warnings.catch_warnings():  # "one of the clusters is empty": an empty bin simply never differs
        warnings.simplefilter("ignore", UserWarning)
        try:
            centres, _ = scipy.cluster.vq.kmeans2(x, k, minit="++", rng=np.random.default_rng(seed))
        except TypeError:  # scipy < 1.15 names it seed
            centres, _ = scipy.cluster.vq.kmeans2(x, k, minit="++", seed=seed)
    return centres  # (K, d)


def bins(sets: EvalSets, seed: int) -> np.ndarray:
    """The K k-means centres (K, d), cached per seed: the samples and real set B are binned alike."""
    def fit():
        base = sets.train if len(sets.train) >= len(sets.real) else sets.real
        x = set_features(base, sets)
        if len(x) > MAX_FIT:
            x = x[np.random.default_rng(seed).choice(len(x), MAX_FIT, replace=False)]
        return _kmeans(x, max(2, min(MAX_BINS, len(x) // 10)), seed)
    return sets.cached(("ndb_bins", seed), fit)


def ndb_fraction(real: np.ndarray, samples: np.ndarray, centres: np.ndarray) -> float:
    """Fraction of bins (centres) whose share of `samples` differs significantly from that of `real`."""
    k = len(centres)
    n_r, n_s = len(real), len(samples)
    c_r = np.bincount(scipy.cluster.vq.vq(real, centres, check_finite=False)[0], minlength=k)  # (K,) counts
    c_s = np.bincount(scipy.cluster.vq.vq(samples, centres, check_finite=False)[0], minlength=k)
    p_r, p_s = c_r / n_r, c_s / n_s
    p = (c_r + c_s) / (n_r + n_s)  # pooled share under "no difference"
    se = np.sqrt(p * (1 - p) * (1 / n_r + 1 / n_s))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p_r - p_s) / se, 0.0)  # a bin empty in both sets does not differ
    return float((np.abs(z) > Z_CRIT).sum() / k)


@register("ndb", lower_is_better=True)
def ndb(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Fraction of k-means bins where the share of samples differs significantly from real set A's; ~0.05 is ideal, high = mode collapse."""
    return ndb_fraction(set_features(sets.real, sets), set_features(samples, sets), bins(sets, seed))
