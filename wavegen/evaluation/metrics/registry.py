"""The metric registry: what a metric is (`Metric`), what it is given (`EvalSets`), and `register`, which the
metric modules of this package call at import to add their functions to METRICS (in import order)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import WavegenError


@dataclass
class EvalSets:
    real: np.ndarray  # (n, C, L) float32, held-out real set A: what generated samples are compared with
    real2: np.ndarray  # (n, C, L) a second real set B, disjoint from A: scored in place of the samples ("perfect")
    train: np.ndarray  # (m, C, L) training examples (for the memorisation metric and the NDB bins)
    sample_rate: int
    meta: dict | None = None  # synthetic gaussian data: the dict of wavegen_data.json (kind="gaussian", ...); else None
    judge: object | None = None  # a classifier fitted on the real data's classes (evaluation/judge.py), or None
    real_labels: np.ndarray | None = None  # (n,) class numbers of real set A, for data with classes
    real2_labels: np.ndarray | None = None  # (n,) those of real set B
    sample_labels: np.ndarray | None = None  # (n,) the classes the generated samples were asked for (conditional)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # features, fits, bins of the sets' own arrays

    def cached(self, key, compute: Callable[[], object]):
        """`compute()` once per key: the metrics share work on the sets (features of A, k-means bins, fits)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def own(self, x: np.ndarray) -> str | None:
        """The name of the set `x` is ("real", "real2", "train"), or None for generated samples. By identity,
        so that the real-vs-real pass (which passes sets.real2 as the samples) can use the cache."""
        return next((name for name in ("real", "real2", "train") if x is getattr(self, name)), None)

    def labels_of(self, x: np.ndarray) -> np.ndarray | None:
        """The classes of `x`: the true ones for the real sets, the asked-for ones for generated samples."""
        own = self.own(x)
        labels = {"real": self.real_labels, "real2": self.real2_labels, "train": None}[own] if own else self.sample_labels
        return labels if labels is not None and len(labels) == len(x) else None


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, EvalSets, int], float]  # fn(samples (n, C, L), sets, seed) -> value
    lower_is_better: bool  # ignored when target is set
    applies: Callable[[EvalSets], bool]  # e.g. the gaussian-fit metrics only for synthetic gaussian data
    doc: str  # one line: what it measures and what "good" is
    target: float | None = None  # when set, closer to target is better (c2st: 0.5, ratios to real data: 1.0)
    ratio: bool = False  # a ratio to the real data's value: judged on a log scale (x2 as bad as x0.5; 0 worst)

    def better(self) -> str:
        """The table's 'better' column: 'lower', 'higher' or '~target'."""
        if self.target is not None:
            return f"~{self.target:g}"
        return "lower" if self.lower_is_better else "higher"

    def badness(self, value: float) -> float:
        """A number where lower is better whatever the metric's direction: to compare generators, keep the
        best checkpoint and find the transition. For a ratio, |log(value / target)|: twice the data's spread
        is as far off as half of it, and no spread at all (mode collapse) is infinitely far."""
        if math.isnan(value):  # e.g. nn_ratio without held-out data: no verdict, never "best"
            return math.nan
        if self.ratio:
            return abs(math.log(value / self.target)) if value > 0 else math.inf
        if self.target is not None:
            return abs(value - self.target)
        return value if self.lower_is_better else -value


METRICS: dict[str, Metric] = {}


def register(name: str, lower_is_better: bool = True, applies: Callable[[EvalSets], bool] = lambda sets: True,
             target: float | None = None, doc: str | None = None, ratio: bool = False):
    """Decorator: add `fn(samples, sets, seed) -> float` to METRICS. `doc` defaults to the first line of
    the function's docstring."""
    def deco(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        text = doc or (fn.__doc__ or "").strip().split("\n")[0]
        if not text:
            raise ValueError(f"metric {name!r} needs a one-line doc")
        METRICS[name] = Metric(name, fn, lower_is_better, applies, text, target, ratio)
        return fn
    return deco


def check_names(names) -> None:
    """Refuse a metric name the registry does not know, with a one-line message."""
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise WavegenError(f"unknown metric {unknown[0]!r} (known: {', '.join(sorted(METRICS))})")


def check_run_metrics(cfg) -> None:
    """Refuse a run's config that names a metric the registry does not know (eval_metrics, best_metric), with a
    one-line message: what a training run and a sweep check before they write anything."""
    check_names([*cfg.eval_metrics, cfg.best_metric])
