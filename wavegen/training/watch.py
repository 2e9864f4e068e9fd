"""Scoring during training: G's scores on the real sets, checkpoints/best.pt at the best score, and the stop on
divergence (the rules of evaluation/analysis.py)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch

from .. import checkpoint
from ..config import Config
from ..evaluation.analysis import analyse_rows
from ..evaluation.metrics import METRICS
from ..evaluation.scoring import score
from ..runfolder import read_stats


class Watch:
    """`eval_sets` are the real sets (evaluation/scoring.py); `log` the run's StatsLog."""

    def __init__(self, cfg: Config, run_dir: Path, eval_sets, log, device: torch.device):
        self.cfg, self.run_dir, self.eval_sets, self.log, self.device = cfg, run_dir, eval_sets, log, device

    def evaluate(self, G_sample: torch.nn.Module, step: int) -> dict[str, float]:
        """Score G on the real sets and log the scores."""
        scores = score(G_sample, self.cfg, self.eval_sets, list(self.cfg.eval_metrics), self.device)
        self.log.write({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        return scores

    def keep_best(self, scores: dict[str, float], progress, state: Callable[[], dict]) -> None:
        """At the run's best score so far: progress.best records it and checkpoints/best.pt gets `state()`."""
        value, best = scores.get(self.cfg.best_metric), progress.best
        badness = METRICS[self.cfg.best_metric].badness  # lower is better whatever the metric's direction
        if value is None or math.isnan(badness(value)):
            return
        if best is None or badness(value) < badness(best["value"]):
            progress.best = {"step": progress.step, "value": value}
            checkpoint.save_best(self.run_dir, state())

    def diverged(self, best: dict | None) -> str | None:
        """A line saying why to stop, when asked to stop on divergence and the run has drifted apart."""
        if not self.cfg.stop_on_divergence:
            return None
        metric = self.cfg.best_metric
        found = analyse_rows(read_stats(self.run_dir), metric)
        if found["divergence"] is None:
            return None
        return (f"diverged at batch {found['divergence']} (best {metric} {best['value']:.4g} at batch "
                f"{best['step']}, kept in checkpoints/best.pt): stopping")
