"""Does a sound have a voice's harmonics? A pitch track and a harmonic-to-noise ratio per frame, from the normalised
autocorrelation (Boersma 1993), and `harmonicity`: one number that tells a voice from a whisper for any set.

Per frame of FRAME_S seconds, every HOP_S: with r the peak of the normalised autocorrelation
    r(tau) = sum_i x[i] x[i + tau] / sqrt(sum_i x[i]^2 * sum_i x[i + tau]^2)
over the lags of a voice's pitch (PITCH_MIN..PITCH_MAX Hz), the frame's pitch is sr / tau at the peak (the shortest
lag with a local peak within OCTAVE_TOL of the highest: a period's multiples correlate almost as well) and its
harmonic-to-noise ratio HNR = 10 log10(r / (1 - r)) dB: a periodic frame has r near 1, white noise near 0. Frames
quieter than SILENT_DB under the clip's loudest frame (or than ABS_FLOOR) are silence and not counted.

`harmonicity(samples, real)`: the share of the samples' sounding frames that are voiced (HNR >= VOICED_DB) with
an HNR inside the real clips' 5-95 % range of voiced-frame HNRs. A whisper or noise scores near 0; real clips score
their own share of voiced frames x 0.9 (compare with `harmonicity(real2, real)`, the real-vs-real value).
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.04  # analysis frame: two periods of PITCH_MIN
HOP_S = 0.01
PITCH_MIN, PITCH_MAX = 50.0, 500.0  # Hz: the lags searched
SILENT_DB = 30.0  # frames this far under the clip's loudest are silence
ABS_FLOOR = 1e-3  # RMS under which a frame is silence whatever the clip (zero padding, a silent G)
VOICED_DB = 0.0  # HNR from which a frame counts as voiced (r >= 0.5)
R_CLIP = 1e-4  # r kept in [R_CLIP, 1 - R_CLIP] so that HNR stays finite (-40 to 40 dB)
OCTAVE_TOL = 0.9  # a lag within this share of the highest peak is taken for the period if it is shorter
RANGE = (5.0, 95.0)  # percentiles of the real voiced frames' HNR that make the range


def frame_analysis(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips (n, L) or (n, C, L) (channels averaged) -> per frame (n, F): the autocorrelation peak r, the pitch in
    Hz at it, and whether the frame sounds (not silence). Frame f starts at sample f * hop."""
    x = np.asarray(x, dtype=np.float64)
    x = x.mean(1) if x.ndim == 3 else x  # (n, L)
    width, hop = round(FRAME_S * sample_rate), max(1, round(HOP_S * sample_rate))
    lo, hi = max(1, int(sample_rate / PITCH_MAX)), int(np.ceil(sample_rate / PITCH_MIN))
    span = width + hi
    if x.shape[1] < span:
        x = np.pad(x, ((0, 0), (0, span - x.shape[1])))
    frames = np.lib.stride_tricks.sliding_window_view(x, span, axis=1)[:, ::hop]  # (n, F, W + hi)
    frames = frames - frames[..., :width].mean(-1, keepdims=True)
    head = frames[..., :width]  # (n, F, W)
    size = 1 << int(np.ceil(np.log2(span + width)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(head, size)) * np.fft.rfft(frames, size), size)[..., :hi + 1]
    sq = np.concatenate([np.zeros(frames.shape[:-1] + (1,)), np.cumsum(frames ** 2, -1)], -1)  # (n, F, W + hi + 1)
    e0 = sq[..., width]  # (n, F)
    lags = np.arange(lo, hi + 1)
    e_lag = sq[..., lags + width] - sq[..., lags]  # (n, F, lags)
    r = corr[..., lags] / np.sqrt(np.maximum(e0[..., None] * e_lag, 1e-20))  # (n, F, lags)
    peak = r.max(-1)  # (n, F)
    rising = np.concatenate([np.ones_like(r[..., :1], bool), r[..., 1:] >= r[..., :-1]], -1)
    falling = np.concatenate([r[..., :-1] >= r[..., 1:], np.ones_like(r[..., :1], bool)], -1)
    # the shortest lag whose peak is nearly the highest: a period's multiples correlate almost as well (octave errors)
    best = (rising & falling & (r >= OCTAVE_TOL * peak[..., None])).argmax(-1)  # (n, F)
    rms = np.sqrt(e0 / width)
    loud = (rms >= ABS_FLOOR) & (rms >= rms.max(1, keepdims=True) * 10 ** (-SILENT_DB / 20))
    return peak, sample_rate / lags[best], loud


def hnr_db(r: np.ndarray) -> np.ndarray:
    r = np.clip(r, R_CLIP, 1 - R_CLIP)
    return 10 * np.log10(r / (1 - r))


def hnr_range(real: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """The RANGE percentiles of the HNR (dB) of the real clips' voiced frames."""
    r, _, loud = frame_analysis(real, sample_rate)
    h = hnr_db(r)[loud]
    voiced = h[h >= VOICED_DB]
    if voiced.size == 0:
        return float("nan"), float("nan")
    return float(np.percentile(voiced, RANGE[0])), float(np.percentile(voiced, RANGE[1]))


def harmonicity(samples: np.ndarray, real: np.ndarray, sample_rate: int) -> float:
    """Share of the samples' sounding frames that are voiced with an HNR in the real clips' range (module doc);
    NaN when the samples have no sounding frame or the real clips no voiced one."""
    return share_in_range(samples, hnr_range(real, sample_rate), sample_rate)


def share_in_range(samples: np.ndarray, hnr: tuple[float, float], sample_rate: int) -> float:
    """`harmonicity` against an HNR range already taken on the real clips (`hnr_range`)."""
    low, high = hnr
    r, _, loud = frame_analysis(samples, sample_rate)
    if not loud.any() or np.isnan(low):
        return float("nan")
    h = hnr_db(r)[loud]
    return float(((h >= max(low, VOICED_DB)) & (h <= high)).mean())


def pitch_track(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip (n, L): the pitch in Hz of each frame (n, F), the frames' centres in samples (F,), and which frames
    are voiced and sounding (n, F); unvoiced frames take the median pitch of the clip's voiced ones (or of all)."""
    r, f0, loud = frame_analysis(x, sample_rate)
    voiced = loud & (hnr_db(r) >= VOICED_DB)
    filled = f0.copy()
    for i in range(len(f0)):
        pool = f0[i][voiced[i]] if voiced[i].any() else f0[i]
        filled[i][~voiced[i]] = np.median(pool)
    centres = np.arange(f0.shape[1]) * max(1, round(HOP_S * sample_rate)) + round(FRAME_S * sample_rate) / 2
    return filled, centres, voiced
