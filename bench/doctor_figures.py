"""One small figure per doctor code, from the runs bench/doctor_eval.py trained (docs/doctor.md shows them).

    OMP_NUM_THREADS=1 python -m bench.doctor_figures      # after python -m bench.doctor_eval; writes docs/doctor_*.png

Each figure plots the statistic the code's evidence names, from one broken run of bench/doctor_eval.py, with the
threshold the check compares it against.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wavegen.evaluation.doctor import diagnose  # noqa: E402
from wavegen.evaluation.doctor.evidence import Evidence  # noqa: E402
from wavegen.evaluation.doctor.real import SILENT_RMS  # noqa: E402
from wavegen.evaluation.doctor.training import CHANCE, DEAD_GRAD, SATURATED  # noqa: E402

RUNS = {"nan": "post-nan-lsgan", "dead_d": "h2-dead-d-1024", "d_wins": "h2-d-wins-bce",
        "g_wins": "h2-g-wins-nonsat", "too_short": "h2-short-fast", "data": "h2-data-quiet-post",
        "mode_collapse": "h3-collapse-nz1-post", "healthy": "h2-healthy-fast", "unstable": "h3-unstable-lsgan-fast",
        "divergence": "h3-diverge-fast", "noise": "fast-noise-lrg"}
SIZE = (4.2, 2.4)


def plot_nan(ev, ax):
    ax.semilogy(ev.stats.steps, np.abs(ev.stats["loss/D"]), lw=0.8, label="|loss/D|")
    for e in ev.stats.events:
        if "event/nan" in e:
            what = "stopped" if "event/stop" in e else "rolled back to"
            ax.axvline(e["step"], color="r", lw=1, label=f"NaN in {e['event/nan']}: {what} batch {e['step']}")
    ax.set_ylabel("|loss/D|")


def plot_dead_d(ev, ax):
    ax.semilogy(ev.stats.steps, ev.stats["grad_norm/G"], lw=0.8, label="grad_norm/G")
    ax.semilogy(ev.stats.steps, np.abs(ev.margin) + 1e-16, lw=0.8, label="|D/real - D/fake|")
    ax.axhline(DEAD_GRAD, color="k", ls="--", lw=0.8, label=f"threshold {DEAD_GRAD:g}")


def plot_margin(limit):
    def plot(ev, ax):
        ax.plot(ev.stats.steps, ev.margin, lw=0.5, alpha=0.5, label="D/real - D/fake")
        ax.plot(ev.stats.steps, ev.smoothed_margin, lw=1.2, label="smoothed")
        ax.axhline(limit(ev), color="k", ls="--", lw=0.8, label=f"threshold {limit(ev):g}")
        ax.set_ylabel("D's margin")
    return plot


def plot_scores(ev, ax):
    s = ev.scores
    ax.plot(s.steps, s.badness, "o-", ms=3, label=s.name)
    if s.floor:
        ax.axhline(s.floor, color="k", ls="--", lw=0.8, label="real vs real")
    ax.set_ylabel("badness (lower is better)")


def plot_data(ev, ax):
    r = ev.real
    ax.hist(np.log10(np.maximum(r.rms, 1e-9)), bins=30, label="examples")
    ax.axvline(np.log10(SILENT_RMS), color="k", ls="--", lw=0.8, label=f"near silence ({SILENT_RMS:g})")
    ax.set_xlabel("log10 RMS of each example")


def plot_collapse(ev, ax):
    x, r = ev.samples, ev.real
    for i in range(8):
        ax.plot(r.ref[i, 0], color="tab:blue", lw=0.6, alpha=0.6, label="real" if i == 0 else None)
        ax.plot(x[i, 0], color="tab:red", lw=0.6, alpha=0.8, label="G's samples" if i == 0 else None)
    ax.set_xlabel("sample")


def plot_unstable(ev, ax):
    ax.semilogy(ev.stats.steps, np.abs(ev.margin) + 1e-9, lw=0.5, alpha=0.6, label="|D/real - D/fake|")
    ax.semilogy(ev.stats.steps, ev.stats["grad_norm/D"], lw=0.5, alpha=0.6, label="grad_norm/D")
    ax.axhline(SATURATED[ev.cfg.loss], color="k", ls="--", lw=0.8, label=f"saturated margin {SATURATED[ev.cfg.loss]:g}")


def plot_divergence(ev, ax):
    steps = ev.preview_steps
    d = [ev.real.distance(ev.preview(s)) for s in steps]
    ax.semilogy(steps, d, "o-", ms=3, label="preview distance (batch 0: the G it started from)")
    ax.axhline(ev.real.floor(len(ev.samples)), color="k", ls="--", lw=0.8, label="real vs real")
    ax.set_ylabel("distance from the data")


PLOTS = {"unstable": plot_unstable, "divergence": plot_divergence, "nan": plot_nan, "dead_d": plot_dead_d,
         "d_wins": plot_margin(lambda ev: SATURATED[ev.cfg.loss]), "g_wins": plot_margin(lambda ev: CHANCE[ev.cfg.loss]),
         "too_short": plot_scores, "data": plot_data, "mode_collapse": plot_collapse, "noise": plot_collapse,
         "healthy": plot_scores}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/doctor_eval/runs", help="where bench/doctor_eval.py kept its runs")
    p.add_argument("--out", default="docs", help="folder for doctor_<code>.png")
    a = p.parse_args(argv)
    for code, name in RUNS.items():
        run = Path(a.runs) / name
        if not (run / "config.json").exists():
            print(f"{code}: {run} missing, skipped")
            continue
        ev = Evidence(run)
        first = diagnose(run)[0][0].code
        fig, ax = plt.subplots(figsize=SIZE)
        PLOTS[code](ev, ax)
        ax.set_title(f"{name}: doctor says {first}", fontsize=8)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=6)
        if code not in ("data", "mode_collapse", "noise"):
            ax.set_xlabel("batch", fontsize=7)
        fig.tight_layout()
        path = Path(a.out) / f"doctor_{code}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(f"{code}: {path}")


if __name__ == "__main__":
    main()
