"""Training: the loop (loop.py) around one step (step.py, replayed from a CUDA graph by graph.py), over the run's
setup (setup.py), data order (order.py) and trained state (state.py), with scores (watch.py), losses, regularisers,
torchrun support, stats, previews, per-layer norms and the console each in a module of their own."""
from .loop import Trainer, resume, train

__all__ = ["Trainer", "train", "resume"]
