"""Checkpoints: the whole training state in one file, written atomically, read without running code.

Files are `run/checkpoints/ckpt_<batch>.pt`, written with atomic.atomic_write. Loading uses
`weights_only=True`: a checkpoint is tensors and plain containers only, and a file whose pickle would import or
call anything is refused.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import torch

from .config import Config, config_from_dict
from .errors import WavegenError
from . import atomic

PATTERN = re.compile(r"ckpt_(\d+)\.pt$")


def ckpt_dir(run: str | Path) -> Path:
    return Path(run) / "checkpoints"


def save(run: str | Path, step: int, state: dict, keep: int) -> Path:
    path = ckpt_dir(run) / f"ckpt_{step:08d}.pt"
    try:
        atomic.atomic_write(path, lambda f: torch.save(state, f))
    except OSError as e:  # the older checkpoints stay: a full disk loses no more than this one
        raise atomic.write_failed(path, e) from None
    atomic.remove_stale_temps(path.parent)
    if keep > 0:
        for old in list_ckpts(run)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def save_best(run: str | Path, state: dict) -> Path:
    """checkpoints/best.pt: the state at the best score so far (see Trainer.keep_best)."""
    path = ckpt_dir(run) / "best.pt"
    try:
        atomic.atomic_write(path, lambda f: torch.save(state, f))
    except OSError as e:
        raise atomic.write_failed(path, e) from None
    return path


def list_ckpts(run: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    d = ckpt_dir(run)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def load(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WavegenError(f"{path}: checkpoint not found") from None
    except Exception as e:  # truncated zip, foreign pickle, ... all mean: not a checkpoint we can trust
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WavegenError(f"{path}: not a loadable wavegen checkpoint ({msg[:200]})") from None
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise WavegenError(f"{path}: not a wavegen checkpoint (no config or generator inside)")
    problem = _problem(state)
    if problem:
        raise WavegenError(f"{path}: not a usable wavegen checkpoint ({problem})")
    return state


def _problem(state: dict) -> str | None:
    """What makes a loaded checkpoint unusable, or None: its readers build a model from "config" and "data",
    fill it from "G" (or "G_ema"), and report "step"."""
    if not isinstance(state["config"], dict):
        return "its config is not an object"
    for key in ("G", "G_ema"):
        weights = state.get(key, {})
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            return f"its {key} is not a set of weights"
    data = state.get("data")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) and data[k] > 0
                                             for k in ("channels", "length", "sample_rate")):
        return "no description of its data (channels, length, sample_rate)"
    if not isinstance(state.get("step"), int):
        return "no batch number"
    return None


def weights_problem(model: torch.nn.Module, weights: dict) -> str | None:
    """Why `weights` (a state dict) cannot fill `model`, or None: a key in one and not the other, or a shape."""
    own = model.state_dict()
    missing = next((k for k in own if k not in weights), None) or next((k for k in weights if k not in own), None)
    if missing is not None:
        return f"{missing!r} in one, not the other"
    for k, v in own.items():
        if weights[k].shape != v.shape:
            return f"{k!r} is {tuple(weights[k].shape)}, the model's {tuple(v.shape)}"
    return None


def load_weights(model: torch.nn.Module, weights: dict, path: str | Path) -> None:
    """Fill `model` from `weights` (a state dict of the checkpoint at `path`), or refuse in one line when they
    belong to another model than the checkpoint's config describes."""
    problem = weights_problem(model, weights)
    if problem:
        raise WavegenError(f"{path}: holds another model than its config describes ({problem})")
    model.load_state_dict(weights)


def not_of_run(state: dict, cfg: Config, may_differ: set[str], models: dict[str, torch.nn.Module]) -> str | None:
    """Why the loaded checkpoint `state` is not one of the run `cfg` describes, or None. It must carry the run's
    identity (runs from before identities have none: they are judged by the rest), the run's settings (but for
    those in `may_differ`, which a resume may change) and weights that fit `models` ({"G": G, "D": D, ...})."""
    for key, model in models.items():
        problem = weights_problem(model, state.get(key, {}))
        if problem:
            return f"its {key} is another model ({problem})"
    saved = state["config"]
    if cfg.run_id and saved.get("run_id") != cfg.run_id:
        return f"it belongs to another run (run id {str(saved.get('run_id') or 'none')[:40]}, this run's {cfg.run_id})"
    ours, saved = cfg.to_dict(), config_from_dict(saved).to_dict()  # older checkpoints' keys read as today's
    differs = sorted(k for k in ours if k not in {*may_differ, "out", "run_id"} and saved[k] != ours[k])
    if differs:
        k = differs[0]
        return f"it holds another model or another run's settings ({k} {_short(saved[k])}, config.json's {_short(ours[k])})"
    return None


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def config_of(state: dict, path: str | Path) -> Config:
    """The Config a checkpoint was trained with, or a WavegenError naming the file."""
    try:
        return config_from_dict(state["config"])
    except WavegenError as e:
        raise WavegenError(f"{path}: {e}") from None


def find(run: str | Path, step: int | None = None, best: bool = False) -> Path:
    """The checkpoint of `run` at `step`, its best.pt (kept by scoring during training), or its newest one."""
    if best:
        path = ckpt_dir(run) / "best.pt"
        if not path.exists():
            raise WavegenError(f"{run}: no best.pt (it is kept when training scores with --eval-every)")
        return path
    ckpts = list_ckpts(run)
    if not ckpts:
        raise WavegenError(f"{run}: no checkpoints in {ckpt_dir(run)}")
    if step is None:  # the newest whole one: a checkpoint is a zip archive, and a torn one has lost its end
        for path in reversed(ckpts):
            if zipfile.is_zipfile(path):
                return path
            print(f"warning: {path}: not a complete checkpoint; trying an older one", flush=True)
        raise WavegenError(f"{run}: no complete checkpoint in {ckpt_dir(run)}")
    for p in ckpts:
        if int(PATTERN.match(p.name).group(1)) == step:
            return p
    steps = ", ".join(PATTERN.match(p.name).group(1).lstrip("0") or "0" for p in ckpts)
    raise WavegenError(f"{run}: no checkpoint at batch {step} (have: {steps})")


def load_latest_good(run: str | Path, map_location="cpu", check=None) -> tuple[Path, dict]:
    """The newest checkpoint that loads and, given `check` (a function of a loaded state that returns why it
    cannot be used, or None), passes it; newer ones that do not are reported and skipped. Also clears the run
    folder of temporary files left by a process killed while writing (see `remove_stale_temps`)."""
    for folder in (Path(run), ckpt_dir(run), Path(run) / "previews"):
        atomic.remove_stale_temps(folder)
    ckpts = list_ckpts(run)
    if not ckpts:
        raise WavegenError(f"{run}: no checkpoints to resume from in {ckpt_dir(run)}")
    errors = []
    for p in reversed(ckpts):
        try:
            state = load(p, map_location)
            problem = check(state) if check else None
            if problem:
                raise WavegenError(f"{p}: not this run's checkpoint: {problem}")
            return p, state
        except WavegenError as e:
            errors.append(str(e))
            print(f"warning: {e}; trying an older checkpoint", flush=True)
    raise WavegenError(f"{run}: no checkpoint of this run loads ({errors[0]})")
