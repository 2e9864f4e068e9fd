"""wavegen: train, diagnose and use GANs that generate raw 1-D waveforms.

The package reads as the pipeline: data/ -> models/ -> training/ -> evaluation/ -> reports/, with config.py
(every setting), runfolder.py (every file a run writes), sampling.py (generate), export.py, sweep/ and cli.py on
top. Names below
are imported when first used, so `import wavegen` (and `wavegen --help`) does not load torch.
"""
from importlib import import_module

__version__ = "0.4.0"

_EXPORTS = {
    "Config": "config", "PRESETS": "config", "make_config": "config", "load_config": "config",
    "WavegenError": "errors",
    "GaussianSpec": "data", "make_gaussian": "data", "make_sounds": "data", "load_folder": "data",
    "prepare": "data", "open_windows": "data",
    "train": "training", "resume": "training",
    "read_stats": "runfolder", "read_log": "runfolder",
    "generate": "sampling",
    "evaluate_run": "evaluation.scoring", "analyse": "evaluation.analysis",
    "plot_run": "reports", "write_summary": "reports", "write_report": "reports",
    "run_sweep": "sweep",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'wavegen' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted([*globals(), *__all__])
