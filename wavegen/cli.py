"""The `wavegen` command: a thin layer that validates arguments and calls the library's functions.

Every Config field is a flag of `wavegen train` (`--lr-g 1e-4`, `--batch-size 64`, ...), so every
hyperparameter can be overridden without a preset of its own.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from .config import PRESET_ALIASES, PRESETS, Config, make_config, parse_value
from .errors import WavegenError

NOT_FLAGS = {"data", "out", "preset", "init_step", "run_id"}  # positional, dedicated, or set by wavegen (--init-from)


METAVARS = {"int": "N", "float": "X", "str": "NAME", "bool": "BOOL", "tuple[str, ...]": "A,B"}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per Config field, grouped by the field's section, with its help, allowed values and default."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields(Config):
        if f.name in NOT_FLAGS:
            continue
        section = f.metadata["section"]
        if section not in groups:
            groups[section] = p.add_argument_group(section)
        choices = f.metadata["choices"]
        default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        words = isinstance(f.default, tuple)  # a list of words: validate checks each (argparse sees one string)
        groups[section].add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=None, choices=None if words else choices,
            metavar="{" + ",".join(choices) + "}" if choices else METAVARS[f.type.replace(" | None", "")],
            help=f"{f.metadata['help']} [{default}]".replace("%", "%%"))


class Parser(argparse.ArgumentParser):
    """argparse, with its errors (unknown flags, missing values) in one line like every other wavegen error."""

    def error(self, message: str):
        self.exit(2, f"wavegen: error: {message} (see {self.prog} --help)\n")


def _add_doctor_parser(sub) -> None:
    dr = sub.add_parser("doctor", help="what is wrong with a run and what to try (doctor.json; docs/doctor.md)")
    dr.add_argument("run")
    dr.add_argument("--json", action="store_true", help="print the findings as JSON instead of text")


def _add_data_parser(sub) -> None:
    """`wavegen data prepare | gaussian | sounds | words`."""
    d = sub.add_parser("data", help="make a synthetic data set, or prepare a folder of audio for training")
    dsub = d.add_subparsers(dest="kind", required=True)
    pr = dsub.add_parser("prepare", help="decode a folder of audio (any rate, channels, length) once into a memory-mapped cache")
    pr.add_argument("src", help="folder of audio files (any format libsndfile reads), searched recursively; sub-folders are classes")
    pr.add_argument("--out", default=None, help="cache folder (default: one in the cache folder, see `wavegen cache`)")
    pr.add_argument("--cache-dir", default=None, help="cache folder to prepare into (default: $WAVEGEN_CACHE_DIR, else the user cache folder)")
    pr.add_argument("--sample-rate", type=int, default=0, help="resample every file to this rate (default 0: keep; all files must share one)")
    pr.add_argument("--channels", default="mono", choices=["mono", "keep"], help="average the channels (default) or keep them")
    pr.add_argument("--formats", default="", help="file extensions to decode, comma separated (default: every audio format libsndfile reads)")
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
    wo = dsub.add_parser("words", help="spoken words made offline with espeak-ng (installed separately): one class "
                                       "folder per word, random accents, voices, pitches and speeds")
    wo.add_argument("out", help="folder to create (one sub-folder per word)")
    wo.add_argument("--words", default=None, help="comma-separated words, one class each (default: the NATO alphabet's "
                                                   "first ten, alpha to juliett)")
    wo.add_argument("--n", type=int, default=2000, help="number of files, the words in turn (default 2000)")
    wo.add_argument("--sample-rate", type=int, default=16000, help="sample rate (default 16000)")
    wo.add_argument("--seconds", type=float, default=1.0, help="length of each file (default 1.0)")
    wo.add_argument("--seed", type=int, default=0, help="seed of the voices, pitches, speeds, onsets and gains (default 0)")


def _add_classifier_parser(sub) -> None:
    """`wavegen classifier fit`."""
    c = sub.add_parser("classifier", help="the judge: a classifier fitted on a folder's classes, for the classifier metrics")
    csub = c.add_subparsers(dest="kind", required=True)
    f = csub.add_parser("fit", help="fit the judge on a folder with classes (or a run's data) and report its "
                                    "held-out accuracy; kept in the cache folder, reused until the data changes")
    f.add_argument("data", help="folder of audio with one sub-folder per class (or --classes-from-names, --labels), "
                                "or a run folder (its data and settings)")
    f.add_argument("--classes-from-names", default=None, metavar="PATTERN",
                   help="a file's class is the first match of this regular expression in its path, as train's")
    f.add_argument("--labels", default=None, metavar="FILE.csv", help="rows path,class giving each file its class, as train's")
    f.add_argument("--unlabelled", default=None, choices=["refuse", "skip"],
                   help="files without a class: refuse (default) or skip them, as train's")
    f.add_argument("--length", type=int, default=None, help="samples per window, as the run's --length (default: the longest file)")
    f.add_argument("--sample-rate", type=int, default=None, help="resample to this rate, as the run's (default: keep)")
    f.add_argument("--normalise", default=None, choices=["none", "peak", "rms"], help="per window, as the run's (default none)")
    f.add_argument("--window", default=None, choices=["all", "first", "auto"],
                   help="windows all through every file (default), the first of each (one-shots), or auto, as the run's")
    f.add_argument("--epochs", type=int, default=None, help="passes over the training windows (default 20)")
    f.add_argument("--seed", type=int, default=None, help="seed of the split, the weights and the augmentation (default 0)")
    f.add_argument("--force", action="store_true", help="fit again even if a judge for these files exists")
    f.add_argument("--cache-dir", default=None, help="cache folder (default: $WAVEGEN_CACHE_DIR, else the user cache folder)")


def _add_export_parser(sub) -> None:
    ex = sub.add_parser("export", help="write a run's generator as one ONNX or TorchScript file (docs/export.md)")
    ex.add_argument("run")
    ex.add_argument("--format", required=True, metavar="{onnx,torchscript}", help="onnx (onnxruntime, ...) or torchscript "
                    "(torch.jit.load)")
    ex.add_argument("--out", required=True, help="file to write (never overwritten)")
    ex.add_argument("--step", type=int, default=None, help="checkpoint at this batch (default: the newest)")
    ex.add_argument("--best", action="store_true", help="export checkpoints/best.pt (kept during training)")
    ex.add_argument("--mode", default=None, choices=["batch", "train", "eval"], help="how G runs (default: the run's sample_mode)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="wavegen", description="Train, inspect and sample GANs for raw 1-D waveforms.")
    sub = p.add_subparsers(dest="cmd", required=True)

    _add_data_parser(sub)
    _add_classifier_parser(sub)

    t = sub.add_parser("train", help="train a GAN on a folder of audio, or resume a run",
                       description="Train a GAN on a folder of audio, or resume a run. Each flag overrides the "
                                   "preset's value; [x] is the value where the preset sets none.")
    t.add_argument("data", nargs="?", help="folder of audio files (wav, flac, aiff, mp3, ...), searched recursively")
    t.add_argument("--out", help="run folder to create (never overwritten)")
    t.add_argument("--resume", metavar="RUN", help="continue this run folder from its newest good checkpoint")
    t.add_argument("--preset", default=None, choices=[*PRESETS, *PRESET_ALIASES], metavar="{" + ",".join(PRESETS) + "}",
                   help="named set of config values the flags below override (default post: the blog post's recipe; "
                        "docs/config.md lists what each sets)")
    _add_config_flags(t)

    pl = sub.add_parser("plot", help="draw the progress figure and sample figures of a run")
    pl.add_argument("run")
    pl.add_argument("--steps", default=None, help="batches to draw samples at, comma separated (default: the post's)")

    ge = sub.add_parser("generate", help="write generated wav files from a run's checkpoint")
    ge.add_argument("run")
    ge.add_argument("--n", type=int, default=100, help="number of files (default 100)")
    ge.add_argument("--out", required=True, help="folder to write the wavs to")
    ge.add_argument("--step", type=int, default=None, help="checkpoint at this batch (default: the newest)")
    ge.add_argument("--best", action="store_true", help="sample checkpoints/best.pt (kept during training)")
    ge.add_argument("--mode", default=None, choices=["batch", "train", "eval"], help="how G runs (default: the run's sample_mode)")
    ge.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    ge.add_argument("--interpolate", action="store_true",
                    help="write a walk between two noise vectors instead: N steps, plus walk.wav of them in a row")
    ge.add_argument("--class", dest="klass", default=None, metavar="NAME",
                    help="conditional runs: make this class (one of the run's classes, listed in its data.json)")
    ge.add_argument("--per-class", action="store_true", help="conditional runs: N files of every class, in OUT/<class>/")
    ge.add_argument("--to", default=None, metavar="NAME",
                    help="conditional runs, with --interpolate and --class: walk from that class to this one at fixed noise")

    _add_export_parser(sub)

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

    _add_doctor_parser(sub)
    sw = sub.add_parser("sweep", help="train settings x seeds as separate runs (resumable), then tabulate them")
    sw.add_argument("spec", help="sweep spec, JSON: preset, data, base, grid and/or settings, seeds (experiments/README.md)")
    sw.add_argument("--out", default=None, help="sweep folder (default: sweeps/<spec file name>); rerun to resume")
    sw.add_argument("--jobs", type=int, default=1, help="runs trained at a time (default 1)")
    sw.add_argument("--threads", type=int, default=None, help="torch threads per run (default: CPU cores // jobs)")
    sw.add_argument("--dry-run", action="store_true", help="check the spec and list the runs and their commands")
    sw.add_argument("--report-only", action="store_true", help="only write the tables and figure from the finished runs")
    ca = sub.add_parser("cache", help="list or remove the caches of decoded data (never kept in the data folder)")
    csub = ca.add_subparsers(dest="kind", required=True)
    cl = csub.add_parser("list", help="every data folder with a cache: its size and last use")
    cc = csub.add_parser("clear", help="remove every cache, or the caches of one data folder")
    cc.add_argument("folder", nargs="?", help="data folder whose caches to remove (default: all)")
    for c in (cl, cc):
        c.add_argument("--cache-dir", default=None, help="cache folder (default: $WAVEGEN_CACHE_DIR, else the user cache folder)")
    co = sub.add_parser("config", help="print a preset's settings as JSON, or every setting as Markdown")
    co.add_argument("--preset", default="post", choices=[*PRESETS, *PRESET_ALIASES], metavar="{" + ",".join(PRESETS) + "}",
                    help="the preset to print (default post)")
    co.add_argument("--markdown", action="store_true", help="print docs/config.md: every setting, its help and the presets")
    return p


def _prepare(a: argparse.Namespace) -> None:
    """`wavegen data prepare`: build (or reuse) the cache and say what is in it."""
    import time

    from pathlib import Path

    from .data.files import describe_skipped, scan
    from .data.prepared import prepare, read_prepared

    began = time.time()
    formats = parse_value("formats", a.formats)  # as `wavegen train --formats` reads it
    out = prepare(a.src, a.out, sample_rate=a.sample_rate, mono=a.channels == "mono", formats=formats, skip_bad=a.skip_bad,
                  cache_dir=a.cache_dir)
    m = read_prepared(out)
    verb = "prepared" if m["built_at"] >= began else "already prepared (files unchanged), reusing"
    hours = f"{m['hours']:.2f} hours" if m["hours"] >= 0.1 else f"{m['hours'] * 3600:.1f} seconds"
    print(f"{verb} {m['n_files']} files, {hours} of audio at {m['sample_rate']} Hz, "
          f"{m['channels']} channel{'s' if m['channels'] != 1 else ''}, in {out}")
    print(f"classes: {', '.join(m['classes']) if m['classes'] else 'none (no sub-folders)'}")
    print(f"size on disk: {m['bytes'] / 2**20:,.1f} MB (samples.npy)")
    found = scan(Path(a.src), formats)  # the audio files of other extensions, named as skipped too
    line = describe_skipped([*(tuple(s) for s in m["skipped"]), *found.unloaded], found.ignored)
    if line:
        print(line)


def _cache_root(a: argparse.Namespace):
    from .data.cache import cache_root

    root = cache_root(a.cache_dir)
    if root is None:
        raise WavegenError("the cache is turned off (cache dir none): there are no caches; name one with --cache-dir DIR")
    return root


def _cache_list(a: argparse.Namespace) -> None:
    """`wavegen cache list`: the cached data folders, most recently used first."""
    from .data.cache import entries, human, when

    root = _cache_root(a)
    found = entries(root)
    if not found:
        print(f"no caches in {root}")
        return
    print(f"caches in {root}:")
    print(f"  {'size':>9}  {'last use':16}  data folder")
    for e in found:
        print(f"  {human(e.bytes):>9}  {when(e.last_use):16}  {e.folder}")
    print(f"{len(found)} data folder{'s' if len(found) != 1 else ''}, {human(sum(e.bytes for e in found))}; "
          "`wavegen cache clear [FOLDER]` removes them")


def _cache_clear(a: argparse.Namespace) -> None:
    """`wavegen cache clear [FOLDER]`: remove every cache, or the one of a data folder."""
    from pathlib import Path

    from .data.cache import clear, human
    from .data.folder import CACHE_NAME
    from .data.prepared import PREPARED_PREFIX

    root = _cache_root(a)
    removed, busy = clear(root, a.folder)
    if not removed and not busy:
        print(f"no cache of {a.folder} in {root}" if a.folder else f"no caches in {root}")
    elif removed:
        n = len(removed)
        print(f"removed the caches of {n} data folder{'s' if n != 1 else ''} ({human(sum(e.bytes for e in removed))}) "
              f"from {root}")
    for e in busy:
        print(f"left the cache of {e.folder} ({e.path}): a run is building it now")
    folder = Path(a.folder) if a.folder else None
    if folder is not None and folder.is_dir():  # older versions cached inside the data folder: the user's to delete
        for old in [folder / CACHE_NAME, *folder.glob(PREPARED_PREFIX + "*")]:
            if old.exists():
                print(f"{old}: a cache an older wavegen left in the data folder; wavegen never deletes there, "
                      "remove it by hand")


def _train(a: argparse.Namespace) -> None:
    from .training.loop import resume, train

    overrides = {f.name: parse_value(f.name, getattr(a, f.name)) for f in fields(Config)
                 if f.name not in NOT_FLAGS and getattr(a, f.name) is not None}
    if a.resume:
        if a.data or a.out:
            raise WavegenError("--resume takes the run folder only (its data and settings are in its config.json)")
        _doctor_line(resume(a.resume, **overrides))
        return
    if not a.data or not a.out:
        raise WavegenError("train needs a data folder and --out RUN (or --resume RUN)")
    a.preset = _device_preset(a.preset, overrides.get("device", "auto"))
    if a.init_from:
        from .training.init_from import finetune_config

        _doctor_line(train(finetune_config(a.init_from, a.data, a.out, a.preset, overrides)))
        return
    _doctor_line(train(make_config(a.preset or "post", data=a.data, out=a.out, **overrides)))


def _device_preset(name: str | None, device: str) -> str | None:
    """A preset with a recipe per device becomes the one for the device the run will train on, said on rank 0."""
    import os

    from .config import preset_for_device
    from .training.loop import pick_device

    if name is None:
        return None
    chosen, line = preset_for_device(name, pick_device(device).type == "cuda")
    if line and os.environ.get("RANK", "0") == "0":
        print(line, flush=True)
    return chosen


def _doctor_line(run) -> None:
    """The doctor's one line at the end of training, when it finds something (rank 0 only under torchrun)."""
    import os

    from .evaluation.doctor import doctor, one_line

    if os.environ.get("RANK", "0") != "0":
        return
    try:
        findings, _, _ = doctor(run, live=False)
    except (WavegenError, OSError, ValueError) as e:  # the doctor's opinion never fails a finished run
        print(f"doctor: could not diagnose {run} ({str(e)[:200]})")
        return
    line = one_line(findings)
    if line:
        print(line.replace("{run}", str(run)))


def _classifier_fit(a: argparse.Namespace) -> None:
    """`wavegen classifier fit DATA|RUN`: fit (or reuse) the judge and print its held-out accuracy."""
    from pathlib import Path

    from dataclasses import replace

    from .config import load_config
    from .evaluation.judge import JudgeSpec, fit

    if a.epochs is not None and not 1 <= a.epochs <= 10_000:
        raise WavegenError(f"--epochs must be between 1 and 10,000, got {a.epochs}")
    if (Path(a.data) / "config.json").exists():  # a run folder: its data, as the run sees it
        spec = JudgeSpec.of_config(load_config(Path(a.data) / "config.json"))
    else:
        spec = JudgeSpec(a.data)
    for key in ("length", "sample_rate", "normalise", "cache_dir", "window"):
        if getattr(a, key) is not None:
            setattr(spec, key, getattr(a, key))
    rule = {k: v for k, v in (("names", a.classes_from_names), ("table", a.labels), ("unlabelled", a.unlabelled))
            if v is not None}
    if rule:
        spec.rule = replace(spec.rule, **rule)
    if spec.rule.names and spec.rule.table:
        raise WavegenError("--classes-from-names and --labels both give the classes; give one")
    if spec.length < 0 or spec.sample_rate < 0:
        raise WavegenError("--length and --sample-rate must be 0 or more")
    if a.seed is not None and not 0 <= a.seed < 2**63:
        raise WavegenError(f"--seed must be between 0 and 2**63 - 1, got {a.seed}")
    judge = fit(spec, epochs=a.epochs, seed=a.seed, force=a.force)
    m = judge.meta
    print(f"held-out accuracy {m['accuracy']:.3f} on {m['held_out_windows']} windows of files it never trained on "
          f"({', '.join(f'{k} {v:.3f}' for k, v in m['per_class'].items())})")
    print(f"saved in {judge.path}" if judge.path else "not saved: the cache is turned off (--cache-dir none)")


def _gaussian(a: argparse.Namespace) -> None:
    from .data import GaussianSpec, make_gaussian

    spec = GaussianSpec(n=a.n, length=a.length, **{k: v for k, v in
                        {"sigma": a.sigma, "amplitude": a.amplitude, "noise": a.noise,
                         "sample_rate": a.sample_rate, "seed": a.seed}.items() if v is not None})
    out = make_gaussian(a.out, spec)
    print(f"wrote {spec.n} files of {spec.length} samples to {out}")


def _sounds(a: argparse.Namespace) -> None:
    from .data import make_sounds

    print(f"wrote {a.n} files of {a.seconds} s to {make_sounds(a.out, a.n, a.sample_rate, a.seconds, a.seed)}")


def _words(a: argparse.Namespace) -> None:
    from .data import make_words
    from .data.speech import NATO

    words = tuple(w.strip() for w in a.words.split(",")) if a.words is not None else NATO
    out = make_words(a.out, words, a.n, a.sample_rate, a.seconds, a.seed)
    print(f"wrote {a.n} files of {a.seconds} s ({len(words)} words) to {out}")


def _plot(a: argparse.Namespace) -> None:
    from .reports.plot import plot_run

    try:
        steps = [int(s) for s in a.steps.split(",")] if a.steps else None
    except ValueError:
        raise WavegenError(f"--steps wants batch numbers separated by commas, got {a.steps!r}") from None
    for path in plot_run(a.run, steps):
        print(f"wrote {path}")


def _generate(a: argparse.Namespace) -> None:
    from .sampling import generate

    if a.best and a.step is not None:
        raise WavegenError("--best and --step choose the checkpoint two ways; give one")
    files = generate(a.run, a.n, a.out, step=a.step, best=a.best, mode=a.mode, seed=a.seed, walk=a.interpolate,
                     klass=a.klass, per_class=a.per_class, to=a.to)
    print(f"wrote {len(files)} wav files to {a.out}")


def _export(a: argparse.Namespace) -> None:
    from .export import export

    if a.best and a.step is not None:
        raise WavegenError("--best and --step choose the checkpoint two ways; give one")
    print(f"wrote {export(a.run, a.out, a.format, step=a.step, best=a.best, mode=a.mode)}")


def _eval(a: argparse.Namespace) -> None:
    from .evaluation.metrics import METRICS

    if a.list:
        for name, m in sorted(METRICS.items()):
            print(f"{name:16s} {m.doc}")
        return
    if not a.run:
        raise WavegenError("eval needs a run folder")
    from .evaluation.scoring import evaluate_run, format_eval

    names = [m.strip() for m in a.metrics.split(",")] if a.metrics else None
    print(format_eval(evaluate_run(a.run, a.step, a.best, a.n, names, a.mode)))


def _report(a: argparse.Namespace) -> None:
    from .reports.report import write_report

    print(f"wrote {write_report(a.run, a.out)}")


def _analyse(a: argparse.Namespace) -> None:
    from .evaluation.analysis import analyse, describe

    print(describe(analyse(a.run, a.metric)))


def _doctor(a: argparse.Namespace) -> None:
    import json

    from .evaluation.doctor import describe, doctor, to_json

    findings, notes, written = doctor(a.run)
    if a.json:
        print(json.dumps(to_json(findings, notes), indent=2))
        return
    print(describe(findings, notes))
    print(f"wrote {a.run}/doctor.json" if written else f"{a.run} is being trained: doctor.json not written")


def _summary(a: argparse.Namespace) -> None:
    from .reports.summary import write_summary

    print(write_summary(a.run), end="")


def _sweep(a: argparse.Namespace) -> None:
    from .sweep import run_sweep

    run_sweep(a.spec, a.out, jobs=a.jobs, threads=a.threads, dry_run=a.dry_run, report_only=a.report_only)


def _config(a: argparse.Namespace) -> None:
    import json

    from .config import markdown

    if a.markdown:
        print(markdown())
    else:
        print(json.dumps(make_config(a.preset).to_dict(), indent=2))


COMMANDS = {"prepare": _prepare, "gaussian": _gaussian, "sounds": _sounds, "words": _words, "train": _train, "plot": _plot,
            "generate": _generate, "export": _export, "eval": _eval, "report": _report, "analyse": _analyse,
            "doctor": _doctor, "summary": _summary,
            "sweep": _sweep, "config": _config, "cache-list": _cache_list, "cache-clear": _cache_clear,
            "classifier-fit": _classifier_fit}


def main(argv: list[str] | None = None) -> int:
    from .console import Session

    with Session() as session:
        a = build_parser().parse_args(argv)
        code = _run(a, session)
    return session.status(code, work_kept=a.cmd == "train")


def _run(a: argparse.Namespace, session) -> int:
    """The command's exit status: 0, 2 with one line for an error, 130 when interrupted."""
    from .console import INTERRUPTED
    from .atomic import shown
    try:
        COMMANDS[a.kind if a.cmd == "data" else f"{a.cmd}-{a.kind}" if a.cmd in ("cache", "classifier") else a.cmd](a)
    except WavegenError as e:
        print(f"wavegen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wavegen: interrupted", file=sys.stderr)
        return INTERRUPTED
    except OSError as e:  # the system refused something no check foresaw (a disk, a permission): one line
        if session.interrupted:
            print("wavegen: interrupted", file=sys.stderr)
            return INTERRUPTED
        where = f"{shown(e.filename)}: " if e.filename else ""
        print(f"wavegen: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception:
        if session.interrupted:  # Ctrl-C inside a library that turned it into an error of its own
            print("wavegen: interrupted", file=sys.stderr)
            return INTERRUPTED
        raise
    return 0
