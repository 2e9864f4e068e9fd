"""A sweep's spec: reading and checking the JSON, its runs (settings x grid points x seeds), and each run's config
and `wavegen train` command. The format: experiments/README.md."""
from __future__ import annotations

import difflib
import itertools
import json
import re
import shlex
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from ..config import Config, make_config
from ..errors import WavegenError
from ..evaluation.metrics import check_run_metrics

SPEC_KEYS = {"preset", "data", "base", "grid", "settings", "seeds", "description"}
RESERVED = {"data": "give it once, at the top of the spec", "out": "the sweep names the run folders",
            "preset": "give it once, at the top of the spec", "seed": "list the seeds in 'seeds'"}


@dataclass
class Run:
    name: str  # folder name under OUT/runs: <setting slug>__seed<k>
    setting: str  # the setting's display name (a row of the table)
    seed: int
    overrides: dict  # config values beyond the preset: base, setting, grid point



def load_spec(path: str | Path) -> dict:
    """Read and check a spec file; every problem is one WavegenError line naming the file."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except OSError as e:
        raise WavegenError(f"{path}: cannot read the sweep spec ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise WavegenError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise WavegenError(f"{path}: not valid JSON (not UTF-8 text: byte {e.start})") from None
    if not isinstance(spec, dict):
        raise WavegenError(f"{path}: a sweep spec is a JSON object, got {type(spec).__name__}")
    _check_top(spec, path)
    return spec


def _check_top(spec: dict, path: Path) -> None:
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise WavegenError(f"{path}: unknown spec key {unknown[0]!r} (known: {', '.join(sorted(SPEC_KEYS))})")
    if not isinstance(spec.get("data"), str) or not spec["data"]:
        raise WavegenError(f"{path}: 'data' must name the data folder")
    if not Path(spec["data"]).is_dir():
        raise WavegenError(f"{path}: data folder {spec['data']!r} not found")
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise WavegenError(f"{path}: no seeds: 'seeds' must be a non-empty list of integers, e.g. [0, 1, 2]")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
        raise WavegenError(f"{path}: 'seeds' must be distinct integers, got {seeds}")
    if not isinstance(spec.get("base", {}), dict):
        raise WavegenError(f"{path}: 'base' must be an object of config values")
    grid = spec.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise WavegenError(f"{path}: 'grid' must map config keys to non-empty lists of values")
    settings = spec.get("settings", [{}])
    if not isinstance(settings, list) or not settings or not all(isinstance(s, dict) for s in settings):
        raise WavegenError(f"{path}: 'settings' must be a non-empty list of objects of config values")


def _check_keys(values: dict, where: str, path: Path) -> None:
    known = {f.name for f in fields(Config)}
    for k in values:
        if k in RESERVED:
            raise WavegenError(f"{path}: {where}: {k!r} cannot be set here ({RESERVED[k]})")
        if k not in known:
            near = difflib.get_close_matches(k, known, 1)
            raise WavegenError(f"{path}: {where}: unknown config key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))


def as_argument(v) -> str:
    """A JSON value as `wavegen train` reads it on its command line (and as names show it)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(as_argument(x) for x in v)
    return v if isinstance(v, str) else json.dumps(v)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-") or "base"


def _setting_name(setting: dict, i: int) -> str:
    if "name" in setting:
        if not isinstance(setting["name"], str) or not setting["name"].strip():
            raise WavegenError(f"settings[{i}]: 'name' must be a non-empty string")
        return setting["name"]
    return ", ".join(f"{k}={as_argument(v)}" for k, v in setting.items()) or "base"


def expand(spec: dict, path: str | Path = "spec") -> list[Run]:
    """The runs of a spec, in order: each setting, each grid point within it, each seed."""
    path = Path(path)
    base, grid = spec.get("base", {}), spec.get("grid", {})
    _check_keys(base, "base", path)
    _check_keys(grid, "grid", path)
    runs, names = [], {}
    for i, setting in enumerate(spec.get("settings", [{}])):
        try:
            name = _setting_name(setting, i)
        except WavegenError as e:
            raise WavegenError(f"{path}: {e}") from None
        values = {k: v for k, v in setting.items() if k != "name"}
        _check_keys(values, f"settings[{i}] ({name!r})", path)
        both = sorted(set(values) & set(grid))
        if both:
            raise WavegenError(f"{path}: {both[0]!r} is in both settings[{i}] ({name!r}) and the grid")
        for point in itertools.product(*grid.values()):
            extra = dict(zip(grid, point))
            label = ", ".join([name] * bool(spec.get("settings")) + [f"{k}={as_argument(v)}" for k, v in extra.items()]) or name
            if slug(label) in names:
                raise WavegenError(f"{path}: settings {names[slug(label)]!r} and {label!r} get the same folder name {slug(label)!r}")
            names[slug(label)] = label
            runs += [Run(f"{slug(label)}__seed{s}", label, s, {**base, **values, **extra}) for s in spec["seeds"]]
    return runs


def run_config(spec: dict, run: Run, out: Path) -> Config:
    """The config `wavegen train` will build for this run (JSON lists become the config's tuples)."""
    tuples = {f.name for f in fields(Config) if str(f.type).startswith("tuple")}
    values = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in run.overrides.items()}
    return make_config(spec.get("preset", "post"), data=spec["data"], out=str(out / "runs" / run.name), seed=run.seed, **values)


def check_runs(spec: dict, runs: list[Run], path: str | Path, out: Path) -> None:
    """Build every run's config before any run starts: a bad value fails the sweep at once, not hours in."""
    for run in runs:
        try:
            check_run_metrics(run_config(spec, run, out))
        except WavegenError as e:
            raise WavegenError(f"{path}: setting {run.setting!r}: {e}") from None


def train_command(spec: dict, run: Run, out: Path, resume: bool) -> list[str]:
    run_dir = str(out / "runs" / run.name)
    if resume:
        return [sys.executable, "-m", "wavegen", "train", "--resume", run_dir]
    args = [x for k, v in run.overrides.items() if v is not None for x in ("--" + k.replace("_", "-"), as_argument(v))]
    return [sys.executable, "-m", "wavegen", "train", spec["data"], "--preset", spec.get("preset", "post"),
            "--out", run_dir, "--seed", str(run.seed), *args]


def shown(cmd: list[str]) -> str:
    """A child's command as a user would type it."""
    return shlex.join(["python", *cmd[1:]])

