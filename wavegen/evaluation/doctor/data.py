"""Checks on the data itself: too few examples for the model, near-silent clips, classes too small."""
from __future__ import annotations

import numpy as np

from ...data.windows import auto_window, window_counts
from ...models.registry import GENERATORS
from .real import SILENT_RMS
from .registry import check, finding
from .remedy import new_run_command

MIN_EXAMPLES = 100  # training examples below which a GAN can only copy or collapse (few-shot GANs start near there)
MIN_CLASS = 8  # examples of a class below which a conditional G cannot learn it
SILENT_SHARE = 0.5  # share of near-silent examples at which the data is mostly silence


@check("data", 90, "the data itself is the problem: too few examples, near-silent clips, clips louder than G can "
       "make, classes too small")
def data(ev):
    real = ev.real
    if real is None:
        return None
    cfg = ev.cfg
    silent = float((real.rms < SILENT_RMS).mean())
    small = {c: n for c, n in real.class_counts.items() if n < MIN_CLASS}
    flags: dict = {}
    if real.n_train < MIN_EXAMPLES:
        what = f"{real.n_train} training examples (fewer than {MIN_EXAMPLES})"
        hop = hop_for(real, cfg, MIN_EXAMPLES)
        if hop:
            flags["hop"] = hop
            why = (f"a GAN needs many more examples than this; windows every {hop} samples cut at least "
                   f"{MIN_EXAMPLES} from these files (overlapping: more data is better still)")
        else:
            why = "a GAN needs many more examples than this, and the files are too short to cut more windows: add files"
    elif silent >= SILENT_SHARE:
        what = (f"{silent:.0%} of {len(real.rms)} examples read are near silence (RMS under {SILENT_RMS:g}; "
                f"threshold {SILENT_SHARE:.0%})")
        why = "G learns to make what most examples are: silence; normalise each example, or trim the silence"
        flags["normalise"] = "rms" if cfg.normalise == "none" else cfg.normalise
    elif GENERATORS[cfg.arch].bounded and float(np.median(real.peak)) > 1.0:
        what = (f"the examples peak at {float(np.median(real.peak)):.3g} (median of {len(real.peak)} read): beyond "
                "[-1, 1], where G's Tanh puts every sample it makes")
        why = "G cannot make samples this loud; peak normalisation brings each example into G's range"
        flags["normalise"] = "peak"
    elif small and (cfg.conditional or cfg.balanced_classes):
        what = f"classes with fewer than {MIN_CLASS} training examples: " + ", ".join(f"{c} ({n})" for c, n in small.items())
        why = "a class this small can only be copied; merge it into another or add examples"
    else:
        return None
    return finding("data", None, what, why, flags, new_run_command(ev, flags) if flags else "",
                   n_train=real.n_train, silent_share=silent)


def hop_for(real, cfg, want: int) -> int | None:
    """The largest hop (a power-of-two share of the length) whose windows make `want` training examples of the run's
    files, or None where no hop does (files no longer than a window)."""
    if real.file_len is None or not cfg.length:
        return None
    window = real.window or cfg.window  # "auto" as the run resolved it
    share = real.n_train / max(1, int(window_counts(real.file_len, cfg.length, cfg.hop or cfg.length, window,
                                                    cfg.pad).sum()))  # what the holdout leaves for training
    hop = cfg.length // 2
    while hop >= 1:
        if window_counts(real.file_len, cfg.length, hop, window, cfg.pad).sum() * share >= want:
            return hop
        hop //= 2
    return None
