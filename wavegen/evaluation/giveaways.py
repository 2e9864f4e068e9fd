"""What gives generated samples away: the statistics a classifier can tell them from real data by.

For short aligned signals (the post's curves, where the classifier test reads the raw samples), compared with
real set A (`sets.real`), every channel and position its own feature:

    offset      mean over positions of the mean residual (samples' mean - A's mean): what every sample shares
    pattern     std over positions of that mean residual, its offset removed: a fixed shape from one position to
                the next (real vs real: the noise std / sqrt(n) and no more)
    var_ratio   per-position variance of the samples over A's, its mean over positions, and its range (lo, hi)
    lag1        lag-1 autocorrelation of each sample's residual around the samples' own per-position mean,
                averaged (white noise: ~0; smooth, coloured noise: towards 1)
    c2st_*      the classifier test on the samples as they are ("raw"), with their per-position mean moved onto
                A's ("mean_fixed"), and with their per-position std matched to A's too ("var_fixed"): where the
                accuracy falls to 0.5 names the statistic the classifier was using; what stays above it lies in
                the correlations between positions or the shape of the distribution

and on the synthetic Gaussian data, the mean and std of the fitted peak height, width, centre and offset
(metrics.gaussian_fit). Score real set B the same way for the floor of each number.
"""
from __future__ import annotations

import numpy as np

from .metrics import EvalSets
from .metrics.c2st import c2st_accuracy
from .metrics.gaussian_fit import PARAMS, fits, is_gaussian

FIT_COLUMNS = tuple(PARAMS)  # a, c, w, b: the columns of gaussian_fit.fit_curves


def giveaways(samples: np.ndarray, sets: EvalSets, seed: int = 0) -> dict[str, float]:
    """The statistics of the module docstring for (n, C, L) samples against real set A, as one flat dict."""
    x = samples.reshape(len(samples), -1).astype(np.float64)  # (n, C * L)
    ref = sets.real.reshape(len(sets.real), -1).astype(np.float64)  # (m, C * L)
    mean_x, mean_r = x.mean(0), ref.mean(0)  # (C * L,)
    std_x, std_r = x.std(0), ref.std(0)
    residual = mean_x - mean_r
    var_ratio = std_x ** 2 / np.maximum(std_r ** 2, 1e-20)
    out = {"offset": float(residual.mean()), "pattern": float((residual - residual.mean()).std()),
           "var_ratio": float(var_ratio.mean()), "var_ratio_lo": float(var_ratio.min()),
           "var_ratio_hi": float(var_ratio.max()), "lag1": lag1(samples)}
    mean_fixed = x - mean_x + mean_r
    var_fixed = (x - mean_x) / np.maximum(std_x, 1e-12) * std_r + mean_r
    for name, feats in (("raw", x), ("mean_fixed", mean_fixed), ("var_fixed", var_fixed)):
        out[f"c2st_{name}"] = c2st_accuracy(ref, feats, seed)
    if is_gaussian(sets):
        fitted = fits(samples, sets)  # (n * C, 4), NaN rows failed
        for i, name in enumerate(FIT_COLUMNS):
            col = fitted[:, i][np.isfinite(fitted[:, i])]
            out[f"fit_{name}_mean"] = float(col.mean()) if len(col) else float("nan")
            out[f"fit_{name}_std"] = float(col.std()) if len(col) else float("nan")
    return out


def lag1(samples: np.ndarray) -> float:
    """Mean lag-1 autocorrelation of the residuals around the set's per-position mean, (n, C, L) -> one number."""
    r = samples.astype(np.float64) - samples.mean(0, keepdims=True)  # (n, C, L)
    num = (r[..., 1:] * r[..., :-1]).sum(-1)
    den = np.sqrt((r[..., 1:] ** 2).sum(-1) * (r[..., :-1] ** 2).sum(-1))
    return float((num / np.maximum(den, 1e-20)).mean())
