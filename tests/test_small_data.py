"""Small data in every subcommand: folders of 1, 2 or 3 files, one file per class, a file of one sample, holdouts,
batches and evaluation sets larger than the data, runs of one batch and logs of 0 or 1 rows. Every case works or
ends in one `wavegen: error:` line with exit status 2: never a traceback, a warning or a hang.

Every command runs in this process through `wavegen.cli.main`; the runs the later commands read are trained once
per module.
"""
import json
import shutil

import numpy as np
import pytest

from conftest import write_wav
from wavegen.cli import main

TINY = ["--preset", "post", "--ngf", "16", "--ndf", "16", "--batch-size", "8"]


def cli(capsys, *args) -> tuple[int, str]:
    """(exit status, stdout) of `wavegen ARGS`; checks that stderr holds one error line or nothing."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out, err = capsys.readouterr()
    if code == 0:
        assert err == "", err  # no warning, no traceback
    else:
        assert code == 2 and err.startswith("wavegen: error: ") and err.count("\n") == 1, (code, err)
    return code, out + err


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Tiny data folders and the runs trained on them, by name."""
    root = tmp_path_factory.mktemp("small")
    for n in (1, 2, 3):
        assert main(["data", "gaussian", str(root / f"g{n}"), "--n", str(n)]) == 0
    assert main(["data", "sounds", str(root / "s4"), "--n", "4", "--seconds", "0.05"]) == 0  # one file per class
    assert main(["data", "sounds", str(root / "s1"), "--n", "1", "--seconds", "0.05"]) == 0
    write_wav(root / "one" / "a.wav", np.zeros(1, np.float32))  # a file of one sample
    rng = np.random.default_rng(0)
    for c in ("a", "b"):  # two classes of two files: the judge's least
        for i in range(2):
            write_wav(root / "two" / c / f"{i}.wav", 0.1 * rng.standard_normal(400).astype(np.float32), subtype="FLOAT")
    (root / "empty").mkdir()
    runs = {"t1": ["g1", "--batches", 3],  # one example, a batch of 8
            "h3": ["g3", "--batches", 4, "--holdout", 0.5, "--eval-every", 2, "--eval-n", 20],  # eval_n > data
            "b1": ["g3", "--batches", 1, "--stats-every", 5]}  # one batch: one stats row, one checkpoint
    for name, (data, *args) in runs.items():
        assert main(["train", str(root / data), "--out", str(root / name), *map(str, args), *TINY]) == 0
    for rows in (0, 1):  # a run whose stats.jsonl holds no row, and one row
        run = shutil.copytree(root / "t1", root / f"rows{rows}")
        lines = (run / "stats.jsonl").read_text().splitlines(True)
        (run / "stats.jsonl").write_text("".join(lines[:rows]))
    return root


TRAIN = [  # (data, flags, exit status, words of the error)
    ("g2", ["--batches", 2], 0, ""),
    ("g3", ["--batches", 2, "--holdout", 0.5], 0, ""),
    ("g3", ["--batches", 2, "--holdout", 0.9], 2, "0 training examples are fewer than one batch of 8"),
    ("g2", ["--batches", 2, "--holdout", 0.5, "--eval-every", 1, "--eval-n", 20], 0, ""),
    ("g3", ["--batches", 2, "--batch-size", 64], 0, ""),
    ("g1", ["--epochs", 1], 0, ""),
    ("g3", ["--batches", 0], 0, ""),
    ("g3", ["--batches", 2, "--stats-every", 100, "--ckpt-every", 100, "--preview-every", 100], 0, ""),
    ("g3", ["--batches", 1, "--stats-every", 1, "--layer-every", 1], 0, ""),
    ("one", ["--batches", 2], 2, "too short"),
    ("one", ["--batches", 2, "--length", 16], 0, ""),  # padded to 16: one example, one sample of it real
    ("s4", ["--batches", 2, "--length", 256, "--batch-size", 2, "--conditional", "true"], 0, ""),
    ("two", ["--batches", 2, "--length", 256, "--conditional", "true"], 0, "fewer than a batch of 8"),
    ("empty", ["--batches", 2], 2, "no audio files"),
]


@pytest.mark.parametrize("data, flags, code, words", TRAIN, ids=[f"{d}-{i}" for i, (d, *_) in enumerate(TRAIN)])
def test_train_on_small_data(small, tmp_path, capsys, data, flags, code, words):
    got, text = cli(capsys, "train", small / data, "--out", tmp_path / "run", *TINY, *flags)
    assert got == code and words in text, text


def test_init_from_and_resume_a_run_of_one_batch_or_no_stats(small, tmp_path, capsys):
    assert cli(capsys, "train", small / "g3", "--out", tmp_path / "f", "--batches", 2, "--init-from", small / "b1",
               *TINY)[0] == 0
    for rows in (0, 1):
        run = shutil.copytree(small / f"rows{rows}", tmp_path / f"rows{rows}")
        assert cli(capsys, "train", "--resume", run, "--batches", 5)[0] == 0


READERS = [  # (run, command and flags, exit status, words)
    ("t1", ["eval", "--n", 1], 2, "--n must be between 20"),
    ("t1", ["eval", "--n", 20], 0, ""),
    ("h3", ["eval", "--n", 20], 0, ""),
    ("t1", ["report"], 0, ""),
    ("rows1", ["plot"], 0, ""),
    ("rows0", ["plot"], 2, "no training statistics"),
    ("b1", ["export", "--format", "torchscript", "--out", "{tmp}/g.pt"], 0, ""),
    ("t1", ["generate", "--n", 0, "--out", "{tmp}/g"], 2, "--n must be between 1"),
    ("t1", ["generate", "--n", 1, "--out", "{tmp}/g"], 0, ""),
    ("b1", ["generate", "--n", 1, "--interpolate", "--out", "{tmp}/g"], 0, ""),
    *((run, [cmd], 0, "") for run in ("t1", "h3", "b1", "rows1") for cmd in ("analyse", "summary", "doctor")),
    ("rows0", ["summary"], 2, "no training statistics"),
    ("rows0", ["analyse"], 0, ""),
    ("rows0", ["doctor"], 0, ""),
]


@pytest.mark.parametrize("run, args, code, words", READERS, ids=[f"{r}-{a[0]}-{i}" for i, (r, a, *_) in enumerate(READERS)])
def test_every_reader_of_a_small_run(small, tmp_path, capsys, run, args, code, words):
    src = small / run
    if args[0] in ("report", "analyse", "summary", "doctor"):  # these write into the run: a copy of it each
        src = shutil.copytree(src, tmp_path / run)
    cmd, *flags = args
    got, text = cli(capsys, cmd, src, *(str(f).replace("{tmp}", str(tmp_path)) for f in flags))
    assert got == code and words in text, text


def test_the_doctor_says_what_it_could_not_compare(small, tmp_path, capsys):
    run = shutil.copytree(small / "t1", tmp_path / "t1")
    text = cli(capsys, "doctor", run)[1]
    assert "1 training examples (fewer than 100)" in text
    assert "too few to compare G's samples with" in text


DATA = [  # (arguments, exit status, words)
    (["data", "gaussian", "{tmp}/d", "--n", 0], 2, "gaussian data needs n"),
    (["data", "gaussian", "{tmp}/d", "--n", 1], 0, ""),
    (["data", "sounds", "{tmp}/d", "--n", 1, "--seconds", 0.01], 0, ""),
    (["data", "prepare", "{small}/one", "--out", "{tmp}/p"], 0, ""),
    (["data", "prepare", "{small}/empty", "--out", "{tmp}/p"], 2, "no audio files"),
    (["classifier", "fit", "{small}/s4", "--epochs", 1, "--cache-dir", "{tmp}/c"], 2, "has 1 file(s)"),
    (["classifier", "fit", "{small}/s1", "--epochs", 1, "--cache-dir", "{tmp}/c"], 2, "one class"),
    (["classifier", "fit", "{small}/g2", "--epochs", 1, "--cache-dir", "{tmp}/c"], 2, "no class sub-folders"),
    (["classifier", "fit", "{small}/two", "--epochs", 1, "--cache-dir", "{tmp}/c"], 0, "held-out accuracy"),
    (["classifier", "fit", "{small}/two", "--epochs", 1, "--length", 16, "--cache-dir", "{tmp}/c"], 0, "held-out"),
]


@pytest.mark.parametrize("args, code, words", DATA, ids=[f"{a[1]}-{i}" for i, (a, *_) in enumerate(DATA)])
def test_data_and_the_judge_on_small_data(small, tmp_path, capsys, args, code, words):
    got, text = cli(capsys, *(str(a).replace("{tmp}", str(tmp_path)).replace("{small}", str(small)) for a in args))
    assert got == code and words in text, text


def test_a_sweep_of_one_run(small, tmp_path, capsys):
    """The sweep's own command for its one run is run here in this process (a sweep starts each run in a process
    of its own: tests/test_sweep.py); the sweep then finds it done and tabulates one run."""
    from wavegen.sweep import expand, load_spec, open_out, train_command

    spec_path, out = tmp_path / "one.json", tmp_path / "sweep"
    spec_path.write_text(json.dumps({"preset": "post", "data": str(small / "g3"), "seeds": [0],
                                     "base": {"batches": 2, "ngf": 16, "ndf": 16, "batch_size": 8}}))
    assert cli(capsys, "sweep", spec_path, "--out", out, "--dry-run")[0] == 0
    spec = load_spec(spec_path)
    run, = expand(spec, spec_path)
    open_out(out, spec, [run], spec_path)  # what the sweep writes before it starts its runs
    assert cli(capsys, *train_command(spec, run, out, resume=False)[3:])[0] == 0
    code, text = cli(capsys, "sweep", spec_path, "--out", out)
    assert code == 0 and "1 done" in text and (out / "table.md").exists(), text
