"""The judge: a small classifier trained on the user's own labelled folder (class = first-level sub-folder, or by
the run's --classes-from-names or --labels: data/labels.py), whose
outputs the classifier metrics read (cls_fd, kid, is, mis, cls_acc; precision / recall / density / coverage when
there is one). No model is downloaded: `wavegen classifier fit DATA` trains it, in about a minute on 2 CPU cores
for a few thousand one-second clips.

    input     (B, C, L) waveforms at the data's rate, channels averaged
    features  log-mel: Hann STFT (frame ~32 ms, a power of two; hop half a frame), N_MELS triangular mel bands
    net       the mel bands are the channels of 1-D convolutions over time (cheap on a CPU); mean and max over
              time; a dense layer gives the FEATURES-wide penultimate vector (what cls_fd and kid compare); a
              dense layer gives the class logits
    training  time shift, gain and added white noise, so that slightly noisy but right samples are still
              recognised; a fifth of each class's files held out (windows of one file never straddle the split)

It is saved weights-only (judge.pt, a state dict that torch.load(weights_only=True) reads, and judge.json: classes,
sizes, accuracy, the data's fingerprint) in the data folder's entry of the cache folder (data/cache.py), beside the
prepared cache, keyed by the options the windows depend on, and reused until a file of the data changes.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.cache import CacheUnwritable, cache_root, claim, locked, touch, warn
from ..data.labels import LabelRule, relabel
from ..data.prepared import FORMATS, load_prepared
from ..data.windows import Windows, auto_window
from ..errors import WavegenError
from ..atomic import atomic_write
VERSION = 1  # of the judge's network and files; a judge of another version is fitted again
N_MELS = 64
WIDTH = 64  # channels of the first convolutions
FEATURES = 128  # the penultimate layer: what cls_fd and kid compare
HELD_OUT = 0.2  # share of each class's files kept out of training for the accuracy
BATCH = 64
EPOCHS = 20  # 1,600 one-second clips: held-out accuracy 1.0 on `wavegen data sounds` in about a minute on 2 cores
PER_EPOCH = 4096  # windows drawn per epoch at most, so a long recording costs epochs, not hours
LR = 3e-3
LOG_FLOOR = 1e-6  # keeps log finite on silence; about -60 dB below a full-scale band
MAX_SHIFT = 0.1  # time shift of up to this share of the window, either way
GAIN_DB = (-12.0, 6.0)
NOISE_SNR_DB = (0.0, 30.0)  # added white noise at a signal-to-noise ratio drawn from this range...
NOISE_P = 0.5  # ...for this share of the training examples
PCT_START = 0.2  # share of the steps over which the learning rate rises (OneCycleLR)
# OneCycleLR needs two steps of rise at least (pct_start * total_steps >= 2): fewer steps than this (a few clips
# for a few epochs) take the schedule's start only
MIN_SCHEDULE = math.ceil(2 / PCT_START)


def frame_for(sample_rate: int) -> int:
    """The STFT frame: the power of two nearest 32 ms, at least 64 samples."""
    return max(64, 1 << round(math.log2(0.032 * sample_rate)))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters evenly spaced on the HTK mel scale from 0 to Nyquist, each
    normalised to sum to 1 (a band is a mean of power bins, so bands of any width are comparable)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)  # (F,) centre frequency of each power bin
    edges = hz(np.linspace(0, mel(sample_rate / 2), n_mels + 2))  # (M + 2,)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    w = np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))  # (M, F)
    empty = w.sum(1) == 0  # a band narrower than a bin: take the nearest bin, so no band is all zero
    w[empty, np.abs(bins[None] - mid[empty]).argmin(1)] = 1.0
    return torch.from_numpy(w / w.sum(1, keepdims=True)).float()


class JudgeNet(nn.Module):
    """Log-mel -> convolutions over time -> FEATURES -> logits. Any input length works (pooling over time)."""

    def __init__(self, sample_rate: int, n_classes: int, n_mels: int = N_MELS, width: int = WIDTH,
                 features: int = FEATURES):
        super().__init__()
        self.n_fft = frame_for(sample_rate)
        n_mels = min(n_mels, self.n_fft // 4)  # at low rates a frame has too few bins for N_MELS bands
        self.register_buffer("mel", mel_filterbank(sample_rate, self.n_fft, n_mels))  # (M, F)
        self.register_buffer("window", torch.hann_window(self.n_fft))

        def block(cin, cout):
            return [nn.Conv1d(cin, cout, 3, padding=1), nn.BatchNorm1d(cout), nn.ReLU()]
        self.norm = nn.BatchNorm1d(n_mels)  # standardises each band with the training data's statistics
        self.convs = nn.Sequential(*block(n_mels, width), *block(width, width), nn.MaxPool1d(2, ceil_mode=True),
                                   *block(width, 2 * width), *block(2 * width, 2 * width))
        self.penultimate = nn.Sequential(nn.Linear(4 * width, features), nn.ReLU())
        self.head = nn.Linear(features, n_classes)

    def logmel(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, M, T) log mel band powers of the channels' mean."""
        x = x.mean(1)  # (B, L)
        spec = torch.stft(x, self.n_fft, self.n_fft // 2, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)  # (B, F, T)
        power = spec.real ** 2 + spec.imag ** 2
        return torch.log(torch.einsum("mf,bft->bmt", self.mel, power) + LOG_FLOOR)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, L) -> (logits (B, K), penultimate features (B, FEATURES))."""
        h = self.convs(self.norm(self.logmel(x)))  # (B, 2 width, T')
        f = self.penultimate(torch.cat([h.mean(2), h.amax(2)], 1))  # (B, FEATURES)
        return self.head(f), f


@dataclass
class Judge:
    """A fitted judge: its network (in eval mode) and judge.json's record."""
    net: JudgeNet
    meta: dict  # classes, sample_rate, length, accuracy, fingerprint, options, ...
    path: Path | None = None  # its folder in the cache; None when it could not be saved

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def sample_rate(self) -> int:
        return int(self.meta["sample_rate"])

    def outputs(self, x: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(n, C, L) waveforms -> (logits (n, K), features (n, FEATURES)), float64."""
        logits, feats = [], []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                lo, f = self.net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32)))
                logits.append(lo.double().numpy())
                feats.append(f.double().numpy())
        return np.concatenate(logits), np.concatenate(feats)


# Fitting.

def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(B, C, L) -> the same with a random time shift (zero-filled), gain, and, for some, added white noise."""
    b, _, length = x.shape
    shift = ((torch.rand(b, generator=g) * 2 - 1) * MAX_SHIFT * length).long()  # (B,)
    src = torch.arange(length)[None] - shift[:, None]  # (B, L): where each output sample comes from
    inside = ((src >= 0) & (src < length))[:, None]  # (B, 1, L)
    x = torch.where(inside, x.gather(2, src.clamp(0, length - 1)[:, None].expand_as(x)), x.new_zeros(()))
    gain_db = GAIN_DB[0] + (GAIN_DB[1] - GAIN_DB[0]) * torch.rand(b, 1, 1, generator=g)
    x = x * 10 ** (gain_db / 20)
    snr_db = NOISE_SNR_DB[0] + (NOISE_SNR_DB[1] - NOISE_SNR_DB[0]) * torch.rand(b, 1, 1, generator=g)
    rms = x.pow(2).mean((1, 2), keepdim=True).sqrt()
    noisy = (torch.rand(b, 1, 1, generator=g) < NOISE_P).float()
    return x + noisy * rms * 10 ** (-snr_db / 20) * torch.randn(x.shape, generator=g)


def split_files(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training files, held-out files): HELD_OUT of each class's files, at least one where it has two."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for k in np.unique(labels[labels >= 0]):
        files = rng.permutation(np.flatnonzero(labels == k))
        n_held = min(len(files) - 1, max(1, round(HELD_OUT * len(files))))
        held.append(files[:n_held])
        train.append(files[n_held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def accuracy(net: JudgeNet, w: Windows, idx: np.ndarray) -> tuple[float, list[float]]:
    """Accuracy of `net` on windows `idx` of `w`, overall and per class (NaN for a class with none there)."""
    net.eval()
    pred = []
    with torch.no_grad():
        for i in range(0, len(idx), 256):
            pred.append(net(w.get(idx[i:i + 256]))[0].argmax(1).numpy())
    right = np.concatenate(pred) == w.labels[idx] if len(idx) else np.zeros(0, bool)
    per = [float(right[w.labels[idx] == k].mean()) if (w.labels[idx] == k).any() else math.nan
           for k in range(len(w.classes))]
    return float(right.mean()) if len(right) else math.nan, per


def train_net(w: Windows, train_idx: np.ndarray, epochs: int, seed: int, say=print) -> JudgeNet:
    """The judge's network, trained on windows `train_idx` of `w`; the caller's random streams are untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        net = JudgeNet(w.sample_rate, len(w.classes))
        per_epoch = min(len(train_idx), PER_EPOCH)
        steps = epochs * math.ceil(per_epoch / BATCH)
        opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=max(steps, MIN_SCHEDULE), pct_start=PCT_START)
        began = time.time()
        for epoch in range(epochs):
            net.train()
            order = train_idx[torch.randperm(len(train_idx), generator=g)[:per_epoch].numpy()]
            total = 0.0
            for i in range(0, per_epoch, BATCH):
                idx = order[i:i + BATCH]
                if len(idx) < 2:  # BatchNorm cannot train on one example
                    continue
                logits, _ = net(augment(w.get(idx), g))
                loss = nn.functional.cross_entropy(logits, torch.from_numpy(w.labels[idx]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            say(f"  epoch {epoch + 1}/{epochs}: loss {total / per_epoch:.3f} ({time.time() - began:.0f} s)")
    return net.eval()


# Where it lives, and when it is reused.

@dataclass
class JudgeSpec:
    """What a judge is fitted for: a data folder's examples as a run sees them."""
    data: str
    sample_rate: int = 0  # 0: the files' own
    length: int = 0  # 0: the longest file
    mono: bool = True
    normalise: str = "none"
    formats: tuple[str, ...] = FORMATS
    cache_dir: str | None = None
    skip_bad: bool = False
    rule: LabelRule = LabelRule()  # where the classes come from (data/labels.py)
    window: str = "all"  # windows half a window apart through every file, or the "first" of each (one-shots:
    # what a run with --window first trains on), or "auto" as data/windows.py resolves it

    @classmethod
    def of_config(cls, cfg) -> "JudgeSpec":
        return cls(cfg.data, cfg.sample_rate, cfg.length, cfg.mono, cfg.normalise, tuple(cfg.formats),
                   cfg.cache_dir or None, cfg.skip_bad, LabelRule.of_config(cfg),
                   cfg.window if cfg.window in ("first", "auto") else "all")

    def options(self) -> dict:
        window = {} if self.window == "all" else {"window": self.window}  # judges fitted before: all windows
        return {"version": VERSION, "sample_rate": self.sample_rate, "length": self.length, "mono": self.mono,
                "normalise": self.normalise, **self.rule.key(), **window}

    def folder(self) -> Path | None:
        """The judge's folder in the cache, or None with the cache turned off."""
        root = cache_root(self.cache_dir)
        if root is None:
            return None
        key = hashlib.sha1(json.dumps(self.options(), sort_keys=True).encode()).hexdigest()[:10]
        return claim(root, self.data) / f"judge-{key}"


class NoClasses(WavegenError):
    """The data has fewer than two classes: nothing to judge (the classifier metrics then do not apply)."""


def open_labelled(spec: JudgeSpec) -> tuple[Windows, str]:
    """The folder's windows (every window, half a window apart) and the fingerprint of its files; a folder without
    two classes is an error."""
    data = load_prepared(spec.data, sample_rate=spec.sample_rate, mono=spec.mono, formats=spec.formats,
                         skip_bad=spec.skip_bad, cache_dir=spec.cache_dir)
    data = relabel(data, spec.data, spec.rule)
    length = spec.length or int(data.length.max())
    classes = data.meta["classes"]
    if not classes:
        raise NoClasses(f"{spec.data}: no class sub-folders; the judge learns the classes from the first-level "
                        "sub-folder names (DATA/kick/*.wav, DATA/snare/*.wav, ...), --classes-from-names or --labels")
    if len(classes) < 2:
        raise NoClasses(f"{spec.data}: one class ({classes[0]}); the judge needs at least two classes")
    counts = np.bincount(data.label[data.label >= 0], minlength=len(classes))
    if counts.min() < 2:
        few = classes[int(counts.argmin())]
        raise WavegenError(f"{spec.data}: class {few!r} has {counts.min()} file(s); the judge needs at least 2 per "
                           "class (one to train on, one to test)")
    window = spec.window
    if window == "auto":
        window = auto_window(data.samples, data.start, data.length, length, int(data.meta["sample_rate"]))[0]
    window = "first" if window == "first" else "all"  # "random" windows are "all" of them, for the judge
    return Windows(data, length, max(1, length // 2), window, True, spec.normalise), data.meta["fingerprint"]


def _windows_of(w: Windows, files: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(w.file_of, files) & (w.labels >= 0))


def fit(spec: JudgeSpec, epochs: int | None = None, seed: int | None = None, force: bool = False, say=print) -> Judge:
    """The judge of `spec`'s data: the saved one if the data's files are unchanged (and so are `epochs` and `seed`
    where given, and `force` is off), else fitted now (EPOCHS and seed 0 by default) and saved when the cache is on."""
    folder = spec.folder()
    w, fingerprint = open_labelled(spec)
    if folder is not None and not force:
        old = load(folder, fingerprint)
        if old is not None and epochs in (None, old.meta["epochs"]) and seed in (None, old.meta["seed"]):
            say(f"reusing the judge in {folder} (data unchanged): held-out accuracy {old.meta['accuracy']:.3f}")
            return old
    epochs, seed = epochs or EPOCHS, seed or 0
    file_labels = np.full(len(w.files), -1, np.int64)
    file_labels[w.file_of] = w.labels
    train_files, held_files = split_files(file_labels, seed)
    train_idx, held_idx = _windows_of(w, train_files), _windows_of(w, held_files)
    say(f"fitting the judge on {len(train_idx)} windows of {w.length} samples at {w.sample_rate} Hz "
        f"({len(train_files)} files), {len(w.classes)} classes: {', '.join(w.classes)}")
    began = time.time()
    net = train_net(w, train_idx, epochs, seed, say)
    acc, per = accuracy(net, w, held_idx)
    say(f"judge: held-out accuracy {acc:.3f} ({', '.join(f'{c} {a:.2f}' for c, a in zip(w.classes, per))})")
    meta = {"version": VERSION, "classes": w.classes, "sample_rate": w.sample_rate, "length": w.length,
            "n_mels": int(net.mel.shape[0]), "width": WIDTH, "features": FEATURES, "accuracy": acc,
            "per_class": dict(zip(w.classes, per)), "held_out_windows": len(held_idx), "train_windows": len(train_idx),
            "epochs": epochs, "seed": seed, "seconds": time.time() - began, "fingerprint": fingerprint,
            "options": spec.options(), "data": str(Path(spec.data).resolve())}
    judge = Judge(net, meta)
    if folder is not None:
        try:
            judge.path = save(judge, folder)
        except (OSError, CacheUnwritable) as e:  # a full or read-only cache costs a fit next time, not this run
            warn(f"{e}; the judge is used now but not kept")
    return judge


def save(judge: Judge, folder: Path) -> Path:
    """judge.pt (state dict only) and judge.json into `folder`: json last, holding the SHA-256 of the weights it
    describes, so that a fit killed between the two files leaves a judge.json that `load` sees is not theirs."""
    buf = io.BytesIO()
    torch.save(judge.net.state_dict(), buf)
    weights = buf.getvalue()
    text = json.dumps({**judge.meta, "weights_sha256": hashlib.sha256(weights).hexdigest()}, indent=1) + "\n"
    with locked(folder):
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "judge.pt", lambda fh: fh.write(weights))
        atomic_write(folder / "judge.json", lambda fh: fh.write(text.encode()))
    touch(folder.parent)
    return folder


def load(folder: Path, fingerprint: str | None = None) -> Judge | None:
    """The judge saved in `folder`, or None if there is none, it is of another version, or (given `fingerprint`)
    it was fitted on other files."""
    try:
        meta = json.loads((folder / "judge.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("version") != VERSION or "weights_sha256" not in meta or (
            fingerprint is not None and meta.get("fingerprint") != fingerprint):
        return None  # another version's judge, or one from before the weights' checksum: fitted again
    try:
        net = JudgeNet(meta["sample_rate"], len(meta["classes"]), meta["n_mels"], meta["width"], meta["features"])
        weights = (folder / "judge.pt").read_bytes()
        if hashlib.sha256(weights).hexdigest() != meta.get("weights_sha256"):
            raise ValueError("not the weights judge.json describes: a fit was stopped between the two files")
        net.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
    except Exception as e:  # a damaged file: fitted again rather than trusted
        warn(f"{folder / 'judge.pt'}: cannot load ({str(e)[:100]}); fitting the judge again")
        return None
    return Judge(net.eval(), meta, folder)


def judge_for(spec: JudgeSpec, say=print) -> Judge | None:
    """The judge of a run's data, fitted now if there is none for the files as they are; None for data without
    classes (the classifier metrics then do not apply)."""
    try:
        return fit(spec, say=say)
    except NoClasses:
        return None
