"""What a run checks and opens before it builds anything: its device, its run folder, and its data (the training
examples, their classes, the held-out real sets it is scored on)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config
from ..data.files import describe_skipped
from ..data.source import open_examples
from ..data.synthetic import GaussianSpec, read_meta
from ..errors import WavegenError
from ..evaluation.scoring import add_judge, real_sets, split_holdout
from ..models.build import check_model
from ..runfolder import outside_data
from ..runlock import leftovers
from .distributed import World, check_batch
from .order import training_labels


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WavegenError(f"device {name!r} asked for, but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise WavegenError(f"unknown device {name!r}") from None


def check_run(cfg: Config, resume: bool) -> Path:
    """The run folder must exist to resume, and must not (or be empty) to start: runs are never overwritten."""
    run = Path(cfg.out)
    if not cfg.out:
        raise WavegenError("no run folder given (--out)")
    if run.exists() and not run.is_dir():
        raise WavegenError(f"{run}: is a file, not a run folder (--out names the folder to train into)")
    if resume and not (run / "config.json").exists():
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
    outside_data(cfg.data, run, "the run folder (--out)")
    if not resume and run.exists() and leftovers(run):  # temp files and the lock: a start killed mid-write
        raise WavegenError(f"{run}: run folder exists; resume it with --resume {run} or choose another --out")
    return run


class TrainingData:
    """The run's examples, which of them train (`train_idx`, (n,)), this rank's batch size `b`, their classes
    (`labels`, (n,), when the run uses them), what data.json records (`info`), and the real sets scores are taken
    against (rank 0, when the run scores)."""

    def __init__(self, cfg: Config, world: World):
        self.examples = examples = open_examples(cfg)
        if world.main:  # one line for every file left out, and one for each choice made on the user's behalf
            skipped = [*examples.skipped, *examples.left_out]
            for line in [describe_skipped(skipped, examples.ignored if skipped else 0), *examples.notes,
                         examples.window_note]:
                if line:
                    print(line, flush=True)
        self.train_idx, _ = split_holdout(examples.n, cfg.holdout, cfg.seed)  # (n,) example numbers used for training
        check_model(cfg, examples.length)  # a length the layers cannot make is refused before anything is written
        self.b = check_batch(cfg.batch_size, cfg.batch_scope, world)  # this rank's examples per batch
        n = len(self.train_idx)
        self.info = {"n": n, "channels": examples.channels, "length": examples.length,
                     "sample_rate": examples.sample_rate, "meta": read_meta(cfg.data), "held_out": examples.n - n,
                     "classes": examples.classes}
        self.audio = GaussianSpec.from_meta(self.info["meta"]) is None  # audio, not the post's curves
        self.labels, note = training_labels(cfg, examples, self.train_idx, self.b)
        if note and world.main:
            print(note, flush=True)
        self.eval_sets = None
        if cfg.eval_every and world.main:
            self.eval_sets, _ = real_sets(examples, self.info["meta"], examples.sample_rate, cfg.holdout, cfg.seed,
                                          cfg.eval_n)
            add_judge(self.eval_sets, cfg, list(cfg.eval_metrics))  # fitted before training, once per data
