"""A few real examples of a run's data, as the run saw them, for the checks that compare G's samples with the data.

Two disjoint sets are drawn from the training examples: `train` and `ref`. Each real example of `ref` sits at a
typical distance from its nearest neighbour in `train`; a generator that copies training examples sits much
closer to `train` than that, and one whose samples are alike sits much closer to its own samples than `ref` does.
For the synthetic Gaussian data, `ref` is fresh draws from its recipe.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..metrics.features import features, pairwise_sq_dists

PCS = 8  # principal components of the real features the quality distance compares in
SILENT_RMS = 1e-3  # an example quieter than this (-60 dBFS) is near silence
COLLAPSE = 0.3  # samples whose typical distance to each other is under this share of real examples' have collapsed
MOVED = 1.0  # samples this far (in real examples' spread) from the untrained G's on the same noise: G was trained
MIN_COMPARE = 2  # real examples in `train` and in `ref` below which no spread, so no distance, can be estimated


@dataclass
class RealData:
    train: np.ndarray  # (m, C, L) training examples
    ref: np.ndarray  # (k, C, L) other real examples, disjoint from train
    n_train: int  # training examples in the run (all of them, not only those loaded)
    sample_rate: int
    class_counts: dict[str, int]  # training examples per class; empty without classes
    rms: np.ndarray  # (m + k,) RMS of every loaded example
    peak: np.ndarray  # (m + k,) largest absolute sample of every loaded example
    ref_in_training: bool = True  # False when ref is fresh draws of a synthetic recipe
    file_len: np.ndarray | None = None  # (F,) samples in each file the examples are cut from, where known
    window: str = ""  # the windows' mode as the run's data resolved it ("auto" is "first" or "random"); "" for files

    @property
    def comparable(self) -> bool:
        return min(len(self.train), len(self.ref)) >= MIN_COMPARE

    def feats(self, x: np.ndarray) -> np.ndarray:
        return features(x.astype(np.float32), self.sample_rate)

    @cached_property
    def train_feats(self) -> np.ndarray:
        return self.feats(self.train)

    @cached_property
    def ref_feats(self) -> np.ndarray:
        return self.feats(self.ref)

    @cached_property
    def pool_feats(self) -> np.ndarray:
        """Features of every training example loaded (train, and ref when it is training data too)."""
        return np.concatenate([self.train_feats, self.ref_feats]) if self.ref_in_training else self.train_feats

    @cached_property
    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, components (k, d), scales (k,)) of the real features' leading principal components."""
        f = np.concatenate([self.train_feats, self.ref_feats])
        mu = f.mean(0)
        _, s, vt = np.linalg.svd(f - mu, full_matrices=False)
        k = max(1, min(PCS, int((s > 1e-9 * max(s[0], 1e-30)).sum())))
        scale = s[:k] / np.sqrt(max(len(f) - 1, 1))
        return mu, vt[:k], np.maximum(scale, 1e-12)

    def project(self, f: np.ndarray) -> np.ndarray:
        mu, comps, scale = self.basis
        return (f - mu) @ comps.T / scale  # (n, k), real data has unit variance per component

    def distance(self, x: np.ndarray) -> float:
        """Frechet distance between Gaussians fitted to the samples x and to `ref`, in the real data's leading
        principal components (each scaled to unit variance): 0 for the same mean and spread."""
        return frechet(self.project(self.feats(x)), self.project(self.ref_feats))

    def floor(self, n: int) -> float:
        """The same distance from n examples of `train` to `ref`: what real data gets with as many examples as the
        samples (a Frechet distance from few examples is biased upwards, so the floor must use as few)."""
        return frechet(self.project(self.train_feats[:max(2, n)]), self.project(self.ref_feats))

    @cached_property
    def ref_nn(self) -> float:
        """Median distance from a real example of `ref` to its nearest training example of `train`."""
        return float(np.median(np.sqrt(pairwise_sq_dists(self.ref_feats, self.train_feats).min(1))))

    @cached_property
    def ref_spread(self) -> float:
        """Median distance between two examples of `ref`."""
        return median_pairwise(self.ref_feats)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from ..metrics.frechet import frechet_distance

    return max(0.0, frechet_distance(a, b))


def median_pairwise(f: np.ndarray) -> float:
    d = np.sqrt(pairwise_sq_dists(f, f))
    return float(np.median(d[np.triu_indices(len(f), 1)])) if len(f) > 1 else 0.0


def variety(x: np.ndarray, real: RealData) -> float:
    """Median distance between two samples over that between two real examples (features of metrics.features)."""
    return median_pairwise(real.feats(x)) / max(real.ref_spread, 1e-12)


def moved(x: np.ndarray, start: np.ndarray, real: RealData) -> float:
    """Median distance from each sample to the untrained G's on the same noise, over that between two real examples."""
    d = np.sqrt(((real.feats(x) - real.feats(start)) ** 2).sum(-1))
    return float(np.median(d)) / max(real.ref_spread, 1e-12)


def near_start(x: np.ndarray, start: np.ndarray | None, real: RealData) -> bool:
    """Samples x under MOVED real spreads from the untrained G's output `start` on the same noise (False where there
    is no usable start)."""
    if start is None or start.shape != x.shape or not np.isfinite(start).all():
        return False
    return moved(x, start, real) < MOVED


def still_untrained(x: np.ndarray, start: np.ndarray | None, real: RealData) -> bool:
    """Samples x more than half as varied as the untrained G's (`start`, on the same noise) and hardly moved from
    them: G has not been trained enough to tell collapse from its start."""
    return near_start(x, start, real) and variety(x, real) > 0.5 * variety(start, real)


def rms(x: np.ndarray) -> np.ndarray:
    """(n, C, L) -> (n,) root mean square of each example."""
    return np.sqrt((x.astype(np.float64) ** 2).mean(axis=(1, 2)))


def peak(x: np.ndarray) -> np.ndarray:
    """(n, C, L) -> (n,) largest absolute sample of each example."""
    return np.abs(x).max(axis=(1, 2)) if x.size else np.zeros(len(x))


def load_real(ev) -> RealData:
    """Real examples of the run `ev` (Evidence) through the training's own loader."""
    import torch

    from ...data.source import open_examples
    from ...data.synthetic import GaussianSpec
    from ..scoring import split_holdout

    cfg = ev.cfg
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    train_idx, _ = split_holdout(examples.n, cfg.holdout, cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed + 2)
    order = train_idx[torch.randperm(len(train_idx), generator=g)]
    spec = GaussianSpec.from_meta(ev.data.get("meta"))
    k = min(ev.real_n, max(1, len(order) // 2) if spec is None else len(order))  # one example at least, for its RMS
    train = examples.get(order[:k]).numpy()  # (k, C, L)
    if spec is not None:
        ref = spec.draw(ev.real_n, np.random.default_rng(cfg.seed + 2))[:, None].astype(np.float32)  # (n, 1, L)
    else:
        ref = examples.get(order[k:2 * k]).numpy()
    counts = {}
    labels = getattr(examples, "labels", None)
    if getattr(examples, "classes", None) and labels is not None:
        got = np.asarray(labels)[train_idx.numpy()]
        got = np.bincount(got[got >= 0], minlength=len(examples.classes))  # files without a class count in none
        counts = {c: int(n) for c, n in zip(examples.classes, got)}
    return RealData(train, ref, len(train_idx), examples.sample_rate, counts,
                    np.concatenate([rms(train), rms(ref)]), np.concatenate([peak(train), peak(ref)]),
                    ref_in_training=spec is None,
                    file_len=getattr(examples, "file_lengths", None), window=getattr(examples, "window", ""))
