"""Harmonicity: how much of the samples sounds voiced the way the real clips do (evaluation/harmonics.py).

A classifier hears formants, which noise alone can make; a voice's harmonics are what tell it from a whisper. This
is the share of the samples' sounding frames whose harmonic-to-noise ratio (from the normalised autocorrelation
peak in the voice's pitch range) is voiced and within the real clips' 5-95 % range. Real vs real gives the data's
own share: closer to it is better, and white noise scores 0.
"""
from __future__ import annotations

import numpy as np

from ..harmonics import FRAME_S, hnr_range, share_in_range
from .registry import EvalSets, register


def _audio(sets: EvalSets) -> bool:
    """Recorded or synthesised audio long enough for two analysis frames (not the post's 100-sample curves)."""
    return sets.meta is None and sets.real.shape[-1] >= 2 * FRAME_S * sets.sample_rate


@register("harmonicity", lower_is_better=False, applies=_audio)
def harmonicity(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Share of sounding frames voiced with an HNR in the real clips' 5-95 % range; closer to real vs real is better."""
    # the real clips' range once per set: evaluate() scores the samples and real set B against it
    hnr = sets.cached("hnr_range", lambda: hnr_range(sets.real.mean(1), sets.sample_rate))
    return share_in_range(samples.mean(1), hnr, sets.sample_rate)  # channels averaged: (n, C, L) -> (n, L)
