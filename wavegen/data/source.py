"""Where a run's examples come from: one call, `open_examples(cfg)`, for both kinds of data.

- length 0: every file is one example and all files have one length (the post's data); the folder is decoded
  once into a tensor in memory (`folder.load_folder`).
- length > 0: windows of `length` samples cut from audio of any length, rate and channel count, served from a
  memory-mapped cache built once (`windows.open_windows`), so a data set larger than memory trains in little RAM.
Both caches live in the cache folder (data/cache.py, `cfg.cache_dir`), never in the data folder; the run's log
says where, and how large, when one is built.
Both give `n`, `channels`, `length`, `sample_rate`, `skipped`, `classes`, `labels`, `set_epoch(epoch, seed)` and
`get(idx) -> (B, C, L)`; and what was left out or is worth saying (`left_out`, `ignored`, `notes`, `window_note`).
The classes come from the run's rule (data/labels.py: sub-folders, `classes_from_names` or `labels`).
"""
from __future__ import annotations

import torch

from pathlib import Path

from .cache import human, size_of
from .files import class_labels
from .folder import load_folder
from .labels import LabelRule, label_files


class InMemory:
    """Examples held as one (N, C, L) float32 tensor."""

    def __init__(self, x: torch.Tensor, sample_rate: int, skipped: list[tuple[str, str]] = (),
                 files: list[str] = ()):
        self.x = x  # (N, C, L)
        self.n, self.channels, self.length = x.shape
        self.sample_rate = sample_rate
        self.skipped = list(skipped)  # (file, reason) of the bad files left out (skip_bad)
        # the first-level sub-folders of the files (relative to the data folder, in the order of x), as for windows
        self.classes, self.labels = class_labels(list(files) or [""] * self.n)
        self.left_out, self.ignored, self.notes, self.window_note = [], 0, [], ""

    def relabel(self, folder: str, files: list[str], rule: LabelRule, need: bool) -> None:
        """Classes of the examples (files, in the order of x) by `rule`, less the files it leaves out."""
        lab = label_files(folder, files, rule, need)
        self.x = self.x[torch.from_numpy(lab.keep)]  # (N', C, L)
        self.n = len(self.x)
        self.classes, self.labels = lab.classes, lab.labels[lab.keep]
        self.left_out, self.notes = [*self.left_out, *lab.left_out], [*self.notes, *lab.notes]

    def set_epoch(self, epoch: int, seed: int) -> None:
        pass  # the same examples every epoch

    def get(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x[idx]  # (B, C, L)


def open_examples(cfg):
    rule, need = LabelRule.of_config(cfg), bool(cfg.conditional or cfg.balanced_classes)
    if cfg.length == 0:
        data = load_folder(cfg.data, cfg.formats, skip_bad=cfg.skip_bad, cache_dir=cfg.cache_dir)
        if data.built:
            _say_built(cfg.data, data.cache)
        examples = InMemory(data.x, data.sample_rate, data.skipped, data.files)
        examples.left_out, examples.ignored = list(data.left_out), data.ignored
        examples.relabel(cfg.data, data.files, rule, need)
        return examples
    from .windows import open_windows

    w = open_windows(cfg.data, formats=cfg.formats, length=cfg.length, sample_rate=cfg.sample_rate, mono=cfg.mono,
                     hop=cfg.hop, window=cfg.window, pad=cfg.pad, normalise=cfg.normalise, skip_bad=cfg.skip_bad,
                     cache_dir=cfg.cache_dir, rule=rule, need_classes=need)
    if w.cache_built:
        _say_built(cfg.data, w.folder)
    return w


def _say_built(data: str, cache: Path) -> None:
    # Printed by the process that built it (one rank under torchrun: the others waited and read it)
    print(f"decoded {data} into the cache {cache} ({human(size_of(cache))}; `wavegen cache clear` removes it)",
          flush=True)
