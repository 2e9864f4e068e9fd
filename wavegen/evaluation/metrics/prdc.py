"""precision, recall, density, coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics"), k = K:

    each real example i of set A gets a ball whose radius is the distance to its k-th nearest other real example
    precision  share of samples inside at least one real ball              (fidelity: samples look real)
    recall     share of real examples inside at least one sample's ball     (diversity; samples' balls likewise)
    density    (1 / k M) sum over samples of the number of real balls holding it: ~1 when the sets match, above 1
               when samples crowd where the data is dense
    coverage   share of real balls holding at least one sample              (diversity, robust to outliers)

On the judge's penultimate features when the data has classes (a judge is fitted), else on the spectral (or raw)
features every other distribution metric uses, so they work on folders without labels too. Each set is
subsampled to at most MAX_N examples (seeded) to bound the n^2 distances."""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .features import pairwise_sq_dists, set_features
from .judged import has_judge, judged_features

K = 5
MAX_N = 5000


def _space(x: np.ndarray, sets: EvalSets) -> np.ndarray:
    return judged_features(x, sets) if has_judge(sets) else set_features(x, sets)


def prdc(real: np.ndarray, fake: np.ndarray, k: int = K) -> dict[str, float]:
    """The four values for feature sets real (n, d) and fake (m, d)."""
    def radii(x):  # (n,) squared distance to the k-th nearest other point
        d = pairwise_sq_dists(x, x)
        return np.partition(d, k, axis=1)[:, k]  # column 0 of the partition is the point itself (distance 0)
    r_real, r_fake = radii(real), radii(fake)
    d = pairwise_sq_dists(real, fake)  # (n, m)
    inside = d <= r_real[:, None]  # (n, m): sample j inside real i's ball
    return {"precision": float(inside.any(0).mean()),
            "recall": float((d <= r_fake[None, :]).any(1).mean()),
            "density": float(inside.sum() / (k * fake.shape[0])),
            "coverage": float(inside.any(1).mean())}


def _values(samples: np.ndarray, sets: EvalSets, seed: int) -> dict[str, float]:
    """prdc of the samples, computed once per set of samples and seed (the four metrics share it)."""
    last = sets.cache.get(("prdc", "samples"))
    if last is None or last[0] is not samples or last[1] != seed:  # a reference, not an id: never a stale match
        rng = np.random.default_rng(seed)
        real, fake = _space(sets.real, sets), _space(samples, sets)
        real = real if len(real) <= MAX_N else real[rng.choice(len(real), MAX_N, replace=False)]
        fake = fake if len(fake) <= MAX_N else fake[rng.choice(len(fake), MAX_N, replace=False)]
        last = (samples, seed, prdc(real, fake))
        sets.cache[("prdc", "samples")] = last
    return last[2]


@register("precision", lower_is_better=False)
def precision(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Share of samples inside the k-NN balls (k = 5) of real set A, on the judge's features where there is one; near real vs real is ideal."""
    return _values(samples, sets, seed)["precision"]


@register("recall", lower_is_better=False)
def recall(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Share of real set A inside the samples' k-NN balls (k = 5): diversity; near real vs real is ideal."""
    return _values(samples, sets, seed)["recall"]


@register("density", target=1.0, ratio=True)
def density(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Mean count of real k-NN balls (k = 5) holding each sample, over k: ~1 when the sets match."""
    return _values(samples, sets, seed)["density"]


@register("coverage", lower_is_better=False)
def coverage(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Share of real set A's k-NN balls (k = 5) holding at least one sample: diversity; near real vs real is ideal."""
    return _values(samples, sets, seed)["coverage"]
