"""Data: where examples come from. Synthetic sets (synthetic.py), spoken words made with espeak-ng (speech.py), checking files (files.py), a folder of
equal-length files in memory (folder.py), any audio decoded once (prepared.py) and cut into windows
(windows.py), and `open_examples(cfg)`, the one call the trainer makes (source.py)."""
from .folder import load_folder
from .prepared import prepare, read_prepared
from .source import open_examples
from .speech import make_words
from .synthetic import GaussianSpec, make_gaussian, make_sounds, read_meta
from .windows import Windows, open_windows

__all__ = ["GaussianSpec", "make_gaussian", "make_sounds", "make_words", "read_meta", "load_folder", "prepare", "read_prepared",
           "Windows", "open_windows", "open_examples"]
