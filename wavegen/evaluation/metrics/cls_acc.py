"""cls_acc: for a conditional generator, the share of samples the judge assigns to the class they were asked for
(real vs real: the judge's accuracy on real set B). `per_class` gives the same for each class."""
from __future__ import annotations

import math

import numpy as np

from .registry import EvalSets, register
from .judged import judge_outputs


def _applies(sets: EvalSets) -> bool:
    return getattr(sets, "judge", None) is not None and sets.sample_labels is not None and sets.real2_labels is not None


def per_class(samples: np.ndarray, sets: EvalSets) -> dict[str, float]:
    """{class: the share of the samples asked for it that the judge gives it} (NaN for a class never asked for)."""
    labels = sets.labels_of(samples)
    pred = judge_outputs(samples, sets)[0].argmax(1)
    return {name: float((pred[labels == k] == k).mean()) if (labels == k).any() else math.nan
            for k, name in enumerate(sets.judge.classes)}


@register("cls_acc", lower_is_better=False, applies=_applies)
def cls_acc(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Share of conditional samples the judge assigns to the class they were asked for; 1 is ideal, real vs real is the judge's accuracy."""
    labels = sets.labels_of(samples)
    if labels is None:
        return math.nan
    return float((judge_outputs(samples, sets)[0].argmax(1) == labels).mean())
