"""nn_ratio: does the generator copy its training examples?

    nn_ratio = median_i min_j |s_i - t_j|  /  median_i min_j |r_i - t_j|

over the features of samples s, training examples t and real set A (held out, so never in t). Held-out
real data sits at a typical distance from the training set; a generator that reproduces training examples
sits much closer. So:

    ~1: healthy; well under 1 (0 for exact copies): memorisation; above 1: samples are off the data.

Without held-out data (real set A drawn from the training examples, distance 0) there is no reference: NaN.
"""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .features import pairwise_sq_dists, set_features

CHUNK = 1024  # query rows per distance block: bounds memory at CHUNK x (training set size)


def nn_distances(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(n, d), (m, d) -> (n,) distance from each row of x to its nearest row of ref."""
    return np.sqrt(np.concatenate([pairwise_sq_dists(x[i:i + CHUNK], ref).min(1) for i in range(0, len(x), CHUNK)]))


@register("nn_ratio", lower_is_better=False, target=1.0, ratio=True)
def nn_ratio(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Median nearest-training-example distance of the samples over that of held-out real data; ~1 is healthy, well under 1 = memorisation."""
    train = set_features(sets.train, sets)
    ref = sets.cached("nn_median_real", lambda: float(np.median(nn_distances(set_features(sets.real, sets), train))))
    if ref < 1e-12:  # real set A is part of the training set (no holdout): nothing to compare with
        return float("nan")
    return float(np.median(nn_distances(set_features(samples, sets), train))) / ref
