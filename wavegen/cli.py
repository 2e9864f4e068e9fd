"""The `wavegen` command: a thin layer that validates arguments and calls the library's functions.

Every Config field is a flag of `wavegen train` (`--lr-g 1e-4`, `--batch-size 64`, ...), so every
hyperparameter can be overridden without a preset of its own.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from .config import PRESETS, Config, make_config, parse_value
from .errors import WavegenError

NOT_FLAGS = {"data", "out", "preset"}  # given as positional / dedicated arguments


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("config overrides (default: the preset's value)")
    for f in fields(Config):
        if f.name in NOT_FLAGS:
            continue
        g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, metavar=f.type.replace(" | None", "").upper()[:5], default=None)


class Parser(argparse.ArgumentParser):
    """argparse, with its errors (unknown flags, missing values) in one line like every other wavegen error."""

    def error(self, message: str):
        self.exit(2, f"wavegen: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="wavegen", description="Train, inspect and sample GANs for raw 1-D waveforms.")
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("data", help="make a synthetic data set, or prepare a folder of audio for training")
    dsub = d.add_subparsers(dest="kind", required=True)
    pr = dsub.add_parser("prepare", help="decode a folder of audio (any rate, channels, length) once into a memory-mapped cache")
    pr.add_argument("src", help="folder of audio files (wav, flac, ogg, mp3), searched recursively; sub-folders are classes")
    pr.add_argument("--out", default=None, help="cache folder (default: SRC/.wavegen-prepared-<hash of the options>)")
    pr.add_argument("--sample-rate", type=int, default=0, help="resample every file to this rate (default 0: keep; all files must share one)")
    pr.add_argument("--channels", default="mono", choices=["mono", "keep"], help="average the channels (default) or keep them")
    pr.add_argument("--formats", default="wav,flac,ogg,mp3", help="file extensions to decode, comma separated (default wav,flac,ogg,mp3)")
    pr.add_argument("--skip-bad", action="store_true", help="leave out files that cannot be used (listed) instead of stopping")
    gs = dsub.add_parser("gaussian", help="the seed post's data: a centred Gaussian curve plus noise per wav file")
    gs.add_argument("out", help="folder to create")
    gs.add_argument("--n", type=int, default=10000, help="number of files (default 10000)")
    gs.add_argument("--length", type=int, default=100, help="samples per file (default 100)")
    gs.add_argument("--sigma", type=float, default=None, help="width of the curve in samples")
    gs.add_argument("--amplitude", type=float, default=None, help="height of the curve")
    gs.add_argument("--noise", type=float, default=None, help="std of the added white noise")
    gs.add_argument("--sample-rate", type=int, default=None, help="sample rate in the wav headers")
    gs.add_argument("--seed", type=int, default=None, help="seed of the noise")

    so = dsub.add_parser("sounds", help="kicks, snares, plucked tones and chirps: a small set to try the audio presets on")
    so.add_argument("out", help="folder to create (one sub-folder per class)")
    so.add_argument("--n", type=int, default=2000, help="number of files (default 2000)")
    so.add_argument("--sample-rate", type=int, default=16000, help="sample rate (default 16000)")
    so.add_argument("--seconds", type=float, default=1.0, help="length of each file (default 1.0)")
    so.add_argument("--seed", type=int, default=0, help="seed (default 0)")

    t = sub.add_parser("train", help="train a GAN on a folder of audio, or resume a run")
    t.add_argument("data", nargs="?", help="folder of audio files (wav, flac, ogg), searched recursively")
    t.add_argument("--out", help="run folder to create (never overwritten)")
    t.add_argument("--resume", metavar="RUN", help="continue this run folder from its newest good checkpoint")
    t.add_argument("--preset", default="seed", choices=sorted(PRESETS), help="named set of config values (default seed)")
    _add_config_flags(t)

    pl = sub.add_parser("plot", help="draw the progress figure and sample figures of a run")
    pl.add_argument("run")
    pl.add_argument("--steps", default=None, help="batches to draw samples at, comma separated (default: the post's)")

    ge = sub.add_parser("generate", help="write generated wav files from a run's checkpoint")
    ge.add_argument("run")
    ge.add_argument("--n", type=int, default=100, help="number of files (default 100)")
    ge.add_argument("--out", required=True, help="folder to write the wavs to")
    ge.add_argument("--step", type=int, default=None, help="checkpoint at this batch (default: the newest)")
    ge.add_argument("--mode", default=None, choices=["batch", "train", "eval"], help="how G runs (default: the run's sample_mode)")
    ge.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    ge.add_argument("--interpolate", action="store_true",
                    help="write a walk between two noise vectors instead: N steps, plus walk.wav of them in a row")

    su = sub.add_parser("summary", help="print and write a short summary of a run (summary.md)")
    su.add_argument("run")

    ev = sub.add_parser("eval", help="score a checkpoint against real data with every metric (eval.json)")
    ev.add_argument("run", nargs="?")
    ev.add_argument("--step", type=int, default=None, help="checkpoint at this batch (default: the newest)")
    ev.add_argument("--best", action="store_true", help="score checkpoints/best.pt (kept during training)")
    ev.add_argument("--n", type=int, default=1000, help="generated and real examples (default 1000)")
    ev.add_argument("--metrics", default=None, help="comma-separated subset (default: all that apply)")
    ev.add_argument("--mode", default=None, choices=["batch", "train", "eval"], help="how G runs (default: the run's)")
    ev.add_argument("--list", action="store_true", help="list the metrics and exit")

    rp = sub.add_parser("report", help="write one self-contained HTML page about a run (RUN/report.html)")
    rp.add_argument("run")
    rp.add_argument("--out", default=None, help="where to write the page (default: RUN/report.html)")

    an = sub.add_parser("analyse", help="find the transition and the divergence in a run's stats (analysis.json)")
    an.add_argument("run")
    an.add_argument("--metric", default=None, help="quality score to use (default: the run's best_metric)")

    sw = sub.add_parser("sweep", help="train settings x seeds as separate runs (resumable), then tabulate them")
    sw.add_argument("spec", help="sweep spec, JSON: preset, data, base, grid and/or settings, seeds (experiments/README.md)")
    sw.add_argument("--out", default=None, help="sweep folder (default: sweeps/<spec file name>); rerun to resume")
    sw.add_argument("--jobs", type=int, default=1, help="runs trained at a time (default 1)")
    sw.add_argument("--threads", type=int, default=None, help="torch threads per run (default: CPU cores // jobs)")
    sw.add_argument("--dry-run", action="store_true", help="check the spec and list the runs and their commands")
    sw.add_argument("--report-only", action="store_true", help="only write the tables and figure from the finished runs")
    return p


def _prepare(a: argparse.Namespace) -> None:
    """`wavegen data prepare`: build (or reuse) the cache and say what is in it."""
    import time

    from .audio import prepare, read_prepared
    from .data import describe_skipped

    began = time.time()
    formats = parse_value("formats", a.formats)  # as `wavegen train --formats` reads it
    out = prepare(a.src, a.out, sample_rate=a.sample_rate, mono=a.channels == "mono", formats=formats, skip_bad=a.skip_bad)
    m = read_prepared(out)
    verb = "prepared" if m["built_at"] >= began else "already prepared (files unchanged), reusing"
    hours = f"{m['hours']:.2f} hours" if m["hours"] >= 0.1 else f"{m['hours'] * 3600:.1f} seconds"
    print(f"{verb} {m['n_files']} files, {hours} of audio at {m['sample_rate']} Hz, "
          f"{m['channels']} channel{'s' if m['channels'] != 1 else ''}, in {out}")
    print(f"classes: {', '.join(m['classes']) if m['classes'] else 'none (no sub-folders)'}")
    print(f"size on disk: {m['bytes'] / 2**20:,.1f} MB (samples.npy)")
    if m["skipped"]:
        print(describe_skipped([tuple(s) for s in m["skipped"]]))


def _train(a: argparse.Namespace) -> None:
    from .train import resume, train

    overrides = {f.name: parse_value(f.name, getattr(a, f.name)) for f in fields(Config)
                 if f.name not in NOT_FLAGS and getattr(a, f.name) is not None}
    if a.resume:
        if a.data or a.out:
            raise WavegenError("--resume takes the run folder only (its data and settings are in its config.json)")
        resume(a.resume, **overrides)
        return
    if not a.data or not a.out:
        raise WavegenError("train needs a data folder and --out RUN (or --resume RUN)")
    train(make_config(a.preset, data=a.data, out=a.out, **overrides))


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.cmd == "data" and a.kind == "prepare":
            _prepare(a)
        elif a.cmd == "data" and a.kind == "sounds":
            from .data import make_sounds

            print(f"wrote {a.n} files of {a.seconds} s to {make_sounds(a.out, a.n, a.sample_rate, a.seconds, a.seed)}")
        elif a.cmd == "data":
            from .data import GaussianSpec, make_gaussian

            spec = GaussianSpec(n=a.n, length=a.length, **{k: v for k, v in
                                {"sigma": a.sigma, "amplitude": a.amplitude, "noise": a.noise,
                                 "sample_rate": a.sample_rate, "seed": a.seed}.items() if v is not None})
            out = make_gaussian(a.out, spec)
            print(f"wrote {spec.n} files of {spec.length} samples to {out}")
        elif a.cmd == "train":
            _train(a)
        elif a.cmd == "plot":
            from .plot import plot_run

            try:
                steps = [int(s) for s in a.steps.split(",")] if a.steps else None
            except ValueError:
                raise WavegenError(f"--steps wants batch numbers separated by commas, got {a.steps!r}") from None
            for path in plot_run(a.run, steps):
                print(f"wrote {path}")
        elif a.cmd == "generate":
            from .generate import generate

            files = generate(a.run, a.n, a.out, step=a.step, mode=a.mode, seed=a.seed, walk=a.interpolate)
            print(f"wrote {len(files)} wav files to {a.out}")
        elif a.cmd == "eval":
            from .metrics import METRICS

            if a.list:
                for name, m in sorted(METRICS.items()):
                    print(f"{name:16s} {m.doc}")
                return 0
            if not a.run:
                raise WavegenError("eval needs a run folder")
            from .evaluation import evaluate_run, format_eval

            names = [m.strip() for m in a.metrics.split(",")] if a.metrics else None
            print(format_eval(evaluate_run(a.run, a.step, a.best, a.n, names, a.mode)))
        elif a.cmd == "report":
            from .report import write_report

            print(f"wrote {write_report(a.run, a.out)}")
        elif a.cmd == "analyse":
            from .analysis import analyse, describe

            print(describe(analyse(a.run, a.metric)))
        elif a.cmd == "summary":
            from .summary import write_summary

            print(write_summary(a.run), end="")
        elif a.cmd == "sweep":
            from .sweep import run_sweep

            run_sweep(a.spec, a.out, jobs=a.jobs, threads=a.threads, dry_run=a.dry_run, report_only=a.report_only)
    except WavegenError as e:
        print(f"wavegen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wavegen: interrupted", file=sys.stderr)
        return 130
    return 0
