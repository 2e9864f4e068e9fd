"""Checks on the data itself: too few examples for the model, near-silent clips, classes too small."""
from __future__ import annotations

import numpy as np

from .real import SILENT_RMS
from .registry import check, finding
from .remedy import new_run_command

MIN_EXAMPLES = 32  # training examples below which a GAN can only copy them
MIN_CLASS = 8  # examples of a class below which a conditional G cannot learn it
SILENT_SHARE = 0.5  # share of near-silent examples at which the data is mostly silence


@check("data", 90, "the data itself is the problem: too few examples, near-silent clips, classes too small")
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
        why = "a GAN needs many more examples than this; with long files, cut more windows (a smaller --hop)"
        if cfg.length:
            flags["hop"] = max(1, cfg.length // 4)
    elif silent >= SILENT_SHARE:
        what = (f"{silent:.0%} of {len(real.rms)} examples read are near silence (RMS under {SILENT_RMS:g}; "
                f"threshold {SILENT_SHARE:.0%})")
        why = "G learns to make what most examples are: silence; normalise each example, or trim the silence"
        flags["normalise"] = "rms" if cfg.normalise == "none" else cfg.normalise
    elif small and (cfg.conditional or cfg.balanced_classes):
        what = f"classes with fewer than {MIN_CLASS} training examples: " + ", ".join(f"{c} ({n})" for c, n in small.items())
        why = "a class this small can only be copied; merge it into another or add examples"
    else:
        return None
    return finding("data", None, what, why, flags, new_run_command(ev, flags) if flags else "",
                   n_train=real.n_train, silent_share=silent)
