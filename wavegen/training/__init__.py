"""Training: the loop (loop.py) around one step (step.py), with losses, regularisers, torchrun support,
checkpoints, stats, previews and per-layer norms each in a module of its own."""
from .loop import Trainer, resume, train

__all__ = ["Trainer", "train", "resume"]
