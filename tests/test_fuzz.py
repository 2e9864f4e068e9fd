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
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import assume, example, given, settings, strategies as st

from conftest import run_cli, tiny_config, write_wav
from wavegen import atomic, checkpoint, runfolder
from wavegen.config import load_config
from wavegen.data import load_folder, prepare
from wavegen.data.files import probe
from wavegen.errors import WavegenError

CASES: Counter = Counter()  # input path -> generated cases tried (printed by conftest at the end of the session)
N = settings.default.max_examples


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The models trained here are tiny: one thread costs them little, and spares them OpenMP threads spinning
    against other processes for the cores, which made the same trainings ten times slower on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def few(k: int):
    """A test whose every example costs more gets 1/k of the profile's examples."""
    return settings(max_examples=max(3, N // k))


# Audio files -----------------------------------------------------------------------------------------------------

X = (0.3 * np.sin(np.arange(100) / 5)).astype(np.float32)
KINDS = {"wav8": ("WAV", "PCM_U8"), "wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav32": ("WAV", "PCM_32"),
         "float": ("WAV", "FLOAT"), "double": ("WAV", "DOUBLE"), "wavex": ("WAVEX", "PCM_16"),
         "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def _encode(kind: str, x=X) -> bytes:
    fmt, subtype = KINDS[kind]
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


VALID = {k: _encode(k) for k in KINDS}
VALID["empty_wav"] = _encode("wav16", np.zeros(0, np.float32))  # a header and no frames
EXT = {k: f".{k}" if k in ("flac", "ogg", "mp3") else ".wav" for k in VALID}
FORMATS = ("wav", "flac", "ogg", "mp3")


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
    st.tuples(st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]), st.binary(max_size=300)),
    st.tuples(st.sampled_from([".wav"]), st.binary(max_size=60).map(lambda b: b"RIFF\x24\0\0\0WAVEfmt " + b)))


def _flac_claiming(data: bytes, total: int) -> bytes:
    """A flac whose STREAMINFO claims `total` frames (its 36 low bits at bytes 18-25)."""
    field = int.from_bytes(data[18:26], "big")
    return data[:18] + ((field & ~(2**36 - 1)) | total).to_bytes(8, "big") + data[26:]


# Inputs that once ended in a traceback, tried by every run of the audio properties:
# a wav cut inside its fmt chunk (struct.error in the header check); a wav claiming 2**31 - 1 Hz (resampling built a
# 320 GiB filter); a flac claiming 2**36 - 1 frames (sized a 256 GiB buffer); a flac of unknown length (2**63 - 1).
AUDIO_REGRESSIONS = [(".wav", VALID["wav16"][:30]), (".wav", mutate(VALID["wav16"], ("rate", 2**31 - 1, 0))),
                     (".flac", _flac_claiming(VALID["flac"], 2**36 - 1)), (".flac", _flac_claiming(VALID["flac"], 0))]


def regressions(cases: list, single: bool = True):
    """An @example for each of `cases`: the one argument of the property, or (single=False) a tuple of them."""
    def apply(test):
        for case in reversed(cases):
            test = example(case)(test) if single else example(*case)(test)
        return test
    return apply


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


@pytest.mark.parametrize("kind", sorted(set(VALID) - {"empty_wav"}))
def test_valid_files_are_used_as_they_are(kind, tmp_path):
    """The other half of every property: an undamaged file of each kind is accepted, with its samples."""
    x = np.sin(np.arange(4000) / 7).astype(np.float32) * 0.5  # compresses well: a FLAC of it is ~4 frames a byte
    path = tmp_path / f"a{EXT[kind]}"
    path.write_bytes(_encode(kind, x))
    info, reason = probe(path)
    assert reason is None and info.frames == 4000
    with folder_with(path.name, path.read_bytes()) as data:
        (data / path.name).write_bytes(_encode(kind, X))  # the neighbours' length, for load_folder
        assert load_folder(data, formats=FORMATS).x.shape == (4, 1, 100)
        assert prepare(data, formats=FORMATS).is_dir()
    CASES["audio: valid files, probe and both folder readers"] += 1


@regressions(AUDIO_REGRESSIONS)
@given(CONTENT)
def test_probe_never_crashes(case):
    ext, content = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x{ext}"
        path.write_bytes(content)
        check_probe(path)
    CASES["audio: probe"] += 1


def _windows(data: Path):
    """prepare resampling to 8 kHz, then cut windows and read them: the path `wavegen train` takes with audio."""
    from wavegen.data.windows import open_windows

    w = open_windows(data, length=32, sample_rate=8000, formats=FORMATS)
    assert w.get(np.arange(w.n)).isfinite().all()
    return w


READ_FOLDER = {"load_folder": lambda data: load_folder(data, formats=FORMATS),
               "prepare": lambda data: prepare(data, formats=FORMATS),
               "prepare, resampled, windows": _windows}


@pytest.mark.parametrize("reader", sorted(READ_FOLDER))
@few(3)
@regressions(AUDIO_REGRESSIONS)
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
    """A small finished run, built once for the module: config, stats with scores, layers, two checkpoints, two
    previews. Every example damages one file of it and puts the folder back as it was (`damaged`)."""
    from wavegen.training.loop import train

    out = tmp_path_factory.mktemp("fuzzrun") / "run"
    train(tiny_config(gauss_data, out, batches=20, ckpt_every=10, keep_ckpts=0, preview_every=20, layer_every=5,
                      eval_every=10, eval_n=20))
    return out


@contextmanager
def restored(run: Path):
    """Afterwards every file of `run` is as it was before and whatever the body wrote is gone, so that one run
    folder serves every example and no example sees another's figures or analysis.json."""
    before = snapshot(run)
    try:
        yield
    finally:
        for p in sorted(run.rglob("*"), reverse=True):  # files before the folders that hold them
            rel = str(p.relative_to(run))
            if p.is_file() and rel not in before:
                p.unlink()
            elif p.is_dir() and not any(k.startswith(rel + os.sep) for k in before):
                shutil.rmtree(p)
        for rel, data in before.items():
            p = run / rel
            if not p.is_file() or p.read_bytes() != data:
                p.write_bytes(data)


@contextmanager
def damaged(run: Path, name: str, content: bytes | None = None):
    """`run` with its file `name` replaced by `content` (or left for the caller to damage) for the body of the
    with, and restored afterwards."""
    with restored(run):
        path = run / name
        if content is not None:
            path.write_bytes(content)
        yield path


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


@few(2)
@given(st.data())
def test_config_json_loads_or_names_the_file(run, data):
    with damaged(run, "config.json", data.draw(configs(run))) as path:
        accepted_or_refused(lambda: load_config(path), path, run)
    CASES["run folder: config.json (load_config)"] += 1


@st.composite
def logs(draw, text: str):
    """A log torn anywhere, random bytes, a line of JSON or text put between its rows, or one row with a field
    of the wrong type (the readers index rows by their keys)."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return text.encode()[:draw(st.integers(0, len(text)))]
    if kind == 1:
        return draw(st.binary(max_size=300))
    lines = text.splitlines()
    at = draw(st.integers(0, len(lines) - 1))
    if kind == 4:
        row = json.loads(lines[at])
        row[draw(st.sampled_from(sorted(row)))] = draw(WEIRD)
        return ("\n".join(lines[:at] + [json.dumps(row)] + lines[at + 1:]) + "\n").encode()
    bad = json.dumps(draw(JSON)) if kind == 2 else draw(st.text(max_size=40)).replace("\n", " ")
    return ("\n".join(lines[:at] + [bad] + lines[at:]) + "\n").encode()


def log_regressions(text: str) -> list[bytes]:
    """Logs that once ended in a traceback or left a file behind, tried by every run of the log property: an empty
    log (plot_run wrote analysis.json before refusing it); a row with a string, a list or a score of 10**30 (numpy
    made arrays of objects of them); a row without one of the keys of its kind."""
    lines = text.splitlines()

    def changed(i: int, key_of, value) -> bytes:
        row = json.loads(lines[i])
        key = key_of(row)
        if value is None:
            del row[key]
        else:
            row[key] = value
        return ("\n".join(lines[:i] + [json.dumps(row)] + lines[i + 1:]) + "\n").encode()

    last = lambda row: list(row)[-1]  # a score, a timing, a batch's last stat or a layer
    scored = next((i for i, line in enumerate(lines) if "eval/" in line), 0)
    return [b"", changed(0, last, "abc"), changed(0, last, [1, 2]), changed(scored, last, 10**30),
            changed(len(lines) - 1, last, None)]


def _readers():
    from wavegen.evaluation.analysis import analyse
    from wavegen.reports.plot import plot_run
    from wavegen.reports.report import write_report
    from wavegen.reports.summary import write_summary

    return {"analyse": analyse, "write_summary": write_summary, "plot_run": plot_run, "write_report": write_report}


READERS = {"analyse": 2, "write_summary": 2, "plot_run": 12, "write_report": 12}  # name -> 1/k of the examples


# plot_run alone reads layers.jsonl
@pytest.mark.parametrize("name, reader", [("stats.jsonl", r) for r in sorted(READERS)] + [("layers.jsonl", "plot_run")])
def test_logs_read_or_name_the_file(run, name, reader):
    fn = _readers()[reader]
    text = (run / name).read_text()

    @settings(max_examples=max(2, N // READERS[reader]))
    @regressions(log_regressions(text))
    @given(logs(text))
    def check(content):
        with damaged(run, name, content) as path:
            accepted_or_refused(lambda: fn(run), path, run)  # a refused log writes no figure, summary or page
        CASES[f"run folder: {name} ({reader})"] += 1

    check()


def _wrong_shapes(state: dict) -> dict:
    G = {k: torch.zeros(*(s + 1 for s in v.shape)) if v.ndim else v for k, v in state["G"].items()}
    return {**state, "G": G}


PWNED = Path(tempfile.gettempdir()) / "wavegen-fuzz-pwned"


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


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


@few(2)
@example(("shapes", 0))  # load_state_dict's RuntimeError
@given(CKPT)
def test_checkpoint_loads_or_names_the_file(run, how):
    from wavegen.sampling import load_generator

    newest = checkpoint.list_ckpts(run)[-1]
    with damaged(run, str(newest.relative_to(run))) as path:
        damage_ckpt(path, how)
        accepted_or_refused(lambda: load_generator(checkpoint.find(run)), path, run)
        older, _ = checkpoint.load_latest_good(run)  # the older one still loads
        assert older.exists()
    assert not PWNED.exists()
    CASES["run folder: checkpoint (find, load, load_generator)"] += 1


def _main_quietly(argv) -> int:
    """cli.main in this process, stdout and stderr captured: a refusal is exit status 2 with one
    `wavegen: error:` line (a traceback would fail the test where it is raised)."""
    from wavegen.cli import main

    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's own refusals (a value that is not a number)
            code = e.code
    if code:
        assert code == 2, (argv, code, err.getvalue())
        assert err.getvalue().startswith("wavegen: error:") and len(err.getvalue().strip().splitlines()) == 1, \
            (argv, err.getvalue())
    return code


# eval and generate read the checkpoint's own config, not config.json: their cases damage the checkpoint
CLI_CASES = [("config.json", b"{", ["summary"]), ("config.json", b'{"lr_g": "x"}', ["train", "--resume"]),
             ("config.json", b"[1, 2]", ["plot"]), ("config.json", b"\xff\xfe", ["report"]),
             ("config.json", b'{"best_metric": 7}', ["analyse"]),
             ("data.json", b"{", ["report"]), ("stats.jsonl", b"\x00garbage\n{}\n", ["analyse"]),
             ("layers.jsonl", b'{"step": 5}\nnot json\n', ["plot"]),
             ("checkpoints/ckpt_00000020.pt", b"PK\x03\x04 nope", ["generate", "--n", "2", "--step", "20", "--out"]),
             ("checkpoints/ckpt_00000020.pt", b"", ["eval", "--step", "20", "--n", "20"])]


@pytest.mark.parametrize("name, content, args", CLI_CASES)
def test_cli_on_damaged_run_folders(run, tmp_path, name, content, args):
    """A few cases through the command: one line on stderr, exit status 2, nothing written."""
    argv = ["train", "--resume", run] if args[:2] == ["train", "--resume"] else [args[0], run, *args[1:]]
    argv += [tmp_path / "out"] if args[-1] == "--out" else []
    with damaged(run, name, content):
        before = snapshot(run)
        assert _main_quietly(argv) == 2
        assert snapshot(run) == before and not (tmp_path / "out").exists()
    CASES["run folder: through the CLI (cli.main)"] += 1


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


ARGS = st.sampled_from(["-1", "0", "abc", "1e99", str(10**30), "", "nan", "-0", "３", "1"])
FLAGS = ["generate --n", "generate --step", "generate --seed", "eval --n", "eval --step", "plot --steps",
         "train --length", "train --batches", "train --batch-size", "train --lr-g", "train --hop", "train --eval-n",
         "data-prepare --sample-rate", "data-gaussian --n", "data-gaussian --length"]


# Values that once ended in a traceback, a hang or a file left behind, tried by every run of the property.
ARG_REGRESSIONS = [("plot --steps", "-1"), ("generate --seed", str(10**30)), ("generate --n", str(10**30)),
                   ("eval --n", str(10**30)), ("train --length", str(10**30)), ("data-prepare --sample-rate", str(10**30)),
                   ("data-gaussian --length", str(10**30)), ("data-gaussian --n", str(10**30))]


@few(2)
@regressions(ARG_REGRESSIONS, single=False)
@given(st.sampled_from(FLAGS), ARGS)
def test_bad_arguments_are_one_line(run, gauss_data, monkeypatch, flag, value):
    """Each value is accepted (exit status 0) or refused in one line with exit status 2, writing nothing."""
    from wavegen.training.loop import Trainer

    assume(not (flag == "train --batch-size" and value == str(10**30)))  # test_enormous_sizes_are_one_line

    # Every check of a train argument is done by the time the Trainer is built; stopping there keeps an accepted
    # `--batches 1000000000000000000000000000000` from training for ever.
    monkeypatch.setattr(Trainer, "run", lambda self: self.run_dir)
    cmd, opt = flag.split()
    with restored(run), tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out"
        argv = {"generate": ["generate", run, "--out", out], "eval": ["eval", run], "plot": ["plot", run],
                "train": ["train", gauss_data, "--out", out, "--batches", "1", "--ngf", "32", "--ndf", "32"],
                "data-prepare": ["data", "prepare", gauss_data, "--out", out],
                "data-gaussian": ["data", "gaussian", out, "--n", "3"]}[cmd] + [opt, value]
        before = snapshot(run)
        if _main_quietly(argv) != 0:
            assert snapshot(run) == before and not out.exists()
    CASES["subcommand arguments (cli.main)"] += 1


@pytest.mark.parametrize("flag", ["--ngf", "--ndf", "--nz", "--batch-size"])
def test_enormous_sizes_are_one_line(gauss_data, tmp_path, monkeypatch, flag):
    from wavegen.training.loop import Trainer

    monkeypatch.setattr(Trainer, "run", lambda self: self.run_dir)
    assert _main_quietly(["train", gauss_data, "--out", tmp_path / "run", flag, str(10**30)]) == 2
    CASES["subcommand arguments (cli.main)"] += 1


@pytest.mark.parametrize("argv", [["generate", "{file}", "--out", "{dir}"], ["eval", "{file}"], ["plot", "{file}"],
                                  ["train", "{dir}", "--out", "{file}"],
                                  ["train", "--resume", "{file}"],
                                  ["sweep", "{dir}", "--dry-run"], ["summary", "{missing}"], ["report", "{file}"],
                                  ["analyse", "{file}"], ["generate", "{run}", "--out", "{file}", "--n", "2"],
                                  ["data", "prepare", "{file}", "--out", "{dir}/p"],
                                  ["data", "prepare", "{run}", "--out", "{file}"],
                                  ["data", "gaussian", "{file}", "--n", "2"]])
def test_files_where_folders_are_wanted(argv, run, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    names = {"file": str(f), "dir": str(tmp_path), "missing": str(tmp_path / "nope"), "run": str(run)}
    with restored(run):
        assert _main_quietly([a.format(**names) for a in argv]) == 2
    assert f.read_text() == "x"
    CASES["subcommand arguments: files for folders and back"] += 1


# A full disk -----------------------------------------------------------------------------------------------------

def test_full_disk_keeps_the_previous_checkpoint_and_resumes(gauss_data, tmp_path, monkeypatch):
    from wavegen.training import loop
    from wavegen.training.loop import resume, train

    out = tmp_path / "run"
    train(tiny_config(gauss_data, out, batches=20, ckpt_every=20))
    real = atomic.atomic_write

    def full(path, write):
        if path.suffix == ".pt":  # checkpoint.save sees the full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(checkpoint.atomic, "atomic_write", full)
    with pytest.raises(WavegenError, match="no space left") as e:
        resume(out, batches=40)
    assert "ckpt_00000040.pt" in str(e.value) and "\n" not in str(e.value)
    assert [p.name for p in checkpoint.list_ckpts(out)] == ["ckpt_00000020.pt"]
    checkpoint.load(checkpoint.find(out))
    monkeypatch.setattr(atomic, "atomic_write", real)
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
