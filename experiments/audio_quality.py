"""The `audio` preset against WaveGAN at equal CPU time, and each preset without each of its pieces.

    python -m experiments.audio_quality --data data/sounds [--minutes 20] [--sample-rate 8000] [--length 8192]
                                  [--contenders wavegan,audio] [--ablate] [--ablate-ensemble] [--parallel 1]
                                  [--n 256] [--curve N] [--out bench/.audio_quality]
    python -m experiments.audio_quality --costs [--length 8192]     # parameters and seconds of each piece
    python -m experiments.audio_quality --data KITS --set classes_from_names='(?i)kick|snare' --subset 0.25 ...

`--set KEY=VALUE` (repeatable) gives every contender, and the judge, a config value (how the data's classes are
read, for one). `--subset F` trains every contender on a seeded share F of the files (symbolic links under the
race's folder, the same share for all) and scores it against the whole folder and the whole folder's judge, so that
races on 1/4 and 1/16 of a set are scored alike.

Each contender trains from scratch on the same data for the same wall time (`wavegen train` in a fresh process,
stopped with SIGINT, which checkpoints): one after another, or `--parallel N` at a time with the machine's cores
shared out evenly (OMP_NUM_THREADS), so that the contenders of one round see the same machine. Then its newest
checkpoint is scored by `wavegen eval`'s code (`evaluate_run`) on --n samples: the judge's `cls_fd`, `is` and
`coverage` where the data has classes (fitted once before any run starts, docs/judge.md), and the spectral
`frechet`, each beside its real-vs-real value. `--ablate` adds the audio preset without each of its changes to
WaveGAN's recipe, `--ablate-ensemble` the ensemble preset without each of MPD, MSD, MRD, feature matching and noise
inputs. `--curve N` keeps a checkpoint every N batches and scores each too: how quality grows with time. WaveGAN
runs at d 16, batch 16: the width that trains on a CPU (docs/audio.md). Contender names are comma-separated on the
command line, so none has a comma.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from wavegen import checkpoint
from wavegen.config import make_config, parse_value
from wavegen.data.files import scan
from wavegen.evaluation import judge
from wavegen.evaluation.scoring import evaluate_run
from wavegen.runfolder import read_stats
from wavegen.training.losses import per_example

WAVEGAN_ON_A_CPU = {"ngf": 16, "ndf": 16, "batch_size": 16}  # the width and batch that train on a CPU (audio.md)
CONTENDERS = {  # name: (preset, overrides)
    "wavegan": ("wavegan", WAVEGAN_ON_A_CPU),
    "audio": ("audio", {}),
    "ensemble": ("ensemble", {}),
}
ABLATIONS = {  # the audio preset without each of its changes to WaveGAN's recipe
    "audio without ema": ("audio", {"ema": 0.0}),
    "audio with 1 D step": ("audio", {"ema": 0.0, "d_steps": 1}),
    "audio at the paper's 5 D steps and 1e-4": ("audio", {"d_steps": 5, "lr_g": 1e-4, "lr_d": 1e-4}),
}
ENSEMBLE_ABLATIONS = {
    "ensemble without mpd": ("ensemble", {"d_arch": "msd,mrd"}),
    "ensemble without msd": ("ensemble", {"d_arch": "mpd,mrd"}),
    "ensemble without mrd": ("ensemble", {"d_arch": "mpd,msd"}),
    "ensemble without feature matching": ("ensemble", {"feature_matching": 0}),
    "ensemble without noise inputs": ("ensemble", {"g_noise": "none"}),
}
VARIANTS = {  # what else was tried (docs/audio.md)
    "audio with seed 1": ("audio", {"seed": 1}),
    "audio at 4e-4": ("audio", {"lr_g": 4e-4, "lr_d": 4e-4}),
    "audio at 4e-4 without ema": ("audio", {"lr_g": 4e-4, "lr_d": 4e-4, "ema": 0.0}),
    "audio with nearest upsampling without ema": ("audio", {"upsample": "nearest", "ema": 0.0}),
    "audio with noise inputs without ema": ("audio", {"g_noise": "all", "ema": 0.0}),
    "audio with nearest upsampling": ("audio", {"upsample": "nearest"}),
    "audio with the istft G": ("audio", {"arch": "istft", "ngf": 128, "d_arch": "wavegan"}),
    "audio with d 32 in G": ("audio", {"ngf": 32}),
    "audio with batch 32": ("audio", {"batch_size": 32}),
    "audio with batch 8": ("audio", {"batch_size": 8}),
    "audio with d 8 in D": ("audio", {"ndf": 8}),
    "audio with d 8 in D and seed 1": ("audio", {"ndf": 8, "seed": 1}),
    "audio with the penalty every 4th D step": ("audio", {"penalty_every": 4}),
    "audio with the penalty every 2nd D step": ("audio", {"penalty_every": 2}),
    "audio with a 512-tap post filter": ("audio", {"g_postfilter": 512}),
    "audio with spec": ("audio", {"d_arch": "wavegan,spec"}),
    "audio conditional": ("audio", {"conditional": True}),
    "audio conditional with ada": ("audio", {"conditional": True, "augment": "ada"}),
    "audio conditional with seed 1": ("audio", {"conditional": True, "seed": 1}),
    "audio conditional with ada and seed 1": ("audio", {"conditional": True, "augment": "ada", "seed": 1}),
    "audio with ada": ("audio", {"augment": "ada"}),
    "hpn conditional": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True}),
    "hpn conditional with mrd": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True, "d_arch": "wavegan,mrd"}),
    "hpn conditional with mrd and seed 1": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True,
                                                      "d_arch": "wavegan,mrd", "seed": 1}),
    "hpn conditional with ada": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True, "augment": "ada"}),
    "hpn conditional with seed 1": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True, "seed": 1}),
    "hpn conditional with shares": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True,
                                              "harmonic_shape": "shares"}),
    "hpn conditional with local f0": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True, "f0_grad": "local"}),
    "hpn conditional with untaught f0": ("audio", {"arch": "hpn", "ngf": 128, "conditional": True, "f0_grad": "none"}),
    "audio with beta1 0": ("audio", {"beta1": 0.0}),
    "audio with minibatch std": ("audio", {"d_mbstd": 4}),
    "wavegan conditional": ("wavegan", {**WAVEGAN_ON_A_CPU, "conditional": True}),
    "audio with spec and d 8 in D": ("audio", {"d_arch": "wavegan,spec", "ndf": 8}),
    "wavegan with ema": ("wavegan", {**WAVEGAN_ON_A_CPU, "ema": 0.999}),
    "wavegan with hinge and sn": ("wavegan", {**WAVEGAN_ON_A_CPU, "loss": "hinge", "spectral_norm": True,
                                              "d_steps": 1, "lr_d": 4e-4, "beta1": 0.0}),
    "wavegan with mpd and msd": ("wavegan", {**WAVEGAN_ON_A_CPU, "d_arch": "wavegan,mpd,msd", "ndf": 4}),
    "ensemble with hinge": ("ensemble", {"loss": "hinge", "d_mbstd": 0}),
    "ensemble with 3 D steps": ("ensemble", {"d_steps": 3, "d_mbstd": 0}),
    "ensemble without minibatch std": ("ensemble", {"d_mbstd": 0}),
    "ensemble with hinge and minibatch std": ("ensemble", {"loss": "hinge"}),
    "ensemble with transposed convolutions": ("ensemble", {"upsample": "transpose"}),
    "ensemble with the istft G": ("ensemble", {"arch": "istft", "ngf": 128}),
    "ensemble with wgan-gp": ("ensemble", {"loss": "wgan-gp", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5,
                                           "beta2": 0.9}),
    "ensemble with r1": ("ensemble", {"loss": "nonsat", "r1_gamma": 1.0}),
    "ensemble with hinge and sn": ("ensemble", {"loss": "hinge", "spectral_norm": True, "lr_g": 1e-4, "lr_d": 4e-4,
                                                "beta1": 0.0, "beta2": 0.9}),
}
KNOWN = CONTENDERS | ABLATIONS | ENSEMBLE_ABLATIONS | VARIANTS  # every name --contenders takes
assert not any("," in k for k in KNOWN), "contender names are comma-separated on the command line"
METRICS = ["cls_fd", "is", "coverage", "frechet", "cls_acc", "harmonicity"]  # cls_acc: conditional contenders only


def start(data: str, preset: str, overrides: dict, out: Path, threads: int, curve: int) -> subprocess.Popen:
    """`wavegen train` from scratch in its own process, on `threads` cores; with `curve`, a checkpoint kept every
    `curve` batches."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in overrides.items()]
    keep = ["--ckpt-every", str(curve), "--keep-ckpts", "0"] if curve else ["--ckpt-every", "100000"]
    cmd = [sys.executable, "-m", "wavegen", "train", data, "--preset", preset, "--out", str(out), "--print-every",
           "100000", *keep, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with open(out.parent / f"{out.name}.log", "w") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def subset_folder(data: str, share: float, formats: tuple[str, ...], out: Path, seed: int = 0) -> Path:
    """A folder of symbolic links to a seeded share of `data`'s files, at their relative paths (so that class
    folders and class names in file names still say the class), drawn within each sub-folder."""
    root = Path(data).resolve()
    files = scan(root, formats).files
    by_folder: dict[Path, list[Path]] = {}
    for f in sorted(files):
        by_folder.setdefault(f.parent, []).append(f)
    rng = np.random.default_rng(seed)
    for group in by_folder.values():
        keep = max(1, round(share * len(group)))
        for i in sorted(rng.permutation(len(group))[:keep]):
            link = out / group[i].relative_to(root)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(group[i])
    return out


def stop_at(proc: subprocess.Popen, deadline: float, out: Path) -> dict:
    """Stop the run as Ctrl-C does (it checkpoints) once the deadline has passed; its batches and seconds."""
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=600)
    if proc.returncode not in (0, 130) and not (out / "checkpoints").exists():
        raise SystemExit(f"{out.name}: training failed, see {out.parent / (out.name + '.log')}")
    walls = [r for r in read_stats(out) if "time/wall_s" in r] or [{"step": 0, "time/wall_s": 0.0}]
    return {"batches": walls[-1]["step"], "seconds": walls[-1]["time/wall_s"]}


def curve_rows(name: str, run: Path, n: int, against: str | None = None) -> list[str]:
    """A table row per kept checkpoint of `run`: the minutes and batches it took, and its scores."""
    walls = {r["step"]: r["time/wall_s"] for r in read_stats(run) if "time/wall_s" in r}
    rows = []
    for path in checkpoint.list_ckpts(run):
        step = int(checkpoint.PATTERN.match(path.name).group(1))
        scores = evaluate_run(run, step=step, n=n, names=METRICS, against=against)["metrics"]
        rows.append(f"| {name} | {walls.get(step, float('nan')) / 60:.1f} | {step} | " +
                    " | ".join(f"{scores[m]['value']:.3g}" if m in scores else "" for m in METRICS) + " |")
    return rows


def costs(length: int, batch: int = 16, rounds: int = 3) -> None:
    """Parameters and seconds of one forward and backward pass of each piece on a batch, float32 and bf16 autocast."""
    from wavegen.models.build import build_models

    pieces = {"ensemble's G (wavegan, d 16, nearest, noise)": ("ensemble", {}, "G"),
              "istft G (width 128, 4 blocks)": ("ensemble", {"arch": "istft", "ngf": 128}, "G")}
    for sub in ("mpd", "msd", "mrd"):
        pieces[f"{sub}, d 4 (the ensemble preset's)"] = ("ensemble", {"d_arch": sub}, "D")
    pieces["WaveGAN G, d 16 (the audio preset's)"] = ("audio", {}, "G")
    pieces["WaveGAN G, d 16, with a 512-tap post filter"] = ("audio", {"g_postfilter": 512}, "G")
    pieces["WaveGAN D, d 16 (the audio preset's)"] = ("audio", {}, "D")
    pieces["spec, d 16 (width 64)"] = ("audio", {"d_arch": "spec"}, "D")
    print(f"| piece | parameters | float32 s | bf16 s |  (batch {batch} x {length}, {torch.get_num_threads()} threads)")
    print("|---|---:|---:|---:|")
    for name, (preset, overrides, part) in pieces.items():
        torch.manual_seed(0)
        cfg = make_config(preset, **{**overrides, "length": length})
        G, D = build_models(cfg, 1, length)
        net = G if part == "G" else D
        x = torch.randn(batch, cfg.nz, 1) if part == "G" else torch.randn(batch, 1, length)

        def step():
            per_example(net(x)).mean().backward()  # an ensemble: the sum of its heads' mean logits
        seconds = []
        for amp in (False, True):
            with torch.autocast("cpu", torch.bfloat16, enabled=amp):
                step()
                began = time.perf_counter()
                for _ in range(rounds):
                    step()
                seconds.append((time.perf_counter() - began) / rounds)
        print(f"| {name} | {sum(p.numel() for p in net.parameters()) / 1e6:.2f}M | {seconds[0]:.3f} | {seconds[1]:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a folder of audio (class sub-folders give the judge's metrics)")
    ap.add_argument("--costs", action="store_true", help="only time each piece's forward and backward pass")
    ap.add_argument("--minutes", type=float, default=20.0, help="wall time each contender trains")
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--length", type=int, default=8192)
    ap.add_argument("--contenders", default="wavegan,audio",
                    help=f"comma-separated, of {', '.join(KNOWN)}")
    ap.add_argument("--ablate", action="store_true", help="also the audio preset without each of its changes")
    ap.add_argument("--ablate-ensemble", action="store_true",
                    help="also the ensemble preset without each of its pieces")
    ap.add_argument("--parallel", type=int, default=1, help="contenders trained at once, sharing the cores evenly")
    ap.add_argument("--threads", type=int, default=0, help="threads of each run (default: the cores / --parallel)")
    ap.add_argument("--n", type=int, default=256, help="samples scored per contender")
    ap.add_argument("--curve", type=int, default=0,
                    help="also keep a checkpoint every N batches and score each: quality against time")
    ap.add_argument("--out", default="bench/.audio_quality", help="where the runs go (a fresh folder per run)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config value for every contender and the judge (repeatable)")
    ap.add_argument("--subset", type=float, default=1.0,
                    help="train on this share of the files (scored against the whole folder)")
    a = ap.parse_args()
    if a.costs:
        return costs(a.length)
    if not a.data:
        ap.error("--data is needed (or --costs)")
    unknown = [k for k in a.contenders.split(",") if k not in KNOWN]
    if unknown:
        ap.error(f"unknown contender {unknown[0]!r} (known: {', '.join(KNOWN)})")
    runs = ({k: KNOWN[k] for k in a.contenders.split(",")} | (ABLATIONS if a.ablate else {})
            | (ENSEMBLE_ABLATIONS if a.ablate_ensemble else {}))
    root = Path(a.out) / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True)
    fixed = dict(kv.split("=", 1) for kv in a.set)
    shape = {"length": a.length, "sample_rate": a.sample_rate, **fixed}  # as train flags
    parsed = {**shape, **{k: parse_value(k, v) for k, v in fixed.items()}}
    # Fitted here, once, so that parallel scorers only read it and its time is no contender's.
    base = make_config("audio", data=a.data, **parsed)
    judge.judge_for(judge.JudgeSpec.of_config(base))
    against = str(Path(a.data).resolve()) if a.subset < 1 else None
    data = str(subset_folder(a.data, a.subset, base.formats, root / "data")) if against else a.data
    threads = a.threads or max(1, (os.cpu_count() or 1) // a.parallel)
    names, rows = list(runs), {}
    for first in range(0, len(names), a.parallel):
        group = names[first:first + a.parallel]
        procs = {n: start(data, runs[n][0], {**runs[n][1], **shape}, root / n.replace(" ", "_"), threads,
                              a.curve) for n in group}
        deadline = time.monotonic() + a.minutes * 60
        speeds = {n: stop_at(p, deadline, root / n.replace(" ", "_")) for n, p in procs.items()}
        for name in group:
            scores = evaluate_run(root / name.replace(" ", "_"), n=a.n, names=METRICS, against=against)["metrics"]
            rows[name] = (speeds[name], scores)
            print(f"{name}: {speeds[name]['batches']} batches in {speeds[name]['seconds']:.0f} s; " +
                  ", ".join(f"{m} {v['value']:.3g}" for m, v in scores.items()), flush=True)
    shown = [m for m in METRICS if any(m in s for _, s in rows.values())]
    print(f"\n{a.minutes:g} minutes each, {a.parallel} at a time on {threads} thread(s) each, {a.length} samples at "
          f"{a.sample_rate} Hz, {a.n} samples scored; trained on {a.subset:g} of {a.data}; runs in {root}\n")
    print("| contender | s / batch | batches | " + " | ".join(shown) + " |")
    print("|---|---:|---:|" + "---:|" * len(shown))
    real = {m: s[m]["real_vs_real"] for _, s in reversed(rows.values()) for m in s}  # any run's: they agree
    print("| real vs real | | | " + " | ".join(f"{real[m]:.3g}" for m in shown) + " |")
    for name, (speed, scores) in rows.items():
        print(f"| {name} | {speed['seconds'] / max(1, speed['batches']):.2f} | {speed['batches']} | " +
              " | ".join(f"{scores[m]['value']:.3g}" if m in scores else "" for m in shown) + " |")
    if a.curve:
        print("\n| contender | minutes | batches | " + " | ".join(METRICS) + " |\n|---|---:|---:|" + "---:|" * len(METRICS))
        for name in rows:
            print("\n".join(curve_rows(name, root / name.replace(" ", "_"), a.n, against)), flush=True)


if __name__ == "__main__":
    main()
