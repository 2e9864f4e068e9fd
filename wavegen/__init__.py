"""wavegen: train, diagnose and use GANs that generate raw 1-D waveforms."""
from .config import PRESETS, Config, load_config, make_config
from .data import GaussianSpec, load_folder, make_gaussian
from .errors import WavegenError
from .generate import generate
from .analysis import analyse
from .evaluation import evaluate_run
from .plot import plot_run
from .report import write_report
from .summary import write_summary
from .train import read_stats, resume, train

__version__ = "0.1.0"
__all__ = ["Config", "PRESETS", "make_config", "load_config", "GaussianSpec", "make_gaussian", "load_folder",
           "train", "resume", "read_stats", "generate", "plot_run", "write_summary", "evaluate_run", "analyse",
           "write_report", "WavegenError"]
