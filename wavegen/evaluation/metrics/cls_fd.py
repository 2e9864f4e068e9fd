"""cls_fd: the Frechet distance (frechet.py's formula) between Gaussians fitted to the judge's penultimate features
of real set A and of the samples: FID with a classifier trained on the user's own classes instead of Inception.
It sees what separates the classes (a kick's pitch drop, a chirp's sweep), where the spectral features of
`frechet` see band energies. 0 is ideal; real vs real shows the floor at this n."""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .frechet import frechet_distance
from .judged import has_judge, judged_features


@register("cls_fd", lower_is_better=True, applies=has_judge)
def cls_fd(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Frechet distance between Gaussians fitted to the judge's penultimate features of real set A and the samples; 0 is ideal."""
    return frechet_distance(judged_features(sets.real, sets), judged_features(samples, sets))
