"""Recipes raced on one GPU at equal time, scored by the judge on held-out clips, in one table (docs/audio.md#on-a-gpu).

    bash bench/gpu_quality.sh --data data/words8k [--minutes 5] [--seeds 2] [--contenders wavegan,ttur,r1,ensemble-gpu]
                              [--overlays FILE.json] [--unconditional] [--smoke]
    python -m bench.gpu_quality --pack data/words8k data/words8k-flac   # 16-bit FLAC: a third of the size, to carry

Every contender trains once per seed, all in their own processes at the same time on the one GPU, class-conditional,
for the same minutes of their own loop (`wavegen train --minutes`: startup is not counted), on the data less a
held-out share (--holdout). During training each run scores cls_fd every --eval-every batches on held-out clips and
keeps checkpoints/best.pt at the lowest. Then the newest checkpoint and best.pt of every run are scored by `wavegen
eval`'s code on --n held-out clips: the judge's cls_fd, is, cls_acc (conditional runs) and coverage, beside real
vs real, with the bar of issue 27 where `wavegan` raced. best.pt was chosen on held-out clips that overlap the ones
it is scored on, so its figures lean optimistic; the newest checkpoint's do not.
`--overlays FILE.json` adds contenders without code: {"name": {"preset": "wavegan", "ndf": 128, ...}, ...}.
Without a GPU, or with --smoke, everything runs at smoke size on the CPU (tiny widths, seconds of training), so that
the script cannot rot: those figures are no GPU's.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen.config import make_config
from wavegen.evaluation import judge
from wavegen.evaluation.scoring import evaluate_run
from wavegen.runfolder import read_stats

TTUR = {"d_steps": 2, "lr_g": 1e-4, "lr_d": 3e-4, "penalty_every": 4, "ema": 0.999}
CONTENDERS = {  # name: (preset, overrides): why each is in the race is in docs/audio.md#on-a-gpu
    "wavegan": ("wavegan", {}),  # the paper's recipe at its size: d 64, batch 64, 5 critic steps at 1e-4
    "ttur": ("wavegan", TTUR),
    "r1": ("wavegan", {"loss": "nonsat", "r1_gamma": 1.0, "penalty_every": 16, "d_steps": 1, "lr_g": 1e-4,
                       "lr_d": 3e-4, "beta1": 0.0, "beta2": 0.99, "d_mbstd": 4, "ema": 0.999}),
    "ttur-wide-d": ("wavegan", {**TTUR, "ndf": 128}),
    "audio-gpu": ("audio-gpu", {}),  # the GPU preset as it stands (today wavegan's values)
    "ensemble-gpu": ("ensemble", {"ngf": 64, "ndf": 8, "batch_size": 32, "loss": "hinge", "r1_gamma": 1.0,
                                  "penalty_every": 8, "feature_matching": 0.0, "lr_g": 1e-4, "lr_d": 2e-4,
                                  "beta1": 0.5, "beta2": 0.9, "ema": 0.999}),
    "audio-cpu": ("audio-cpu", {}),  # the CPU preset, for the record: it lost to wavegan on a GPU (issue 27)
    "ensemble": ("ensemble", {}),  # the ensemble preset as it is, which blew up on a GPU (issue 27)
    "hpn": ("wavegan", {"arch": "hpn", "ngf": 128}),  # the harmonic-plus-noise G against WaveGAN's D (issue 35)
}
DEFAULT = "wavegan,ttur,r1,ensemble-gpu"
SMOKE = {"ngf": 4, "ndf": 4, "batch_size": 4}  # every contender at smoke size
METRICS = ["cls_fd", "is", "cls_acc", "coverage"]
BAR = {"cls_fd": 1 / 3, "is": 0.75, "cls_acc": 0.9}  # issue 27: a third of wavegan's cls_fd, 0.75x real is, 0.9


def contenders(names: str, overlays: str | None) -> dict[str, tuple[str, dict]]:
    """The named contenders, from CONTENDERS or the overlays file; an unknown name is an error naming the known."""
    known = dict(CONTENDERS)
    if overlays:
        for name, values in json.loads(Path(overlays).read_text()).items():
            values = dict(values)
            known[name] = (values.pop("preset"), values)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise SystemExit(f"unknown contender {unknown[0]!r} (known: {', '.join(known)})")
    return {n: known[n] for n in chosen}


def train_command(a, preset: str, overrides: dict, seed: int, out: Path) -> list[str]:
    """`wavegen train` for one run of the race: the preset, its overrides, the race's shape, time and scoring."""
    metrics = ("cls_fd",) if a.unconditional else ("cls_fd", "cls_acc")
    race = {"length": a.length, "sample_rate": a.sample_rate, "conditional": not a.unconditional, "seed": seed,
            "holdout": a.holdout, "minutes": a.minutes, "eval_every": a.eval_every, "eval_n": a.eval_n,
            "eval_metrics": metrics, "best_metric": "cls_fd", "ckpt_every": 10**9, "preview_every": 10**9,
            "print_every": 10**9, "layer_every": 0, **(SMOKE if a.smoke else {})}
    make_config(preset, data=a.data, out=str(out), **{**overrides, **race})  # a bad overlay stops the race before it starts
    flags = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, tuple) else v}"
             for k, v in {**overrides, **race}.items()]
    return [sys.executable, "-m", "wavegen", "train", a.data, "--preset", preset, "--out", str(out), *flags]


def race(a, runs: dict[str, tuple[str, dict]], root: Path) -> dict[tuple[str, int], Path]:
    """Train every contender and seed at once, each in its own process; wait for all (SIGINT, which checkpoints, to
    any still going a grace period past the minutes)."""
    threads = max(1, (os.cpu_count() or 1) // (len(runs) * a.seeds))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = {}
    for name, (preset, overrides) in runs.items():
        for seed in range(a.seeds):
            out = root / f"{name}-seed{seed}"
            with open(root / f"{out.name}.log", "w") as log:
                procs[name, seed] = (out, subprocess.Popen(train_command(a, preset, overrides, seed, out), stdout=log,
                                                           stderr=subprocess.STDOUT, env=env))
    deadline = time.monotonic() + a.minutes * 60 + a.grace
    for (name, seed), (out, proc) in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
        if not (out / "checkpoints").exists():
            raise SystemExit(f"{out.name}: training failed, see {root / (out.name + '.log')}")
    return {key: out for key, (out, _) in procs.items()}


def score(run: Path, best: bool, n: int, device: str) -> dict:
    """The run's batches and wall time, and the judge's scores of its newest checkpoint or best.pt (None: no best)."""
    if best and not (run / "checkpoints" / "best.pt").exists():
        return {}
    result = evaluate_run(run, best=best, n=n, names=METRICS, device=device)
    walls = [r for r in read_stats(run) if "time/wall_s" in r]
    return {"step": result["step"], "seconds": walls[-1]["time/wall_s"] if walls else float("nan"),
            "n": result["n"], **{m: v for m, v in result["metrics"].items()}}


def cell(values: list[float], fmt: str = "{:.3g}") -> str:
    return ", ".join("-" if v is None or np.isnan(v) else fmt.format(v) for v in values)


def table(scores: dict[tuple[str, int, str], dict], names: list[str], seeds: int) -> str:
    """One markdown table: real vs real, the bar (when wavegan raced), then each contender's newest and best.pt,
    its seeds' figures side by side."""
    shown = [m for m in METRICS if any(m in s for s in scores.values())]
    real = next(({m: s[m]["real_vs_real"] for m in shown if m in s} for s in scores.values() if s), {})
    lines = ["| contender | checkpoint | batches (per seed) | " + " | ".join(shown) + " |",
             "|---|---|---:|" + "---:|" * len(shown),
             "| real vs real | | | " + " | ".join(f"{real[m]:.3g}" if m in real else "" for m in shown) + " |"]
    wg = [scores.get(("wavegan", s, "newest"), {}).get("cls_fd", {}).get("value") for s in range(seeds)]
    if any(v is not None for v in wg):
        bar = {"cls_fd": BAR["cls_fd"] * min(v for v in wg if v is not None), "is": BAR["is"] * real.get("is", np.nan),
               "cls_acc": BAR["cls_acc"]}
        lines.append("| the bar (a third of wavegan's best cls_fd, 0.75x real is, 0.9 cls_acc) | | | " +
                     " | ".join(f"{bar[m]:.3g}" if m in bar else "" for m in shown) + " |")
    for name in names:
        for which in ("newest", "best.pt"):
            runs = [scores.get((name, s, which), {}) for s in range(seeds)]
            if not any(runs):
                continue
            steps = cell([r.get("step") for r in runs], "{:,}")
            lines.append(f"| {name} | {which} | {steps} | " +
                         " | ".join(cell([r.get(m, {}).get("value") for r in runs]) for m in shown) + " |")
    return "\n".join(lines)


def pack(src: str, dst: str) -> None:
    """A class folder of wavs as 16-bit FLAC, the class sub-folders and data.json kept: a third of float wavs' size,
    small enough to carry to a GPU machine."""
    src_p, dst_p = Path(src), Path(dst)
    for path in sorted(src_p.rglob("*.wav")):
        x, sr = sf.read(path, dtype="float32")
        out = dst_p / path.relative_to(src_p).with_suffix(".flac")
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, np.clip(x, -1, 1), sr, subtype="PCM_16")
    for meta in src_p.glob("*.json"):
        (dst_p / meta.name).write_text(meta.read_text())
    print(f"{dst_p}: {sum(1 for _ in dst_p.rglob('*.flac'))} files")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a folder of audio with class sub-folders (wavegen data words ...)")
    ap.add_argument("--pack", nargs=2, metavar=("SRC", "DST"), help="only write SRC's wavs as 16-bit FLAC into DST")
    ap.add_argument("--contenders", default=DEFAULT, help=f"comma-separated, of {', '.join(CONTENDERS)} and overlays")
    ap.add_argument("--overlays", help="a JSON file of further contenders: {name: {preset: ..., field: value}}")
    ap.add_argument("--minutes", type=float, default=None, help="minutes each run trains (default 5; smoke 0.05)")
    ap.add_argument("--seeds", type=int, default=2, help="runs of each contender, seeds 0, 1, ...")
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--length", type=int, default=None, help="samples per clip (default 8192; smoke 1024)")
    ap.add_argument("--holdout", type=float, default=0.2, help="share of the clips kept out of training, scored on")
    ap.add_argument("--n", type=int, default=256, help="clips scored per checkpoint (at most half the held-out ones)")
    ap.add_argument("--eval-every", type=int, default=None, help="batches between best.pt scores (default 200; smoke 2)")
    ap.add_argument("--eval-n", type=int, default=None, help="clips of each best.pt score (default 128; smoke 20)")
    ap.add_argument("--grace", type=float, default=None, help="seconds past the minutes for startup (default 120)")
    ap.add_argument("--unconditional", action="store_true", help="train without the classes (no cls_acc)")
    ap.add_argument("--smoke", action="store_true", help="smoke size, also on a GPU")
    ap.add_argument("--out", default="bench/.gpu_quality", help="where the runs go (a fresh folder per race)")
    a = ap.parse_args()
    if a.pack:
        return pack(*a.pack)
    if not a.data:
        ap.error("--data is needed (or --pack)")
    cuda = torch.cuda.is_available()
    a.smoke = a.smoke or not cuda
    size = {"minutes": 0.05, "length": 1024, "eval_every": 2, "eval_n": 20, "grace": 60} if a.smoke else \
        {"minutes": 5.0, "length": 8192, "eval_every": 200, "eval_n": 128, "grace": 120}
    for k, v in size.items():
        setattr(a, k, v if getattr(a, k) is None else getattr(a, k))
    runs = contenders(a.contenders, a.overlays)
    if cuda:
        p = torch.cuda.get_device_properties(0)
        print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB; torch {torch.__version__}", flush=True)
    if a.smoke:
        print(f"smoke size on {'the GPU' if cuda else 'the CPU (no CUDA GPU here)'}: widths {SMOKE}, "
              f"{a.minutes:g} minutes; these are not GPU figures", flush=True)
    root = Path(a.out) / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True)
    t0 = time.monotonic()
    # Fitted once, before any run starts, so that the runs only read it and its time is no contender's.
    judge.judge_for(judge.JudgeSpec.of_config(make_config("wavegan", data=a.data, length=a.length,
                                                          sample_rate=a.sample_rate)))
    print(f"judge ready ({time.monotonic() - t0:.0f} s); racing {len(runs)} contenders x {a.seeds} seeds for "
          f"{a.minutes:g} minutes in {root}", flush=True)
    done = race(a, runs, root)
    print(f"trained ({time.monotonic() - t0:.0f} s); scoring", flush=True)
    device = "cuda" if cuda else "cpu"
    scores = {(name, seed, which): score(run, which == "best.pt", a.n, device)
              for (name, seed), run in done.items() for which in ("newest", "best.pt")}
    (root / "scores.json").write_text(json.dumps({f"{k[0]} seed {k[1]} {k[2]}": v for k, v in scores.items()},
                                                 indent=1, default=float))
    n = next((s["n"] for s in scores.values() if s), 0)
    print(f"\n{'conditional' if not a.unconditional else 'unconditional'}, {a.minutes:g} minutes of training each, "
          f"{len(done)} runs at once on one {'GPU' if cuda else 'CPU'}, {a.length} samples at {a.sample_rate} Hz, "
          f"{n} generated vs {n} held-out clips; runs in {root}\n")
    print(table(scores, list(runs), a.seeds))
    print(f"\ntotal {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
