"""wavegen: train, diagnose and use GANs that generate raw 1-D waveforms."""
from .config import PRESETS, Config, load_config, make_config
from .data import GaussianSpec, load_folder, make_gaussian, make_sounds
from .errors import WavegenError
from .generate import generate
from .analysis import analyse
from .audio import open_windows, prepare
from .evaluation import evaluate_run
from .plot import plot_run
from .report import write_report
from .summary import write_summary
from .sweep import run_sweep
from .train import read_stats, resume, train

__version__ = "0.3.0"
__all__ = ["Config", "PRESETS", "make_config", "load_config", "GaussianSpec", "make_gaussian", "make_sounds",
           "load_folder", "prepare", "open_windows", "train", "resume", "read_stats", "generate", "plot_run",
           "write_summary", "evaluate_run", "analyse", "write_report", "run_sweep", "WavegenError"]
