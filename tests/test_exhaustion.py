"""Running out: a full disk anywhere gives one line naming the file and leaves nothing torn; hostile data folders
(links that loop, FIFOs, sockets, devices, names that are not UTF-8 or hold control characters) give one line or
train, and never hang.

A full disk is injected where a file is written (its writes fail with ENOSPC after a few bytes, as a real one
does), and, when the suite runs as root, met for real on a small tmpfs.
"""
import builtins
import errno
import os
import shutil
import socket
import subprocess

import numpy as np
import pytest

from conftest import tiny_config, write_wav
from wavegen import checkpoint
from wavegen.errors import WavegenError
from wavegen.runfolder import read_jsonl
from wavegen.training.loop import resume, train

SMALL = dict(ngf=16, ndf=16, batch_size=10, ckpt_every=5, preview_every=5, stats_every=1)


class Filling:
    """A file whose writes fail with ENOSPC once `room` bytes are written."""

    def __init__(self, f, room: int):
        self._f, self.room = f, room

    def write(self, data):
        n = len(data)
        if n > self.room:
            self._f.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def full_disk(monkeypatch, name: str, room: int = 100):
    """Writes to files whose name holds `name` fail after `room` bytes."""
    real = builtins.open

    def opener(file, mode="r", *a, **kw):
        f = real(file, mode, *a, **kw)
        return Filling(f, room) if name in os.path.basename(str(file)) and ("w" in mode or "a" in mode) else f

    monkeypatch.setattr(builtins, "open", opener)


def nothing_torn(run):
    """Every checkpoint loads, every log line parses, no temporary file is left."""
    for p in checkpoint.list_ckpts(run):
        checkpoint.load(p)
    for log in ("stats.jsonl", "layers.jsonl"):
        if (run / log).exists():
            text = (run / log).read_text()
            assert text.endswith("\n") and len(read_jsonl(run / log)) == text.count("\n")
    assert not [p for p in run.rglob(".*.tmp")]


@pytest.fixture(scope="module")
def run5(gauss_data, tmp_path_factory):
    return train(tiny_config(gauss_data, tmp_path_factory.mktemp("r") / "run", batches=5, layer_every=2, **SMALL))


@pytest.mark.parametrize("name", ["ckpt_00000010.pt", "step_00000010.npy", "stats.jsonl", "layers.jsonl"])
def test_a_full_disk_in_training_is_one_line_and_tears_nothing(run5, tmp_path, monkeypatch, name):
    run = shutil.copytree(run5, tmp_path / "run")
    full_disk(monkeypatch, name)
    with pytest.raises(WavegenError) as e:
        resume(run, batches=10)
    assert "no space left on device" in str(e.value) and name in str(e.value) and "\n" not in str(e.value)
    nothing_torn(run)
    monkeypatch.undo()
    resume(run, batches=10)  # with space again, the run goes on from its last checkpoint
    nothing_torn(run)
    assert [r["step"] for _, r in read_jsonl(run / "stats.jsonl") if "loss/G" in r] == list(range(1, 11))


def test_a_full_disk_in_generate_and_reports(run5, tmp_path, monkeypatch):
    from wavegen.cli import main

    out = tmp_path / "gen"
    full_disk(monkeypatch, "sample_0001.wav")
    with pytest.raises(WavegenError, match="sample_0001.wav: no space left on device"):
        from wavegen.sampling import generate
        generate(run5, 3, out)
    assert sorted(p.name for p in out.iterdir()) == [".wavegen.lock", "sample_0000.wav"]  # whole or absent
    for name, cmd in (("summary.md", "summary"), ("analysis.json", "analyse")):
        run = shutil.copytree(run5, tmp_path / cmd)
        monkeypatch.undo()
        full_disk(monkeypatch, name)
        assert main([cmd, str(run)]) == 2
        assert not (run / name).exists() and not list(run.rglob(f".{name}.*"))


def test_a_judge_fit_killed_between_its_files_is_fitted_again(tmp_path, monkeypatch):
    from wavegen.evaluation import judge as J

    rng = np.random.default_rng(0)
    for c, f0 in (("low", 200.0), ("high", 2000.0)):
        for i in range(4):
            t = np.arange(1600) / 8000
            write_wav(tmp_path / "d" / c / f"{i}.wav", (np.sin(2 * np.pi * f0 * t) + 0.1 * rng.standard_normal(1600)) * 0.5,
                      8000, subtype="FLOAT")
    spec = J.JudgeSpec(str(tmp_path / "d"), cache_dir=str(tmp_path / "cache"))
    first = J.fit(spec, epochs=1, say=lambda s: None)
    old_json = (first.path / "judge.json").read_bytes()
    assert J.load(first.path) is not None
    J.fit(spec, epochs=2, seed=1, force=True, say=lambda s: None)
    (first.path / "judge.json").write_bytes(old_json)  # a refit killed after its weights, before its judge.json
    assert J.load(first.path) is None  # that json does not describe these weights: fitted again, not trusted
    full_disk(monkeypatch, "judge.json")
    judge = J.fit(spec, epochs=1, say=lambda s: None, force=True)  # a full cache costs a refit later, not this run
    assert judge.meta["epochs"] == 1


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="a real full disk needs root to mount a tmpfs")
def test_a_real_full_disk_on_a_tmpfs(run5, tmp_path):
    """Root only: the run on a tmpfs with no room for its next checkpoint (the injected tests cover the same
    code paths everywhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mount is not permitted here")
    try:
        run = shutil.copytree(run5, mnt / "run")
        ckpt = checkpoint.list_ckpts(run)[-1].stat().st_size
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(0, free - ckpt // 2))
        with pytest.raises(WavegenError, match="no space left on device") as e:
            resume(run, batches=10)
        assert "\n" not in str(e.value)
        nothing_torn(run)
        (mnt / "filler").unlink()
        resume(run, batches=10)
        nothing_torn(run)
        assert checkpoint.load(checkpoint.find(run))["step"] == 10
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def hostile_folder(root, gauss_data):
    """Two classes of good wavs, plus every kind of trap, each with an audio name."""
    d = root / "hostile"
    for c, names in (("a", ["0.wav", "1.wav", b"\xffnot-utf8.wav"]), ("b", ["0.wav", "1.wav", "ctl\n\x1bname.wav"])):
        (d / c).mkdir(parents=True)
        for i, name in enumerate(names):
            target = os.path.join(os.fsencode(d / c), name if isinstance(name, bytes) else name.encode())
            shutil.copy(gauss_data / sorted(os.listdir(gauss_data))[i], target.decode("utf-8", "surrogateescape"))
    os.symlink("..", d / "a" / "loop")  # a folder that contains itself
    os.symlink("self.wav", d / "self.wav")  # a link to itself
    os.mkfifo(d / "a" / "fifo.wav")
    os.symlink(d / "a" / "fifo.wav", d / "b" / "to_fifo.wav")
    os.symlink("/dev/zero", d / "b" / "device.wav")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "b" / "socket.wav"))
    return d


def test_a_hostile_data_folder_is_one_line_or_trains(gauss_data, tmp_path, capsys):
    """In this process, whose captured stdout and stderr are strict UTF-8: a name that is not UTF-8 printed as it is
    would raise there (under LC_ALL=C Python's UTF-8 mode writes such names with surrogateescape, so strict is the
    harder case)."""
    from wavegen.cli import main

    d = hostile_folder(tmp_path, gauss_data)
    train = ["train", str(d), "--out", str(tmp_path / "r"), "--batches", "1", "--ngf", "16", "--ndf", "16", "--batch-size", "2"]
    codes = [main(a) for a in (train, [*train, "--skip-bad", "true"], ["data", "prepare", str(d), "--skip-bad"],
                               ["classifier", "fit", str(d), "--epochs", "1", "--length", "100"])]
    out, err = capsys.readouterr()
    assert codes == [2, 0, 0, 2] and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("wavegen: error:")]
    assert len(errors) == 2 and all("fifo.wav: cannot read: a FIFO, not a file" in e for e in errors), err
    for kind in ("a character device", "a socket", "a FIFO"):
        assert f"cannot read: {kind}, not a file" in out + err
    assert "ctl\\n\\x1bname.wav" not in err  # a good file: trained on, never named
    data = checkpoint.load(checkpoint.find(tmp_path / "r"))["data"]
    assert data["n"] + data["held_out"] == 6


@pytest.mark.parametrize("kind, name", [("gaussian", "3.wav"), ("sounds", "snare/1.wav"), ("words", "bravo/1.wav"),
                                        ("gaussian", "wavegen_data.json")])
def test_a_full_disk_in_the_data_makers_is_one_line_and_leaves_no_data_set(tmp_path, monkeypatch, capsys, kind, name):
    from wavegen.cli import main
    from wavegen.data import speech

    # the words' synthesiser is an outside tool (tests/test_words.py runs it): its clips are stood in for here,
    # the writing is wavegen's own
    monkeypatch.setattr(speech, "espeak", lambda: "espeak-ng")
    monkeypatch.setattr(speech, "speak", lambda words, sr, length, seed: np.zeros((len(words), length), np.float32))
    out, room = tmp_path / "made", builtins.open
    args = ["data", kind, str(out), "--n", "4"] + (["--seconds", "0.01"] if kind != "gaussian" else [])
    full_disk(monkeypatch, os.path.basename(name))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"wavegen: error: {out / name}: no space left on device; nothing was written, free space and run it again\n"
    assert os.listdir(tmp_path) == []  # no partial data set, no temporary folder
    monkeypatch.setattr(builtins, "open", room)  # space again
    assert main(args) == 0 and (out / name).is_file()
