import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, settings

from wavegen.config import make_config
from wavegen.data import GaussianSpec, make_gaussian

# `make test-fast` leaves these out: end-to-end runs in several processes, crash and kill tests, the report in
# Chromium, the spoken words of espeak-ng (the two outside tools `make test` installs). Everything else (each a
# second or two at most) stays in the edit loop.
SLOW_FILES = {"test_fuzz.py", "test_crash.py", "test_distributed.py", "test_sweep.py", "test_report.py", "test_audio_train.py",
              "test_words.py"}
SLOW_TESTS = {"test_plot_generate_summary_end_to_end", "test_eval_cli_scores_against_real_vs_real",
              "test_plot_marks_and_layers_figure", "test_sigterm_checkpoints_and_resumes",
              "test_generate_best_samples_best_pt", "test_gpu_check_runs_without_a_gpu",
              "test_gpu_quality_races_and_scores_at_smoke_size_without_a_gpu"}


# Property tests (tests/test_fuzz.py): "ci" keeps them within about a minute of `make test` and derandomized, so a
# failure reproduces; "deep" (HYPOTHESIS_PROFILE=deep, `make fuzz`) tries twenty times the examples.
_FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                    HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=25, **_FUZZ)
settings.register_profile("deep", max_examples=500, **_FUZZ)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter):
    """The cases test_fuzz.py tried on each input path: the figures in docs/robustness.md#fuzzing."""
    cases = getattr(sys.modules.get("test_fuzz"), "CASES", None)
    if cases:
        terminalreporter.write_line(f"fuzz cases ({os.environ.get('HYPOTHESIS_PROFILE', 'ci')} profile):")
        for path, n in sorted(cases.items()):
            terminalreporter.write_line(f"  {n:7d}  {path}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _cache_in_tmp(tmp_path_factory):
    """Every test (and every wavegen it starts) caches decoded data in a temporary folder, never in ~/.cache.
    Session-wide, so that session and module fixtures that load data are covered too; tests about the cache
    itself pass their own folders."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WAVEGEN_CACHE_DIR", str(tmp_path_factory.mktemp("wavegen-cache")))
        yield


TINY = dict(ngf=32, ndf=32, batch_size=20, stats_every=5, print_every=50, preview_every=10, ckpt_every=20)
EXACT = dict(device="cpu")  # bit-for-bit claims hold on CPU: CUDA's convolution kernels are not deterministic


@pytest.fixture(scope="session")
def gauss_data(tmp_path_factory) -> Path:
    """A small copy of the post's data set: 100 wavs of 100 samples."""
    return make_gaussian(tmp_path_factory.mktemp("data") / "gauss", GaussianSpec(n=100, seed=1))


def tiny_config(data, out, preset="post", **kw):
    return make_config(preset, data=str(data), out=str(out), **{**TINY, **kw})


def run_cli(*args, timeout=120):
    """Run `python -m wavegen ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "wavegen", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def write_wav(path: Path, x: np.ndarray, sr: int = 16000, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, **kw)
    return path
