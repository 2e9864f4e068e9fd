"""Property-based fuzzing of every input a user controls (issue 13): audio files, run folders, checkpoints, sweep
specs and subcommand arguments. Each input is either accepted as it is or refused with a WavegenError naming the
file (through the CLI: exit status 2, `wavegen: error: ...`, no traceback), and a refusal writes nothing.

The profile (tests/conftest.py) sets the number of examples: "ci" by default, "deep" (HYPOTHESIS_PROFILE=deep,
`make fuzz`) twenty times more. CASES counts the cases each input path was tried on; the session prints it."""
from __future__ import annotations

import errno
import io
import json
import os
import pickle
import shutil
import struct
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings, strategies as st

from conftest import run_cli, tiny_config, write_wav
from wavegen import checkpoint, runfolder
from wavegen.config import load_config
from wavegen.data import load_folder, prepare
from wavegen.data.files import probe
from wavegen.errors import WavegenError

CASES: Counter = Counter()  # input path -> generated cases tried (printed by conftest at the end of the session)
N = settings.default.max_examples


def few(k: int):
    """A test whose every example costs more gets 1/k of the profile's examples."""
    return settings(max_examples=max(3, N // k))


# Audio files -----------------------------------------------------------------------------------------------------

X = (0.3 * np.sin(np.arange(100) / 5)).astype(np.float32)
KINDS = {"wav8": ("WAV", "PCM_U8"), "wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav32": ("WAV", "PCM_32"),
         "float": ("WAV", "FLOAT"), "double": ("WAV", "DOUBLE"), "wavex": ("WAVEX", "PCM_16"),
         "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}


def _encode(kind: str, x=X) -> bytes:
    fmt, subtype = KINDS[kind]
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


VALID = {k: _encode(k) for k in KINDS}
VALID["empty_wav"] = _encode("wav16", np.zeros(0, np.float32))  # a header and no frames
EXT = {k: ".flac" if k == "flac" else ".ogg" if k == "ogg" else ".wav" for k in VALID}


def _chunk(data: bytes, cid: bytes) -> int | None:
    """Offset of a RIFF chunk's header, or None."""
    pos = 12
    while pos + 8 <= len(data):
        if data[pos:pos + 4] == cid:
            return pos
        pos += 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]
    return None


def _put(data: bytes, at: int | None, fmt: str, value: int) -> bytes:
    if at is None or at + struct.calcsize(fmt) > len(data):
        return data
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt):]


def mutate(data: bytes, how: tuple) -> bytes:
    """One damage to a valid file: cut, bit flips, a lying size or an absurd fmt field."""
    op, a, b = how
    fmt = _chunk(data, b"fmt ")
    if op == "cut":
        return data[:a % (len(data) + 1)]
    if op == "flip":
        buf = bytearray(data)
        for i in a:
            buf[i % min(len(buf), 200)] ^= 1 << (b % 8)
        return bytes(buf)
    if op == "riff_size":
        return _put(data, 4, "<I", a)
    if op == "data_size":
        return _put(data, _chunk(data, b"data") and _chunk(data, b"data") + 4, "<I", a)
    offsets = {"channels": (2, "<H"), "rate": (4, "<I"), "byte_rate": (8, "<I"), "block_align": (12, "<H"),
               "bits": (14, "<H")}
    off, f = offsets[op]
    return _put(data, fmt and fmt + 8 + off, f, a & (0xFFFF if f == "<H" else 0xFFFFFFFF))


U32 = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 7, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000]))
DAMAGE = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("flip"), st.lists(st.integers(0, 199), min_size=1, max_size=4), st.integers(0, 7)),
    st.tuples(st.sampled_from(["riff_size", "data_size", "channels", "rate", "byte_rate", "block_align", "bits"]),
              U32, st.just(0)))
CONTENT = st.one_of(
    st.tuples(st.sampled_from(sorted(VALID)), DAMAGE).map(lambda t: (EXT[t[0]], mutate(VALID[t[0]], t[1]))),
    st.tuples(st.sampled_from([".wav", ".flac", ".ogg"]), st.binary(max_size=300)),
    st.tuples(st.sampled_from([".wav"]), st.binary(max_size=60).map(lambda b: b"RIFF\x24\0\0\0WAVEfmt " + b)))


def check_probe(path: Path) -> None:
    info, reason = probe(path)
    if reason is None:
        assert info is not None and info.frames > 0
    else:
        assert info is None and isinstance(reason, str) and "\n" not in reason and reason


@contextmanager
def folder_with(bad_name: str, content: bytes):
    """A data folder of three good 100-sample wavs plus one file of `content`, and a cache folder, in a temp dir."""
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        for i in range(3):
            write_wav(data / f"good{i}.wav", X * (i + 1), 16000)
        (data / bad_name).write_bytes(content)
        old = os.environ.get("WAVEGEN_CACHE_DIR")
        os.environ["WAVEGEN_CACHE_DIR"] = str(Path(d) / "cache")
        try:
            yield data
        finally:
            if old is None:
                os.environ.pop("WAVEGEN_CACHE_DIR", None)
            else:
                os.environ["WAVEGEN_CACHE_DIR"] = old


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def accepted_or_refused(call, path: Path, folder: Path):
    """Run `call`; a refusal must be a WavegenError naming `path` that left `folder` as it was."""
    before = snapshot(folder)
    try:
        return call()
    except WavegenError as e:
        assert path.name in str(e), str(e)
        assert snapshot(folder) == before
        return None


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_cut_of_the_first_200_bytes(kind, tmp_path):
    data = VALID[kind]
    for k in range(min(len(data), 201)):
        path = tmp_path / f"cut{k}{EXT[kind]}"
        path.write_bytes(data[:k])
        check_probe(path)
        CASES["audio: probe, every cut in the first 200 bytes"] += 1


@given(CONTENT)
def test_probe_never_crashes(case):
    ext, content = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x{ext}"
        path.write_bytes(content)
        check_probe(path)
    CASES["audio: probe"] += 1


READ_FOLDER = {"load_folder": lambda data: load_folder(data),
               "prepare": lambda data: prepare(data, formats=("wav", "flac", "ogg"))}


@pytest.mark.parametrize("reader", sorted(READ_FOLDER))
@few(3)
@given(CONTENT)
def test_folder_readers_accept_or_name_the_file(reader, case):
    ext, content = case
    with folder_with("bad" + ext, content) as data:
        got = accepted_or_refused(lambda: READ_FOLDER[reader](data), data / ("bad" + ext), data)
        if reader == "load_folder" and got is not None:  # accepted: used as it is, as long as its neighbours
            assert got.x.shape[-1] == 100 and torch.isfinite(got.x).all()
    CASES[f"audio: {reader}"] += 1


def test_wav_cut_in_its_fmt_chunk_is_one_line_through_train(tmp_path):
    """The issue's report: good wavs and one cut 30 bytes in stopped `wavegen train` with a struct.error."""
    data = tmp_path / "data"
    for i in range(4):
        write_wav(data / f"good{i}.wav", X * (i + 1), 16000)
    (data / "cut.wav").write_bytes(VALID["wav16"][:30])
    r = run_cli("train", data, "--out", tmp_path / "run", "--batches", 1)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("wavegen: error:") and "Traceback" not in r.stderr
    assert f"{data / 'cut.wav'}: truncated: file ends inside its fmt chunk" in r.stderr
    assert not (tmp_path / "run").exists()
    CASES["audio: wavegen train (CLI)"] += 1


# Run folders -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(gauss_data, tmp_path_factory):
    """A small finished run: config, stats, layers, two checkpoints."""
    from wavegen.training.loop import train

    out = tmp_path_factory.mktemp("fuzzrun") / "run"
    train(tiny_config(gauss_data, out, batches=40, ckpt_every=20, keep_ckpts=0))
    return out


@contextmanager
def copy_of(run: Path):
    with tempfile.TemporaryDirectory() as d:
        yield Path(shutil.copytree(run, Path(d) / "run"))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                    max_leaves=6)
WEIRD = st.one_of(JSON, st.sampled_from([float("nan"), float("inf"), -1, 0, 10**30, -10**30, 1e308, "ünïcode ☃", "", []]))


@st.composite
def configs(draw, run: Path):
    """config.json: the run's own with keys dropped, added and changed, or text that is not a config at all."""
    good = json.loads((run / "config.json").read_text())
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(JSON)).encode()
    d = dict(good)
    for key in draw(st.lists(st.sampled_from(sorted(good)), max_size=3)):
        if kind == 2:
            d.pop(key, None)
        else:
            d[key] = draw(WEIRD)
    if kind == 4:
        d[draw(st.text(min_size=1, max_size=8))] = draw(WEIRD)
    text = json.dumps(d)
    return text.encode() if draw(st.booleans()) else text[:draw(st.integers(0, len(text)))].encode()


@settings(max_examples=max(3, N // 2))
@given(st.data())
def test_config_json_loads_or_names_the_file(run, data):
    content = data.draw(configs(run))
    with copy_of(run) as r:
        (r / "config.json").write_bytes(content)
        accepted_or_refused(lambda: load_config(r / "config.json"), r / "config.json", r)
    CASES["run folder: config.json (load_config)"] += 1


@st.composite
def logs(draw, text: str):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return text.encode()[:draw(st.integers(0, len(text)))]  # torn anywhere
    if kind == 1:
        return draw(st.binary(max_size=300))
    lines = text.splitlines()
    at = draw(st.integers(0, len(lines)))
    bad = json.dumps(draw(JSON)) if kind == 2 else draw(st.text(max_size=40)).replace("\n", " ")
    return ("\n".join(lines[:at] + [bad] + lines[at:]) + "\n").encode()


def _readers():
    from wavegen.evaluation.analysis import analyse
    from wavegen.reports.plot import plot_run
    from wavegen.reports.report import write_report
    from wavegen.reports.summary import write_summary

    return {"analyse": analyse, "write_summary": write_summary, "plot_run": plot_run, "write_report": write_report}


READERS = {"analyse": 2, "write_summary": 2, "plot_run": 8, "write_report": 8}  # name -> 1/k of the examples


@pytest.mark.deep  # only in `make fuzz`: each example copies a run folder and redraws its figures
@pytest.mark.parametrize("name", ["stats.jsonl", "layers.jsonl"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_logs_read_or_name_the_file(run, name, reader):
    fn = _readers()[reader]

    @settings(max_examples=max(2, N // READERS[reader]))
    @given(st.data())
    def check(data):
        content = data.draw(logs((run / name).read_text()))
        with copy_of(run) as r:
            (r / name).write_bytes(content)
            before = snapshot(r)
            try:
                fn(r)
            except WavegenError as e:
                assert name in str(e), str(e)
                assert snapshot(r) == before  # a refused log writes no figure, summary or page
        CASES[f"run folder: {name} ({reader})"] += 1

    check()


def _wrong_shapes(state: dict) -> dict:
    G = {k: torch.zeros(*(s + 1 for s in v.shape)) if v.ndim else v for k, v in state["G"].items()}
    return {**state, "G": G}


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/wavegen-fuzz-pwned",))


CKPT = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=8)),
    st.tuples(st.sampled_from(["shapes", "evil", "not_dict", "no_G", "garbage", "empty"]), st.just(0)))


def damage_ckpt(path: Path, how: tuple) -> None:
    op, a = how
    raw = path.read_bytes()
    if op == "cut":
        path.write_bytes(raw[:int(a * len(raw))])
    elif op == "flip":
        buf = bytearray(raw)
        for f in a:
            buf[int(f * len(buf))] ^= 0x10
        path.write_bytes(bytes(buf))
    elif op == "shapes":
        torch.save(_wrong_shapes(torch.load(path, weights_only=True)), path)
    elif op == "evil":
        torch.save({"config": {}, "G": _Evil()}, path)
    elif op == "not_dict":
        torch.save([1, 2, 3], path)
    elif op == "no_G":
        torch.save({"config": {}}, path)
    elif op == "garbage":
        path.write_bytes(pickle.dumps("x") * 10)
    else:
        path.write_bytes(b"")


@pytest.mark.deep  # only in `make fuzz`: each example copies a run folder and redraws its figures
@settings(max_examples=max(3, N // 2))
@given(CKPT)
def test_checkpoint_loads_or_names_the_file(run, how):
    from wavegen.sampling import load_generator

    with copy_of(run) as r:
        newest = checkpoint.list_ckpts(r)[-1]
        damage_ckpt(newest, how)
        accepted_or_refused(lambda: load_generator(checkpoint.find(r)), newest, r)
        path, _ = checkpoint.load_latest_good(r)  # the older one is still there
        assert path.exists()
    assert not Path("/tmp/wavegen-fuzz-pwned").exists()
    CASES["run folder: checkpoint (find, load, load_generator)"] += 1


@pytest.mark.deep  # only in `make fuzz`: each example copies a run folder and redraws its figures
def test_cli_on_damaged_run_folders(run, tmp_path):
    """A few end-to-end cases: one line on stderr, exit status 2."""
    cases = [("config.json", b"{", ["summary"]), ("config.json", b'{"lr_g": "x"}', ["train", "--resume"]),
             ("config.json", b"[1, 2]", ["eval", "--n", "8"]), ("stats.jsonl", b"\x00garbage\n{}\n", ["analyse"]),
             ("checkpoints/ckpt_00000040.pt", b"PK\x03\x04 nope", ["generate", "--n", "2", "--step", "40", "--out"])]
    for i, (name, content, args) in enumerate(cases):
        r = shutil.copytree(run, tmp_path / f"r{i}")
        (r / name).write_bytes(content)
        argv = [args[0], r, *args[1:]] + ([tmp_path / f"w{i}"] if args[-1] == "--out" else [])
        if args[:2] == ["train", "--resume"]:
            argv = ["train", "--resume", r]
        p = run_cli(*argv)
        assert p.returncode == 2 and p.stderr.startswith("wavegen: error:"), (argv, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        CASES["run folder: through the CLI"] += 1


# Sweep specs and arguments ---------------------------------------------------------------------------------------

@st.composite
def specs(draw, data: Path):
    good = {"preset": "post", "data": str(data), "base": {"batches": 10}, "grid": {"lr_g": [1e-4, 2e-4]},
            "settings": [{"name": "a"}, {"name": "b", "ndf": 64}], "seeds": [0, 1]}
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=100))
    if kind == 1:
        return json.dumps(draw(JSON)).encode()
    d = dict(good)
    for key in draw(st.lists(st.sampled_from(sorted(good) + ["extra"]), min_size=1, max_size=3)):
        if kind == 2:
            d.pop(key, None)
        else:
            d[key] = draw(WEIRD)
    return json.dumps(d).encode()


@given(st.data())
def test_sweep_spec_expands_or_names_the_file(gauss_data, data):
    from wavegen.sweep import expand, load_spec

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "spec.json"
        path.write_bytes(data.draw(specs(gauss_data)))
        try:
            expand(load_spec(path), path)
        except WavegenError as e:
            assert str(path) in str(e), str(e)
    CASES["sweep spec (load_spec, expand)"] += 1


ARGS = st.sampled_from(["-1", "0", "abc", "1e99", str(10**30), "", "nan", "-0", "３"])


@pytest.mark.deep  # only in `make fuzz`: each example copies a run folder and redraws its figures
@few(2)
@given(st.sampled_from(["generate --n", "generate --step", "eval --n", "eval --step", "plot --steps",
                        "train --length", "train --batches", "train --batch-size", "train --lr-g"]), ARGS)
def test_bad_arguments_are_one_line(run, flag, value):
    from wavegen.cli import main

    cmd, opt = flag.split()
    with copy_of(run) as r, tempfile.TemporaryDirectory() as out:
        before = snapshot(r)
        argv = {"generate": ["generate", str(r), "--out", out], "eval": ["eval", str(r)], "plot": ["plot", str(r)],
                "train": ["train", str(r / "config.json"), "--out", str(Path(out) / "run")]}[cmd] + [opt, value]
        code = _main_quietly(main, argv)
        if code != 0:
            assert code == 2 and snapshot(r) == before
    CASES["subcommand arguments (cli.main)"] += 1


def _main_quietly(main, argv) -> int:
    """cli.main with stdout and stderr captured: a refusal is exit status 2 with one `wavegen: error:` line."""
    import contextlib

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own refusals (a value that is not a number)
            code = e.code
    if code:
        assert err.getvalue().startswith("wavegen: error:") and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
    return code


@pytest.mark.deep  # only in `make fuzz`: each example copies a run folder and redraws its figures
@pytest.mark.parametrize("argv", [["generate", "{file}", "--out", "{dir}"], ["eval", "{file}"], ["plot", "{file}"],
                                  ["train", "{dir}", "--out", "{file}"], ["train", "--resume", "{file}"],
                                  ["sweep", "{dir}", "--dry-run"], ["summary", "{missing}"], ["report", "{file}"]])
def test_files_where_folders_are_wanted(argv, tmp_path):
    from wavegen.cli import main

    f = tmp_path / "a_file"
    f.write_text("x")
    names = {"file": str(f), "dir": str(tmp_path), "missing": str(tmp_path / "nope")}
    assert _main_quietly(main, [a.format(**names) for a in argv]) == 2
    CASES["subcommand arguments: files for folders and back"] += 1


# A full disk -----------------------------------------------------------------------------------------------------

def test_full_disk_keeps_the_previous_checkpoint_and_resumes(gauss_data, tmp_path, monkeypatch):
    from wavegen.training import loop
    from wavegen.training.loop import resume, train

    out = tmp_path / "run"
    train(tiny_config(gauss_data, out, batches=20, ckpt_every=20))
    real = runfolder.atomic_write

    def full(path, write):
        if path.suffix == ".pt":  # checkpoint.save sees the full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(checkpoint.runfolder, "atomic_write", full)
    with pytest.raises(WavegenError, match="no space left") as e:
        resume(out, batches=40)
    assert "ckpt_00000040.pt" in str(e.value) and "\n" not in str(e.value)
    assert [p.name for p in checkpoint.list_ckpts(out)] == ["ckpt_00000020.pt"]
    checkpoint.load(checkpoint.find(out))
    monkeypatch.setattr(runfolder, "atomic_write", real)
    resume(out, batches=40)
    assert checkpoint.list_ckpts(out)[-1].name == "ckpt_00000040.pt"
    assert loop is not None
    CASES["full disk: checkpoint write"] += 1


def test_full_disk_in_the_stats_append_says_so(gauss_data, tmp_path, monkeypatch):
    import builtins

    from wavegen.training.loop import resume, train

    out = tmp_path / "run"
    train(tiny_config(gauss_data, out, batches=20, ckpt_every=20))
    real_open = builtins.open

    def full_open(file, mode="r", *a, **kw):
        if str(file).endswith("stats.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(WavegenError, match="no space left") as e:
        resume(out, batches=40)
    assert "stats.jsonl" in str(e.value)
    monkeypatch.setattr(builtins, "open", real_open)
    resume(out, batches=40)
    rows = runfolder.read_stats(out)
    assert max(r["step"] for r in rows) == 40
    CASES["full disk: stats append"] += 1
