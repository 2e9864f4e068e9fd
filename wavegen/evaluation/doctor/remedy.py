"""The commands a remedy gives: go on with the same run (`wavegen train --resume`, which may only change where it
stops), or train a new run with the same settings and the remedy's flags (what resume cannot change)."""
from __future__ import annotations

import shlex
from dataclasses import fields

from ...config import Config, make_config

SKIP = {"data", "out", "preset", "run_id"}  # the command's own arguments, and the identity a new run draws
FAR_ABOVE = 100  # learning rates this many times the preset's are far above them
SMALL_DATA = 5_000  # training examples under which D can learn the set by heart (ADA's gains were at 1k to 10k images)
ADA_SHARE = 4  # the remedy's ADA can take p from 0 to 1 in this share of the run's batches


def flag(name: str, value) -> str:
    if isinstance(value, tuple | list):
        value = ",".join(value)
    elif isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float):
        value = f"{value:.3g}"
    return f"--{name.replace('_', '-')} {shlex.quote(str(value))}"


def preset_values(cfg: Config) -> Config:
    """The config of the run's preset, as the preset sets it (the defaults where it names no value)."""
    try:
        return make_config(cfg.preset or "post")
    except Exception:  # a preset this version no longer knows
        return Config()


def smaller_lr(cfg: Config, factor: float) -> dict:
    """lr_g and lr_d times `factor`, and no more than the preset's where the run was far (over 100x) above them:
    a run that far above them would blow up again at a mere fraction of its rates."""
    base = preset_values(cfg)
    return {k: getattr(base, k) if getattr(cfg, k) > FAR_ABOVE * getattr(base, k) else getattr(cfg, k) * factor
            for k in ("lr_g", "lr_d")}


def augment_remedy(ev, batches: int | None = None, n: int | None = None) -> dict:
    """`--augment ada` for a run whose D saw a small data set (`n` training examples, default data.json's) as it is
    (else {}), with p free to move within a run of `batches` (default the run's own): a short run's ada_speed a
    quarter of its batches."""
    cfg, n = ev.cfg, n if n is not None else ev.data.get("n")
    if cfg.augment != "none" or not isinstance(n, int) or n >= SMALL_DATA:
        return {}
    flags = {"augment": "ada"}
    batches = batches or cfg.batches
    if batches and batches < ADA_SHARE * cfg.ada_speed:
        flags["ada_speed"] = max(cfg.ada_interval, batches // ADA_SHARE)
    return flags


def resume_command(ev, batches: int) -> str:
    return f"wavegen train --resume {shlex.quote(str(ev.run))} --batches {batches}"


def new_run_command(ev, flags: dict) -> str:
    """`wavegen train DATA --preset P --... --out RUN-fix`: the run's own settings (where they differ from its
    preset) with `flags` on top."""
    cfg: Config = ev.cfg
    base = preset_values(cfg)
    preset = base.preset or "post"
    values = {f.name: getattr(cfg, f.name) for f in fields(Config) if f.name not in SKIP}
    values.update(flags)
    parts = [f"wavegen train {shlex.quote(cfg.data)} --preset {preset}"]
    parts += [flag(k, v) for k, v in values.items() if v != getattr(base, k) and v is not None]
    parts.append(f"--out {shlex.quote(str(ev.run))}-fix")
    return " ".join(parts)


__all__ = ["augment_remedy", "flag", "new_run_command", "resume_command", "smaller_lr"]
