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

import numpy as np

from ...errors import WavegenError
# Importing the metric modules fills METRICS (each registers its metrics at import), in this order.
from . import frechet, mmd, c2st, ndb, memorisation, gaussian_fit  # noqa: F401
from . import prdc, cls_fd, kid, inception, mis, cls_acc, harmonicity  # noqa: F401
from .registry import METRICS, EvalSets, Metric, check_names, check_run_metrics, register


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


__all__ = ["EvalSets", "Metric", "METRICS", "register", "evaluate", "format_table", "check_names",
           "check_run_metrics"]
