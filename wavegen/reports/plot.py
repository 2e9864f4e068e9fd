"""Figures of a run: the post's 3-panel progress plot, and generated samples against the ideal curve; and a
sweep's curves over its settings."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np

from ..evaluation.analysis import analyse, smooth, window
from ..atomic import atomic_write
from ..runfolder import RunLog, read_json_object, read_layers, read_log, require_run
from ..data.synthetic import GaussianSpec
from ..errors import WavegenError

POST_STEPS = (200, 600, 800, 1000, 1200, 2000, 3000)  # the batches the post shows samples at
SAMPLES_PER_FIGURE = 16  # a 4 x 4 grid


def ideal_curve(run: str | Path) -> np.ndarray | None:
    """The noiseless curve of a synthetic Gaussian data set, from the run's data.json; None for other data."""
    path = Path(run) / "data.json"
    spec = GaussianSpec.from_meta(read_json_object(path, "the data description").get("meta") if path.exists() else None)
    return spec.ideal() if spec else None


def preview_steps(run: str | Path) -> list[int]:
    d = Path(run) / "previews"
    return sorted(int(p.stem.split("_")[1]) for p in d.glob("step_*.npy")) if d.is_dir() else []


def load_preview(run: str | Path, step: int) -> np.ndarray:
    return np.load(Path(run) / "previews" / f"step_{step:08d}.npy")  # (n, C, L)


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) < 2 * n:
        return y
    k = np.ones(n) / n
    return np.convolve(np.pad(y, (n // 2, n - 1 - n // 2), mode="edge"), k, mode="valid")


def _savefig(fig, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def _mark(axes, found: dict) -> None:
    """Vertical lines at the transition and the divergence, labelled on the first panel."""
    for key, color in (("transition", "tab:green"), ("divergence", "tab:red")):
        if found.get(key) is not None:
            for i, ax in enumerate(axes):
                ax.axvline(found[key], color=color, ls="--", lw=1.2, label=f"{key} ({found[key]})" if i == 0 else None)


def _plottable_log(run: str | Path) -> RunLog:
    log = read_log(run)
    if not log.batches:
        raise WavegenError(f"{run}: no training statistics (stats.jsonl) to plot")
    return log


def plot_progress(run: str | Path, found: dict | None = None) -> Path:
    """Losses; mean D logits on real and fake; mean gradient norms, against batch (raw and smoothed); the
    quality scores logged during training in a fourth panel; transition and divergence marked."""
    log = _plottable_log(run)
    rows = log.batches
    evals = log.metrics()
    found = found if found is not None else analyse(run)
    step = np.array([r["step"] for r in rows])
    smooth = max(1, len(rows) // 100)
    panels = [("loss", [("loss/G", "G loss", "tab:blue"), ("loss/D", "D loss", "tab:orange")]),
              ("mean D output (logit)", [("D/real", "real", "tab:green"), ("D/fake", "fake", "tab:red")]),
              ("mean gradient norm", [("grad_norm/G", "G", "tab:blue"), ("grad_norm/D", "D", "tab:orange")])]
    fig, axes = plt.subplots(3 + bool(evals), 1, figsize=(10, 9 + 2.5 * bool(evals)), sharex=True)
    for ax, (ylabel, series) in zip(axes, panels):
        for key, label, color in series:
            y = np.array([r[key] for r in rows])
            ax.plot(step, y, color=color, alpha=0.25, lw=0.6)
            ax.plot(step, _smooth(y, smooth), color=color, lw=1.4, label=label)
        ax.set_ylabel(ylabel)
    axes[2].set_yscale("log")
    if evals:
        for metric in evals:
            axes[3].plot(*log.scores(metric), marker=".", label=metric)
        axes[3].set_ylabel("quality (lower is better)")
        axes[3].set_yscale("log")
    _mark(axes, found)
    for ax in axes:
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("batch")
    fig.suptitle(f"{Path(run).name}: training progress")
    fig.tight_layout()
    return _savefig(fig, Path(run) / "figures" / "progress.png")


def plot_layers(run: str | Path, found: dict, rows: list[dict] | None = None) -> Path | None:
    """Per-layer weight norm, gradient norm and update/weight ratio of the conv weights (G solid, D dashed,
    darker = deeper), over the run and, when a transition was found, zoomed around it. `rows`: layers.jsonl's,
    when the caller has read them."""
    rows = read_layers(run) if rows is None else rows
    if len(rows) < 2:
        return None
    step = np.array([r["step"] for r in rows])
    keys = [k for k in rows[0] if k != "step"]
    t = found.get("transition")
    cols = 2 if t is not None else 1
    fig, axes = plt.subplots(3, cols, figsize=(7 * cols, 9), sharex="col", squeeze=False)
    titles = ["weight norm", "gradient norm", "update / weight"]
    for model, ls in (("G", "-"), ("D", "--")):
        mine = [k for k in keys if k.startswith(model + "/")]
        cmap = plt.get_cmap("Blues" if model == "G" else "Oranges")
        for depth, k in enumerate(mine):
            v = np.array([r[k] for r in rows])  # (T, 3)
            for i in range(3):
                for c in range(cols):
                    axes[i, c].plot(step, v[:, i], ls=ls, lw=1, color=cmap(0.4 + 0.6 * depth / max(1, len(mine) - 1)),
                                    label=k.replace(".weight", "") if i == 0 and c == 0 else None)
    for i in range(3):
        for c in range(cols):
            axes[i, c].set_yscale("log")
            axes[i, c].grid(alpha=0.3)
        axes[i, 0].set_ylabel(titles[i])
    _mark(axes[:, 0], found)
    if t is not None:
        span = max(300, (step[-1] - step[0]) // 4)
        for i in range(3):
            axes[i, 1].set_xlim(max(step[0], t - span), min(step[-1], t + span))
        _mark(axes[:, 1], {"transition": t})
        axes[0, 1].set_title(f"around the transition (batch {t})")
    axes[0, 0].legend(fontsize=6, ncol=2, loc="lower right")
    axes[-1, 0].set_xlabel("batch")
    fig.suptitle(f"{Path(run).name}: inside the networks (conv weights)")
    fig.tight_layout()
    return _savefig(fig, Path(run) / "figures" / "layers.png")


def plot_samples(run: str | Path, step: int) -> Path:
    """A grid of generated samples (red) over the ideal curve (blue) where the data has one."""
    x = load_preview(run, step)[:SAMPLES_PER_FIGURE]  # (n, C, L)
    ideal = ideal_curve(run)
    cols = 4
    rows = int(np.ceil(len(x) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.2 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, s in zip(axes.flat, x):
        if ideal is not None:
            ax.plot(ideal, color="tab:blue", lw=1.5)
        ax.plot(s.T, color="tab:red", lw=0.8)
        ax.set_ylim(-1.1, 1.1)
    for ax in axes.flat[len(x):]:
        ax.axis("off")
    fig.suptitle(f"{Path(run).name}: samples at batch {step}" + (" (red) vs ideal (blue)" if ideal is not None else ""))
    fig.tight_layout()
    return _savefig(fig, Path(run) / "figures" / f"samples_{step:06d}.png")


def plot_sample_overview(run: str | Path, steps: list[int]) -> Path:
    """One row per batch, 6 samples each: how the samples change over training, in a single figure."""
    ideal = ideal_curve(run)
    cols = 6
    fig, axes = plt.subplots(len(steps), cols, figsize=(13, 1.6 * len(steps) + 0.6), sharex=True, sharey=True, squeeze=False)
    for row, step in zip(axes, steps):
        for ax, s in zip(row, load_preview(run, step)[:cols]):
            if ideal is not None:
                ax.plot(ideal, color="tab:blue", lw=1.2)
            ax.plot(s.T, color="tab:red", lw=0.7)
            ax.set_ylim(-1.1, 1.1)
        row[0].set_ylabel(f"batch {step}")
    fig.suptitle(f"{Path(run).name}: samples over training")
    fig.tight_layout()
    return _savefig(fig, Path(run) / "figures" / "samples_overview.png")


def choose_steps(available: list[int], wanted: list[int] | None) -> list[int]:
    """The wanted batches that have previews; by default the post's, or six spread over the run."""
    if wanted is not None:
        missing = [s for s in wanted if s not in available]
        if missing:
            raise WavegenError(f"no preview at batch {missing[0]} (previews every few batches: {available[:5]}...)")
        return list(wanted)
    chosen = [s for s in POST_STEPS if s in available]
    if len(chosen) < 3 and available:
        idx = np.unique(np.linspace(0, len(available) - 1, min(6, len(available))).round().astype(int))
        chosen = [available[i] for i in idx]
    return chosen


def plot_run(run: str | Path, steps: list[int] | None = None) -> list[Path]:
    run = require_run(run)
    # the logs and the asked-for batches are checked before anything is written: a refusal leaves the run as it was
    _plottable_log(run)
    rows = read_layers(run)
    chosen = choose_steps(preview_steps(run), steps)
    found = analyse(run)
    paths = [plot_progress(run, found)]
    layers = plot_layers(run, found, rows)
    if layers is not None:
        paths.append(layers)
    paths += [plot_samples(run, s) for s in chosen]
    if chosen:
        paths.append(plot_sample_overview(run, chosen))
    return paths


# ---- a sweep ------------------------------------------------------------------------------------------------------

def _common_steps(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The steps every curve has, and the curves' values there stacked (runs, steps)."""
    steps = curves[0][0]
    for s, _ in curves[1:]:
        steps = np.intersect1d(steps, s)
    return steps, np.stack([y[np.searchsorted(s, steps)] for s, y in curves])


def _quality_curve(rows: list[dict], metric: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    steps, values = RunLog.from_rows(rows).scores(metric)
    return (np.array(steps), np.array(values)) if steps else None


def _margin_curve(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    b = RunLog.from_rows(rows).batches
    return np.array([r["step"] for r in b]), smooth(np.array([r["D/real"] - r["D/fake"] for r in b]), window(len(b)))


def plot_sweep_curves(out: Path, groups: list, path: Path | None = None, title: str | None = None) -> Path:
    """A sweep's curves: quality (mean over seeds, shaded min-max, log y) and D's smoothed margin against batch, per setting;
    written to `path` (default OUT/curves.png). `groups`: per setting, (result, stats rows) of each finished run, as
    wavegen.sweep.finished_runs gives them."""
    fig, (ax_q, ax_m) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    metric = None
    for i, (setting, runs) in enumerate(g for g in groups if g[1]):
        color = plt.get_cmap("tab10")(i % 10)
        metric = metric or runs[0][0]["metric"]
        label = f"{setting} (n={len(runs)})"
        q = [c for c in (_quality_curve(rows, res["metric"]) for res, rows in runs) if c is not None]
        if q:
            steps, ys = _common_steps(q)
            ax_q.plot(steps, ys.mean(0), color=color, marker=".", label=label)
            ax_q.fill_between(steps, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)
        steps, ys = _common_steps([_margin_curve(rows) for _, rows in runs])
        ax_m.plot(steps, ys.mean(0), color=color, label=label)
        ax_m.fill_between(steps, ys.min(0), ys.max(0), color=color, alpha=0.15, lw=0)
    ax_q.set_yscale("log")
    for axis in (ax_q.yaxis.set_major_formatter, ax_q.yaxis.set_minor_formatter):
        axis(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 3, 4, not 3 x 10^0
    ax_q.set_ylabel(f"{metric or 'quality'} (lower is better)")
    ax_m.axhline(0, color="gray", lw=0.8)
    ax_m.set_ylabel("D margin: logit real - fake (smoothed)")
    ax_m.set_xlabel("batch")
    for ax in (ax_q, ax_m):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a sweep without scores draws no quality curves
            ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title or f"sweep {out.name}: mean over seeds, shaded min to max")
    fig.tight_layout()
    path = path or out / "curves.png"
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path
