import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.config import make_config
from wavegen.data import GaussianSpec, make_gaussian

TINY = dict(ngf=32, ndf=32, batch_size=20, stats_every=5, print_every=50, preview_every=10, ckpt_every=20)


@pytest.fixture(scope="session")
def gauss_data(tmp_path_factory) -> Path:
    """A small copy of the seed data set: 100 wavs of 100 samples."""
    return make_gaussian(tmp_path_factory.mktemp("data") / "gauss", GaussianSpec(n=100, seed=1))


def tiny_config(data, out, preset="seed", **kw):
    return make_config(preset, data=str(data), out=str(out), **{**TINY, **kw})


def run_cli(*args, timeout=120):
    """Run `python -m wavegen ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "wavegen", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def write_wav(path: Path, x: np.ndarray, sr: int = 16000, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, **kw)
    return path
