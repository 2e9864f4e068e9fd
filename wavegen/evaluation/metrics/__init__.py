"""Offline quality metrics: how close a set of generated waveforms is to the real data.

Every metric is a function `fn(samples, sets, seed) -> float` of the generated samples (n, C, L) and the
evaluation sets. It is registered under a name with the direction that is better: lower, higher, or
closer to a target value (e.g. 0.5 for the classifier test's accuracy, 1.0 for a ratio to the real data).

A metric value alone says little, because every estimate from a finite set has a floor (the Frechet
distance between two sets drawn from one distribution is not 0). So `evaluate` also scores a second real
set B (`sets.real2`, disjoint from the reference set A) in place of the samples: "real vs real" is the
value a perfect generator would get, up to sampling noise.

    sets = EvalSets(real=a, real2=b, train=train, sample_rate=16000, meta=read_meta(folder))
    results = evaluate(samples, sets)          # {name: {"value", "real_vs_real", ...}}
    print(format_table(results))

The sets are treated as read-only: features and fits of their arrays are cached on the EvalSets object.
"""
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


def evaluate(samples: np.ndarray, sets: EvalSets, names: list[str] | None = None, seed: int = 0) -> dict[str, dict]:
    """Every metric in `names` (default: all) that applies to `sets`, on the samples and on real set B.

    Returns {name: {"value": on samples, "real_vs_real": on sets.real2, "lower_is_better", "target", "doc"}},
    in registry order. A named metric that does not apply to these sets (e.g. a gaussian-fit metric on
    ordinary audio) is left out; an unknown name is an error.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 3 or samples.shape[1:] != sets.real.shape[1:]:
        raise WavegenError(f"samples have shape {samples.shape}; the real data's examples are (C, L) = {sets.real.shape[1:]}")
    if not np.isfinite(samples).all():
        raise WavegenError("samples hold NaN or Inf")
    check_names(names or [])
    out = {}
    for name, m in METRICS.items():
        if (names is not None and name not in names) or not m.applies(sets):
            continue
        out[name] = {"value": float(m.fn(samples, sets, seed)), "real_vs_real": float(m.fn(sets.real2, sets, seed)),
                     "lower_is_better": m.lower_is_better, "target": m.target, "doc": m.doc}
    return out


def check_names(names) -> None:
    """Refuse a metric name the registry does not know, with a one-line message."""
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise WavegenError(f"unknown metric {unknown[0]!r} (known: {', '.join(sorted(METRICS))})")


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.4g}"


def format_table(results: dict[str, dict]) -> str:
    """A plain-text table, one row per metric: metric | generated | real vs real | better."""
    header = ("metric", "generated", "real vs real", "better")
    rows = [(name, _fmt(r["value"]), _fmt(r["real_vs_real"]),
             f"~{r['target']:g}" if r.get("target") is not None else ("lower" if r["lower_is_better"] else "higher"))
            for name, r in results.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(row):  # names left-aligned, numbers right-aligned
        return "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:3], widths[1:3])), row[3].ljust(widths[3])]).rstrip()
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)]) + "\n"


# Importing the metric modules fills METRICS (each registers its metrics at import).
from . import frechet, mmd, c2st, ndb, memorisation, gaussian_fit  # noqa: E402,F401
from . import prdc, cls_fd, kid, inception, mis, cls_acc  # noqa: E402,F401

__all__ = ["EvalSets", "Metric", "METRICS", "register", "evaluate", "format_table"]
