"""Frechet distance: fit a Gaussian to the features of real set A and one to the features of the samples,

    FD = |mu_r - mu_s|^2 + Tr(S_r + S_s - 2 sqrtm(S_r S_s))

(the Frechet / 2-Wasserstein distance between the two Gaussians; FID on raw or spectral features). 0 for
identical means and covariances; it grows with a shifted mean, a wrong spread and a collapsed set alike.
Estimated from finite sets it has a positive floor, which the real-vs-real value shows.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ...errors import WavegenError
from .registry import EvalSets, register
from .features import set_features

EPS = 1e-6  # added to the covariances' diagonals when S_r S_s is too singular for sqrtm


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Between Gaussians fitted to feature sets a (n, d) and b (m, d), two examples or more each."""
    if min(len(a), len(b)) < 2:  # a covariance needs two: np.cov of one row is NaN, and sqrtm fails on it
        raise WavegenError(f"a Frechet distance needs two examples or more in each set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)  # (d,)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))  # (d, d)
    with warnings.catch_warnings():  # few examples in many dimensions make S_a S_b singular: no news to the user
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(root).all():  # near-singular product (e.g. a collapsed set): regularise and retry
            eye = EPS * np.eye(len(s_a))
            root = scipy.linalg.sqrtm((s_a + eye) @ (s_b + eye))
    # sqrtm of a product of two PSD matrices has real eigenvalues; rounding leaves tiny imaginary parts
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(np.real(root)))


@register("frechet", lower_is_better=True)
def frechet(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Frechet distance between Gaussians fitted to the features of real set A and of the samples; 0 is ideal."""
    return frechet_distance(set_features(sets.real, sets), set_features(samples, sets))
