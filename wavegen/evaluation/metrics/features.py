"""Feature vectors of waveforms, shared by the distribution metrics (Frechet, MMD, C2ST, NDB, nn_ratio).

Short signals (C * L <= RAW_MAX, e.g. the post's 100-sample curves) are their own features: the samples,
flattened. Longer audio has too many dimensions for a covariance or a nearest neighbour to mean much, and
its samples are not aligned (a tone's phase differs between examples), so it is summarised by log-power
spectral statistics, which do not depend on the phase or on where in the clip something happens:

    frames:  a Hann-windowed STFT, frame F = the largest power of two <= min(512, L), hop F / 2
    bands:   the F / 2 + 1 power bins |X|^2 summed in N_BANDS (or fewer) linearly spaced bands
    feature: log(band energy + 1e-10), its mean and its std over the frames, for every channel
             -> C * 2 * bands values per example
"""
from __future__ import annotations

import numpy as np
import torch

RAW_MAX = 1024  # signals with at most this many values (C * L) use the raw samples as features
MAX_FRAME = 512
N_BANDS = 64
LOG_FLOOR = 1e-10  # keeps log finite for silent bands


def features(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n, C, L) waveforms -> (n, d) float64 features. `sample_rate` is accepted so that callers need not
    change if the bands become perceptual (mel); the linear bands here do not use it."""
    x = np.asarray(x)
    n, c, length = x.shape
    if c * length <= RAW_MAX:
        return x.reshape(n, c * length).astype(np.float64)
    return spectral_features(x)


def spectral_features(x: np.ndarray) -> np.ndarray:
    n, c, length = x.shape
    frame = 1 << int(np.log2(min(MAX_FRAME, length)))
    sig = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(n * c, length)
    spec = torch.stft(sig, n_fft=frame, hop_length=frame // 2, window=torch.hann_window(frame),
                      center=False, return_complex=True)  # (n*C, frame/2+1, T)
    power = spec.real ** 2 + spec.imag ** 2
    bins = power.shape[1]
    n_bands = min(N_BANDS, bins)
    edges = np.linspace(0, bins, n_bands + 1).round().astype(int)  # linearly spaced band edges over the bins
    band_of_bin = torch.from_numpy(np.repeat(np.arange(n_bands), np.diff(edges)))  # (bins,)
    bands = torch.zeros(n * c, n_bands, power.shape[2]).index_add_(1, band_of_bin, power)  # (n*C, bands, T)
    logb = torch.log(bands.double() + LOG_FLOOR)
    std = logb.std(2, unbiased=False)  # a single frame (L <= frame) has std 0, not NaN
    feats = torch.cat([logb.mean(2), std], 1)  # (n*C, 2*bands)
    return feats.reshape(n, c * 2 * n_bands).numpy()


def set_features(x: np.ndarray, sets) -> np.ndarray:
    """features(x), cached when x is one of the sets' own arrays (real, real2, train)."""
    name = sets.own(x)
    if name is None:
        return features(x, sets.sample_rate)
    return sets.cached(("features", name), lambda: features(x, sets.sample_rate))


def pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, d), (m, d) -> (n, m) squared Euclidean distances, via |a|^2 + |b|^2 - 2 a.b (clipped at 0)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)
