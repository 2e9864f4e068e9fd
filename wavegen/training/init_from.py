"""Starting a run from another run's weights (`--init-from`, docs/finetune.md): the config it trains with, the
weights it starts from, and D's frozen layers (`--freeze-d`).

The architecture is the source's: the fields in ARCHITECTURE are taken from its config, and a flag that asks for
another value is refused. Everything else comes from the source's config too, unless a flag (or an explicit
--preset) says otherwise: learning rates, loss, batch size, D steps, regularisers, the data's rate. The new run
starts with fresh optimiser state (Adam's moments describe the source's gradients, on its data, at its learning
rates), records the checkpoint it started from (`init_from`, `init_step` in config.json), and
resumes from its own checkpoints like any run: the source is read only before the run's first checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import checkpoint
from ..config import PRESETS, Config, config_from_dict, preset_name
from ..errors import WavegenError

# What decides the shapes of G and D (and G's input and output): taken from the source, never changed.
ARCHITECTURE = ("arch", "d_arch", "n_fft", "frame_hop", "istft_phase", "harmonics", "noise_bands", "nz", "z_dist",
                "ngf", "ndf", "layers", "upsample", "g_noise", "g_postfilter", "g_batchnorm", "d_batchnorm", "d_mbstd",
                "spectral_norm", "conditional", "length")
NEW = ("data", "out", "init_from", "init_step", "init_only", "freeze_d")  # this run's own, never the source's
LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)  # what --freeze-d counts as one of D's layers


def source_checkpoint(source: str | Path) -> Path:
    """The checkpoint file `source` names: a checkpoint file itself, or a run folder's newest checkpoint."""
    source = Path(source)
    if source.is_dir():
        return checkpoint.find(source)
    if not source.is_file():
        raise WavegenError(f"{source}: no such run folder or checkpoint file to start from")
    return source


def finetune_config(source: str | Path, data: str, out: str, preset: str | None, flags: dict) -> Config:
    """The config of a new run at `out` on `data` starting from `source`'s weights: the source's config, an
    explicit `preset`'s values beside the architecture, then the command line's `flags`."""
    path = source_checkpoint(source)
    state = checkpoint.load(path)
    base = checkpoint.config_of(state, path).to_dict()
    for key, value in flags.items():
        if key in ARCHITECTURE and value != base[key]:
            raise WavegenError(f"--{key.replace('_', '-')} cannot change when starting from another run's weights "
                               f"({path} has {base[key]!r}; the architecture is the source's)")
    overlay = {k: v for k, v in PRESETS[preset_name(preset)].items() if k not in ARCHITECTURE} if preset else {}
    d = {**base, **overlay, **{k: v for k, v in flags.items() if k not in NEW},
         "data": data, "out": out, "init_from": str(path), "init_step": state["step"],
         "init_only": flags.get("init_only", "both"), "freeze_d": flags.get("freeze_d", 0)}
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
    return config_from_dict(d)


def d_layers(D: nn.Module) -> list[nn.Module]:
    """D's layers from its input: its convolutions and dense layers in order (the family's own D, or the one a
    conditional D wraps; the projection's embedding is not one)."""
    body = getattr(D, "D", D)
    if hasattr(body, "subs"):
        raise WavegenError("--freeze-d works on the dcgan and wavegan D, not on an ensemble (--d-arch)")
    return [m for m in body.modules() if isinstance(m, LAYERS)]


def freeze_d(D: nn.Module, n: int) -> None:
    """Freeze D's first `n` layers (FreezeD, Mo et al. 2020) with the BatchNorm that follows each: no gradient,
    and so not in the optimiser (training/state.py `optimisers` takes the trainable weights only)."""
    layers = d_layers(D)
    if n >= len(layers):
        raise WavegenError(f"--freeze-d {n}: D has {len(layers)} layers; at least its last must train")
    body, first_free = getattr(D, "D", D), layers[n]
    for m in body.modules():
        if m is first_free:
            break
        for p in m.parameters(recurse=False):
            p.requires_grad_(False)
    for m in layers[:n]:  # a parametrised weight (spectral norm) lives in a child of its layer
        m.requires_grad_(False)


def _class_rows(weights: dict, model: nn.Module, old: list[str], new: list[str]) -> dict:
    """`weights` with each class table (embedding rows, dim 0) laid out for the `new` classes: the rows of the
    classes both have, by name; `model`'s fresh rows for new names; the rows of dropped names left out."""
    own, out = model.state_dict(), dict(weights)
    for key, value in weights.items():
        if "embed" in key.split(".") and value.dim() >= 1 and value.shape[0] == len(old) and key in own:
            rows = own[key].clone()
            for i, name in enumerate(new):
                if name in old:
                    rows[i] = value[old.index(name)]
            out[key] = rows
    return out


def _load(model: nn.Module, weights: dict, path: Path, old: list[str], new: list[str]) -> None:
    if old or new:
        weights = _class_rows(weights, model, old, new)
    checkpoint.load_weights(model, weights, path)


def start_from(cfg: Config, G: nn.Module, D: nn.Module, ema, channels: int, length: int, classes: list[str]) -> None:
    """The run's hook, after its models are built and before its optimisers: freeze D's first layers, and, unless
    the run resumes from its own checkpoints, fill G, D and the average of G from cfg.init_from."""
    if cfg.freeze_d:
        freeze_d(D, cfg.freeze_d)
    if not cfg.init_from or checkpoint.list_ckpts(cfg.out):
        return
    path = Path(cfg.init_from)
    state = checkpoint.load(path)
    data = state["data"]
    if data["channels"] != channels:
        raise WavegenError(f"{cfg.data}: {channels} channel(s), but {path} was trained on {data['channels']}")
    if data["length"] != length:
        raise WavegenError(f"{cfg.data}: examples of {length} samples, but {path} makes {data['length']}; give "
                           "files of that length, or a --length run to start from")
    old, new = (data.get("classes") or [], classes) if cfg.conditional else ([], [])
    with torch.no_grad():
        if cfg.init_only in ("both", "G"):
            _load(G, state["G"], path, old, new)
            if ema is not None:
                _load(ema.model, state.get("G_ema", state["G"]), path, old, new)
        if cfg.init_only in ("both", "D"):
            _load(D, state["D"], path, old, new)

