"""Fixed-length examples cut from prepared audio (data/prepared.py): a cache folder read through a memory map, or
the same decoded into memory when the cache is turned off."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import WavegenError
from .files import MAX_LISTED
from .labels import LabelRule, relabel
from .prepared import FORMATS, Prepared, load_prepared, open_prepared

WINDOW_MODES = ("auto", "random", "all", "first")  # see Windows
NORMALISE_MODES = ("none", "peak", "rms")
RMS_TARGET = 0.1  # normalise="rms" scales each window to this RMS
MAX_WINDOW = 2**24  # samples in a window or between windows: 17 minutes at 16 kHz, far past any model's length
SILENT = 1e-6  # a window whose peak (or RMS) is below this is silence: left as it is rather than blown up
ONESHOT_SECONDS = 10  # a file at most this long whose loudest sample is in its first window is a one-shot (a hit)
AUTO_FILES = 512  # files window "auto" reads (evenly spread over the data) to tell one-shots from recordings


class Windows:
    """Examples of `length` samples cut from prepared audio: a prepared folder, read through a memory map, or a
    Prepared in memory.

    Window starts within a file are 0, hop, 2*hop, ... (hop 0 = length: no overlap):
      window="all"     every such window, the same every epoch;
      window="random"  as many windows per file as "all", but each epoch the file's starts move by a random
                       offset in [0, hop), so over the epochs every position is seen. A start the offset would
                       push past the last start of "all" (pad=True) or of a full window (pad=False) stops there,
                       so no window holds more padding than in "all" and none repeats. (Each epoch covers a file
                       from its offset on: position p < hop is in a window with probability (p + 1) / hop.)
      window="first"   the first window of each file only (WaveGAN's first-slice mode): a one-shot's onset;
      window="auto"    "first" when most files are one-shots (at most ONESHOT_SECONDS long, their loudest sample
                       in their first window: the windows past it are a decay), else "random"; `window_note`
                       says when it chose "first", and why.
    pad=True end-pads with zeros a file shorter than `length` and the last, partial window of a longer one;
    pad=False drops partial windows, and files shorter than `length` are an error.
    normalise: "none"; "peak" divides each window by its max |x|; "rms" scales it to RMS RMS_TARGET (peaky windows
    may then exceed 1). Windows quieter than SILENT are left as they are.
    """

    def __init__(self, prepared: str | Path | Prepared, length: int, hop: int = 0, window: str = "random",
                 pad: bool = True, normalise: str = "none"):
        _check_window_args(length, hop, window, normalise)
        data = prepared if isinstance(prepared, Prepared) else open_prepared(prepared)
        meta = data.meta
        self.folder = data.folder  # the cache folder; None in memory
        self.cache_built = data.built  # whether opening these windows built that cache
        self.samples = data.samples  # (C, T), on disk or in memory
        file_start, file_len, file_label = data.start, data.length, data.label  # (F,) each
        self.length, self.hop, self.window, self.pad, self.normalise = length, hop or length, window, pad, normalise
        self.channels, self.sample_rate = int(meta["channels"]), int(meta["sample_rate"])
        self.classes: list[str] = list(meta["classes"])
        self.skipped = [tuple(s) for s in meta.get("skipped", [])]  # (file, reason) left out by prepare(skip_bad)
        self.left_out, self.ignored, self.notes = list(data.left_out), data.ignored, list(data.notes)  # prepared.py
        self.files = list(data.files)
        L, H = self.length, self.hop
        self.window_note = ""
        if window == "auto":
            self.window, self.window_note = auto_window(self.samples, file_start, file_len, L, self.sample_rate)
            window = self.window

        if not pad:
            short = np.flatnonzero(file_len < L)
            if len(short):
                src = Path(meta["source"])
                lines = [f"{self.folder or src}: {len(short)} of {len(file_len)} files are too short for length {L} "
                         f"(pad is off, so they cannot be zero-padded):"]
                lines += [f"  {src / self.files[i]}: {file_len[i]} samples" for i in short[:MAX_LISTED]]
                if len(short) > MAX_LISTED:
                    lines.append(f"  ... and {len(short) - MAX_LISTED} more")
                lines.append("turn pad on (train: --pad true) to zero-pad them, or choose a shorter length")
                raise WavegenError("\n".join(lines))
        count = window_counts(file_len, L, H, window, pad)  # (F,)
        # the last start a window may take: the last of "all", or the last full window's
        max_start = np.maximum(np.maximum(file_len - L, (count - 1) * H), 0)  # (F,)

        self.file_of = np.repeat(np.arange(len(count)), count)  # (n,) which file each example is cut from
        self.k_of = np.arange(len(self.file_of)) - np.repeat(np.cumsum(count) - count, count)  # (n,) its window number
        self._file_start, self._file_len, self._max_start = file_start, file_len, max_start
        self.n = len(self.file_of)
        self.labels = file_label[self.file_of].astype(np.int64)  # (n,) -1: unlabelled (a file at the top level)
        self._total = self.samples.shape[1]
        self.set_epoch(0, 0)

    def __len__(self) -> int:
        return self.n

    @property
    def file_lengths(self) -> np.ndarray:
        """(F,) samples in each file."""
        return self._file_len

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Place the windows for `epoch`: a pure function of (seed, epoch), so a resumed run sees the same ones."""
        offset = np.zeros(len(self._file_len), np.int64)  # (F,)
        if self.window == "random":
            offset = np.random.default_rng((seed, epoch)).integers(0, self.hop, len(self._file_len))
        f = self.file_of
        self.starts = np.minimum(offset[f] + self.k_of * self.hop, self._max_start[f])  # (n,) within each file
        self._at = self._file_start[f] + self.starts  # (n,) within samples
        self._valid = np.minimum(self.length, self._file_len[f] - self.starts)  # (n,) samples before any padding

    def get(self, idx) -> torch.Tensor:
        """Examples number `idx` (array or tensor of B ints) as a (B, C, L) float32 tensor."""
        if isinstance(idx, torch.Tensor):
            idx = idx.detach().cpu().numpy()
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)  # (B,)
        t = np.arange(self.length)  # (L,)
        pos = np.minimum(self._at[idx, None] + t, self._total - 1)  # (B, L) positions in samples
        inside = t < self._valid[idx, None]  # (B, L) False on the padding (which may hold the next file)
        x = self.samples[:, pos]  # (C, B, L): one gather from the map, only these pages are read
        x = np.where(inside[None], x, np.float32(0)).transpose(1, 0, 2)  # (B, C, L)
        if self.normalise != "none":
            flat = x.reshape(len(idx), -1)  # (B, C * L)
            level = np.abs(flat).max(1) if self.normalise == "peak" else np.sqrt((flat * flat).mean(1))  # (B,)
            target = 1.0 if self.normalise == "peak" else RMS_TARGET
            gain = np.where(level > SILENT, target / np.maximum(level, SILENT), 1).astype(np.float32)  # (B,)
            x = x * gain[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def auto_window(samples: np.ndarray, file_start: np.ndarray, file_len: np.ndarray, length: int,
                rate: int) -> tuple[str, str]:
    """The window mode "auto" stands for, and a line that says so when it is "first" and that matters (a file is
    longer than a window): "first" when at least half of the files (of AUTO_FILES read, evenly spread) are
    one-shots. samples: (C, T); file_start, file_len: (F,)."""
    if not len(file_len):
        return "random", ""
    if (file_len <= length).all():  # one window per file either way: nothing to say
        return "first", ""
    read = np.unique(np.linspace(0, len(file_len) - 1, min(len(file_len), AUTO_FILES)).astype(np.int64))
    shots = 0
    for f in read:
        n = int(file_len[f])
        if n > ONESHOT_SECONDS * rate:
            continue
        x = np.abs(samples[:, file_start[f]:file_start[f] + n]).max(0)  # (n,) the loudest channel at each time
        shots += int(x.argmax() < length)
    if 2 * shots < len(read):
        return "random", ""
    return "first", (f"window auto: first, the onset of each file: {shots} of the {len(read)} files read are "
                     f"one-shots (at most {ONESHOT_SECONDS} s, loudest in their first {length} samples); "
                     "--window random cuts windows all through the files instead")


def window_counts(file_len: np.ndarray, length: int, hop: int, window: str = "random", pad: bool = True) -> np.ndarray:
    """(F,) examples cut from files of `file_len` samples by windows of `length` every `hop` samples."""
    full = np.where(file_len >= length, (file_len - length) // hop + 1, 0)  # windows that fit whole
    if window == "first":
        return np.ones_like(file_len)
    if pad:
        # one more, end-padded, window where the full ones leave samples uncovered and the next start is in the file
        tail = (full == 0) | (((full - 1) * hop + length < file_len) & (full * hop < file_len))
        return full + tail
    return full


def _check_window_args(length: int, hop: int, window: str, normalise: str) -> None:
    if not 0 < length <= MAX_WINDOW:
        raise WavegenError(f"length must be between 1 and {MAX_WINDOW:,} samples, got {length}")
    if not 0 <= hop <= MAX_WINDOW:
        raise WavegenError(f"hop must be 0 (= length) or up to {MAX_WINDOW:,} samples, got {hop}")
    if window not in WINDOW_MODES:
        raise WavegenError(f"window must be one of {', '.join(WINDOW_MODES)}; got {window!r}")
    if normalise not in NORMALISE_MODES:
        raise WavegenError(f"normalise must be one of {', '.join(NORMALISE_MODES)}; got {normalise!r}")


def open_windows(folder: str | Path, *, length: int, formats: tuple[str, ...] = FORMATS, sample_rate: int = 0,
                 mono: bool = True, hop: int = 0, window: str = "random", pad: bool = True, normalise: str = "none",
                 skip_bad: bool = False, cache_dir: str | None = None, rule: LabelRule = LabelRule(),
                 need_classes: bool = False) -> Windows:
    """Windows of a folder of audio in one call: prepares the cache (or reuses it) and opens it; with cache_dir
    "none" (or an unwritable cache folder) decodes into memory instead. `folder` may also be a prepared folder.
    The files' classes come from `rule` (data/labels.py; `need_classes`: the caller uses them)."""
    _check_window_args(length, hop, window, normalise)  # before a decode that may take minutes
    folder = Path(folder)
    if (folder / "prepared.json").exists():
        data = open_prepared(folder)
        src = Path(data.meta["source"])
    else:
        data = load_prepared(folder, sample_rate=sample_rate, mono=mono, formats=formats, skip_bad=skip_bad,
                             cache_dir=cache_dir)
        src = folder
    return Windows(relabel(data, src, rule, need_classes), length, hop, window, pad, normalise)
