"""Everything the doctor's checks read about a run, loaded once: the config, the data's description, the per-batch
statistics as numpy columns (streamed, so a 100,000-batch stats.jsonl reads in about a second), the scores and
events, G's previews, and (lazily, only when a check asks) a few real examples and their features.

Nothing here writes anything; the data is read through the same loader training used (its cache, when one exists).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ...config import Config, load_config
from ...errors import WavegenError
from ...runfolder import BATCH_KEYS, read_json_object, require_run
from ..analysis import analyse_rows, smooth, window
from ..metrics import METRICS
from .scores import Scores, preview_scores, sampling_floor

REAL_N = 256  # real examples loaded for the sample checks (and as many training examples)
TAIL = 0.1  # share of the batches that is "the end of the run"
MIN_TAIL = 20  # ... at least this many batch rows


@dataclass
class Stats:
    steps: np.ndarray
    cols: dict[str, np.ndarray]
    evals: dict[str, tuple[list, list]] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    rows: int = 0

    def __getitem__(self, key: str) -> np.ndarray:
        return self.cols[key]


def read_stats_columns(path: Path) -> Stats:
    """stats.jsonl as numpy columns, streamed line by line (a torn last line, from a live or crashed run, is
    dropped; any other bad line is a one-line error naming the file)."""
    steps, cols = [], {k: [] for k in BATCH_KEYS}
    evals: dict[str, tuple[list, list]] = {}
    events = []
    n = 0
    if not path.exists():
        return Stats(np.zeros(0, int), {k: np.zeros(0) for k in BATCH_KEYS})
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if i == len(lines):  # unterminated last line: being written, or torn by a crash
                break
            raise WavegenError(f"{path}: line {i} is not valid JSON; the file is corrupt") from None
        n += 1
        if not isinstance(row, dict) or "step" not in row:
            continue
        if "loss/G" in row:
            steps.append(row["step"])
            for k in BATCH_KEYS:
                cols[k].append(row.get(k, np.nan))
        elif any(k.startswith("event/") for k in row):
            events.append(row)
        else:
            for k, v in row.items():
                if k.startswith("eval/"):
                    s, vals = evals.setdefault(k[len("eval/"):], ([], []))
                    s.append(row["step"])
                    vals.append(np.nan if v is None else v)
    return Stats(np.array(steps, dtype=np.int64), {k: np.array(v, dtype=float) for k, v in cols.items()},
                 evals, events, n)


class Evidence:
    """A run as the checks see it. Expensive parts (real data, features, preview scores) load on first use."""

    def __init__(self, run: str | Path, real_n: int = REAL_N):
        self.run = require_run(run)
        self.cfg: Config = load_config(self.run / "config.json")
        path = self.run / "data.json"
        self.data = read_json_object(path, "the data's description") if path.exists() else {}
        self.stats = read_stats_columns(self.run / "stats.jsonl")
        self.real_n = real_n
        self.notes: list[str] = []  # what could not be checked, and why

    # The statistics.

    @property
    def batches(self) -> int:
        return int(self.stats.steps[-1]) if len(self.stats.steps) else 0

    @cached_property
    def w(self) -> int:
        return window(len(self.stats.steps))

    def smoothed(self, key: str, n: int | None = None) -> np.ndarray:
        return smooth(self.stats[key], n or self.w)

    @cached_property
    def margin(self) -> np.ndarray:
        """D's mean output on real minus on fake, per batch (its logits for bce, nonsat, hinge)."""
        return self.stats["D/real"] - self.stats["D/fake"]

    @cached_property
    def smoothed_margin(self) -> np.ndarray:
        return smooth(self.margin, self.w)

    def tail(self, x: np.ndarray, share: float = TAIL) -> np.ndarray:
        k = max(MIN_TAIL, int(len(x) * share))
        return x[-k:]

    @cached_property
    def analysis(self) -> dict:
        """analysis.analyse_rows on the same statistics (transition, divergence, best score)."""
        rows = [{"step": int(s), **{k: float(self.stats[k][i]) for k in ("D/real", "D/fake", "loss/G")}}
                for i, s in enumerate(self.stats.steps)] if len(self.stats.steps) <= 20_000 else self._thin_rows()
        for name, (steps, values) in self.stats.evals.items():
            rows += [{"step": s, f"eval/{name}": v} for s, v in zip(steps, values)]
        return analyse_rows(rows, self.cfg.best_metric)

    def _thin_rows(self) -> list[dict]:
        """Every k-th batch row (averaged), for long runs: the analysis reads smoothed curves anyway."""
        k = len(self.stats.steps) // 10_000 + 1
        n = len(self.stats.steps) // k * k
        mean = {key: self.stats[key][:n].reshape(-1, k).mean(1) for key in ("D/real", "D/fake", "loss/G")}
        return [{"step": int(s), **{key: float(mean[key][i]) for key in mean}}
                for i, s in enumerate(self.stats.steps[k - 1:n:k])]

    @cached_property
    def g_update_ratio(self) -> float | None:
        """Median of G's per-layer update ratios (|dW| / |W| per batch) over the last 200 rows of layers.jsonl."""
        path = self.run / "layers.jsonl"
        if not path.exists():
            return None
        ratios = []
        for line in path.read_bytes().split(b"\n")[-200:]:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            ratios += [v[2] for k, v in row.items() if k.startswith("G/") and isinstance(v, list) and len(v) == 3]
        return float(np.median(ratios)) if ratios else None

    @cached_property
    def far_ratio(self) -> float | None:
        """How many times farther the newest samples are from the data than real data is (None: no data or samples)."""
        real, x = self.compared, self.samples
        if real is None or x is None or not np.isfinite(x).all() or x.shape[1:] != real.train.shape[1:]:
            return None
        return real.distance(x) / max(real.floor(len(x)), 1e-9)

    # Quality along the run.

    @cached_property
    def scores(self) -> Scores | None:
        """The run's logged best_metric (or first metric) as a quality curve; else previews scored here."""
        evals = self.stats.evals
        name = self.cfg.best_metric if self.cfg.best_metric in evals else next(iter(sorted(evals)), None)
        if name is not None:
            steps, values = (np.array(v, dtype=float) for v in evals[name])
            m = METRICS.get(name)
            bad = np.array([m.badness(v) for v in values]) if m else values
            keep = np.isfinite(bad)
            if keep.sum() >= 2:
                return Scores(name, steps[keep].astype(int), values[keep], bad[keep], sampling_floor(name, self.cfg))
        return preview_scores(self)  # reads the real data: only when no scores were logged

    # Previews and real data.

    @cached_property
    def preview_steps(self) -> list[int]:
        d = self.run / "previews"
        if not d.is_dir():
            return []
        return sorted(int(p.stem[5:]) for p in d.glob("step_*.npy") if p.stem[5:].isdigit())

    def preview(self, step: int) -> np.ndarray | None:
        """G's output on the fixed noise at `step`, (n, C, L) float64, or None when unreadable."""
        try:
            x = np.load(self.run / "previews" / f"step_{step:08d}.npy", allow_pickle=False)
        except (OSError, ValueError):
            return None
        return x.astype(np.float64) if x.ndim == 3 else None

    @cached_property
    def samples(self) -> np.ndarray | None:
        """The newest preview: what G makes at the end of the run."""
        steps = [s for s in self.preview_steps if s > 0]
        return self.preview(steps[-1]) if steps else None

    @cached_property
    def sample_step(self) -> int | None:
        steps = [s for s in self.preview_steps if s > 0]
        return steps[-1] if steps else None

    @cached_property
    def real(self):
        """RealData (real.py) or None where the data cannot be read (moved, deleted): the sample checks then skip."""
        from .real import load_real

        try:
            return load_real(self)
        except (WavegenError, OSError) as e:
            self.notes.append(f"the data could not be read ({str(e)[:160]}): sample checks against it skipped")
            return None

    @cached_property
    def compared(self):
        """`real` where it holds enough examples to compare G's samples with (a spread needs two), else None."""
        real = self.real
        if real is not None and not real.comparable:
            self.notes.append(f"{len(real.train)} training and {len(real.ref)} other real examples read: too few to "
                              "compare G's samples with, sample checks skipped")
            return None
        return real
