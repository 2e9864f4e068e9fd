"""Scoring a generator against real data: which real examples to compare with, and `wavegen eval`.

Real sets come, in order of preference, from
- the synthetic data's recipe (data.json): fresh draws the generator can never have seen;
- the examples held out of training (`holdout` > 0), split into two disjoint halves;
- otherwise the training data itself, split into two halves (reported as such: not held out).
Every score is printed beside the same metric computed for the second real set ("real vs real"), so a user
sees what "perfect" looks like for this data and this sample size.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .. import atomic, checkpoint
from ..errors import WavegenError
from ..data.synthetic import GaussianSpec
from ..sampling import draw, load_generator
from .metrics import METRICS, EvalSets, check_names, evaluate, format_table
from .metrics.cls_acc import per_class
from ..data.source import InMemory, open_examples

# metrics that read the judge when the data has classes (precision..coverage fall back to spectral features)
JUDGED_METRICS = ("cls_fd", "kid", "is", "mis", "cls_acc", "precision", "recall", "density", "coverage")
TRAIN_SUBSET = 5000  # training examples kept for the memorisation and NDB metrics
MIN_N, MAX_N = 20, 100_000  # examples per set of `wavegen eval`: as few as training's eval_n allows; the sets live in memory


def split_holdout(n: int, holdout: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices), both sorted; with holdout 0 the training set is all of the data.
    Its own generator: the split never touches the training's random stream."""
    k = int(round(n * holdout))
    if k == 0:
        return torch.arange(n), torch.arange(0)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[k:].sort().values, perm[:k].sort().values


def real_sets(examples, meta: dict | None, sample_rate: int, holdout: float, seed: int, n: int) -> tuple[EvalSets, str]:
    """The real sets to score against, and where they came from. `examples`: anything with `n` and
    `get(idx) -> (B, C, L)` (source.open_examples), so only the examples used are ever read; or an (N, C, L) tensor."""
    if isinstance(examples, torch.Tensor):
        examples = InMemory(examples, sample_rate)
    train_idx, held_idx = split_holdout(examples.n, holdout, seed)
    g = torch.Generator().manual_seed(seed + 1)
    train = examples.get(train_idx[torch.randperm(len(train_idx), generator=g)[:TRAIN_SUBSET]]).numpy()  # (m, C, L)
    spec = GaussianSpec.from_meta(meta)
    if spec:
        rng = np.random.default_rng(seed + 1)
        real, real2 = spec.draw(n, rng)[:, None], spec.draw(n, rng)[:, None]  # (n, 1, L) each
        source = "fresh draws from the synthetic data's recipe"
    else:
        pool, source = (held_idx, "held-out examples") if len(held_idx) >= 8 else (train_idx, "training examples (no holdout)")
        pool = pool[torch.randperm(len(pool), generator=g)]
        half = min(n, len(pool) // 2)
        if half == 0:  # a generator is scored against two real sets, of one example each at least
            raise WavegenError(f"{examples.n} example{'s' if examples.n != 1 else ''} in the data: too few to score "
                               "a generator against (two at least, one per real set)")
        real, real2 = examples.get(pool[:half]).numpy(), examples.get(pool[half:2 * half]).numpy()
        labels = getattr(examples, "labels", None)  # (N,) class numbers of windows of data with class folders
        if labels is not None and getattr(examples, "classes", None):
            sets = EvalSets(real=real, real2=real2, train=train, sample_rate=sample_rate, meta=meta,
                            real_labels=labels[pool[:half].numpy()], real2_labels=labels[pool[half:2 * half].numpy()])
            return sets, source
    return EvalSets(real=real, real2=real2, train=train, sample_rate=sample_rate, meta=meta), source


def add_judge(sets: EvalSets, cfg, names: list[str] | None, say=print) -> None:
    """Give `sets` the judge of the run's data (fitted now if there is none yet) when the data has classes and a
    metric in `names` (None: all) can use it."""
    if sets.real_labels is None or not any(
            name in JUDGED_METRICS for name in (names if names is not None else METRICS)):
        return
    from .judge import JudgeSpec, judge_for

    sets.judge = judge_for(JudgeSpec.of_config(cfg), say=say)


def asked_classes(cfg, sets: EvalSets) -> np.ndarray | None:
    """The classes a conditional G is asked for when scored: those of real set A, so that both sets have the same
    mix of classes (recorded in sets.sample_labels for cls_acc); None for an unconditional G."""
    sets.sample_labels = sets.real_labels if getattr(cfg, "conditional", False) else None
    return sets.sample_labels


def score(G, cfg, sets: EvalSets, names: list[str], device: torch.device, seed: int = 0) -> dict[str, float]:
    """The named metrics of `len(sets.real)` samples of G (no real-vs-real: for use during training)."""
    samples = draw(G, cfg, len(sets.real), cfg.sample_mode, seed, device, asked_classes(cfg, sets)).numpy()  # (n, C, L)
    return {name: float(METRICS[name].fn(samples, sets, seed)) for name in names if METRICS[name].applies(sets)}


def evaluate_run(run: str | Path, step: int | None = None, best: bool = False, n: int = 1000,
                 names: list[str] | None = None, mode: str | None = None, seed: int = 0, device: str = "cpu",
                 against: str | None = None) -> dict:
    """Score a run's checkpoint (newest, at `step`, or best.pt) and write run/eval.json; G samples on `device`.
    `against`: a folder whose examples and judge stand in for the run's data (a run trained on part of a folder,
    scored against the whole of it)."""
    run = Path(run)
    if not MIN_N <= n <= MAX_N:
        raise WavegenError(f"--n must be between {MIN_N} and {MAX_N:,}, got {n}")
    check_names(names or [])  # before the slow part
    path = checkpoint.find(run, step, best)
    G, cfg, state = load_generator(path, device)
    if mode:
        cfg.sample_mode = mode
    if against:
        cfg.data = str(against)
    examples = open_examples(cfg)
    examples.set_epoch(0, cfg.seed)
    sets, source = real_sets(examples, state["data"].get("meta"), examples.sample_rate, cfg.holdout, cfg.seed, n)
    add_judge(sets, cfg, names)
    samples = draw(G, cfg, len(sets.real), cfg.sample_mode, seed, torch.device(device), asked_classes(cfg, sets)).numpy()
    results = evaluate(samples, sets, names, seed)
    out = {"step": state["step"], "checkpoint": path.name, "n": len(sets.real), "real": source,
           "sample_mode": cfg.sample_mode, "metrics": results}
    if "cls_acc" in results:
        out["per_class"] = {"generated": per_class(samples, sets), "real_vs_real": per_class(sets.real2, sets)}
    atomic.atomic_write(run / "eval.json", lambda f: f.write((json.dumps(out, indent=2) + "\n").encode()))
    return out


def format_eval(result: dict) -> str:
    head = (f"checkpoint {result['checkpoint']} (batch {result['step']}), {result['n']} generated vs "
            f"{result['n']} real ({result['real']}), sample mode {result['sample_mode']}")
    text = head + "\n" + format_table(result["metrics"])
    if result.get("per_class"):  # conditional runs: cls_acc of each class asked for
        gen, real = result["per_class"]["generated"], result["per_class"]["real_vs_real"]
        width = max(len(c) for c in gen)
        text += "\ncls_acc per class (generated / real vs real):\n" + "".join(
            f"  {c:<{width}}  {gen[c]:.3f}  {real[c]:.3f}\n" for c in gen)
    return text
