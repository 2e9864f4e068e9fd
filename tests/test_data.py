import json

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli, write_wav
from wavegen.cli import main
from wavegen.data import GaussianSpec, load_folder
from wavegen.data.cache import cache_root, entry
from wavegen.data.folder import CACHE_FILE
from wavegen.data.synthetic import META_NAME
from wavegen.errors import WavegenError


def test_gaussian_cli_writes_wavs_and_json(tmp_path):
    out = tmp_path / "g"
    r = run_cli("data", "gaussian", out, "--n", 50, "--length", 100, "--sigma", 6, "--noise", 0.1, "--seed", 3)
    assert r.returncode == 0, r.stderr
    wavs = sorted(out.glob("*.wav"))
    assert len(wavs) == 50
    meta = json.loads((out / META_NAME).read_text())
    assert meta["sigma"] == 6 and meta["noise"] == 0.1 and meta["n"] == 50 and meta["kind"] == "gaussian"
    x, sr = sf.read(wavs[0], dtype="float32")
    assert x.shape == (100,) and sr == meta["sample_rate"]
    ideal = GaussianSpec.from_meta(meta).ideal()
    residual = np.stack([sf.read(w, dtype="float32")[0] for w in wavs]) - ideal
    assert abs(residual.std() - 0.1) < 0.01 and abs(residual.mean()) < 0.01  # the curve plus N(0, noise)
    assert np.argmax(ideal) in (49, 50)  # centred
    # a second run into the same folder is refused: nothing is overwritten
    r = run_cli("data", "gaussian", out, "--n", 5)
    assert r.returncode != 0 and "not empty" in r.stderr


def test_load_folder_recursive_formats_and_cache(tmp_path):
    rng = np.random.default_rng(0)
    write_wav(tmp_path / "a.wav", rng.uniform(-0.5, 0.5, (64, 2)).astype(np.float32), subtype="FLOAT")
    write_wav(tmp_path / "sub" / "b.flac", rng.uniform(-0.5, 0.5, (64, 2)))
    write_wav(tmp_path / "sub" / "deeper" / "c.ogg", rng.uniform(-0.5, 0.5, (64, 2)))
    (tmp_path / "notes.txt").write_text("not audio")
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    s = load_folder(tmp_path)
    assert s.x.shape == (3, 2, 64) and s.x.dtype.is_floating_point and s.sample_rate == 16000
    assert s.files == ["a.wav", "sub/b.flac", "sub/deeper/c.ogg"]
    # cached in the cache folder (WAVEGEN_CACHE_DIR, set by conftest), nothing added to the data folder
    assert s.built and s.cache == entry(cache_root(), tmp_path) / CACHE_FILE and s.cache.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing
    again = load_folder(tmp_path)
    assert again.x.equal(s.x) and again.files == s.files and not again.built and again.cache == s.cache
    # a changed file invalidates the cache
    write_wav(tmp_path / "a.wav", np.zeros((64, 2), np.float32), subtype="FLOAT")
    assert load_folder(tmp_path).x[0].abs().max() == 0


def _expect_cli_error(capsys, data, *needles):
    """The CLI fails with exit code 2 and a message (one line, or a header and one line per bad file) without a
    traceback; the line naming the file (the first needle) holds every needle. It runs `main`, what `python -m
    wavegen` calls, in this process: a subprocess each costs seconds (tests/test_bad_data.py runs one)."""
    assert main(["train", str(data), "--out", str(data.parent / "run"), "--batches", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("wavegen: error: "), err
    line = next((line for line in err.splitlines() if needles[0] in line), None)
    assert line is not None, err
    for needle in needles:
        assert needle in line, line
    assert not (data.parent / "run").exists() or not any((data.parent / "run" / "checkpoints").glob("*"))


@pytest.mark.parametrize("case", ["length", "channels", "rate", "unreadable", "nan", "empty", "zero_byte"])
def test_bad_folders_give_clear_errors(tmp_path, capsys, case):
    data = tmp_path / "data"
    ok = np.zeros((100, 1), np.float32)
    write_wav(data / "a.wav", ok, subtype="FLOAT")
    if case == "length":
        write_wav(data / "b.wav", np.zeros((99, 1), np.float32), subtype="FLOAT")
        _expect_cli_error(capsys, data, "b.wav", "length 99")
    elif case == "channels":
        write_wav(data / "b.wav", np.zeros((100, 2), np.float32), subtype="FLOAT")
        _expect_cli_error(capsys, data, "b.wav", "2 channels")
    elif case == "rate":
        write_wav(data / "b.wav", ok, sr=8000, subtype="FLOAT")
        _expect_cli_error(capsys, data, "b.wav", "sample rate 8000")
    elif case == "unreadable":
        (data / "b.wav").write_bytes(b"RIFF this is not a wav file at all")
        _expect_cli_error(capsys, data, "b.wav", "cannot read")
    elif case == "zero_byte":
        (data / "b.wav").write_bytes(b"")
        _expect_cli_error(capsys, data, "b.wav", "cannot read")
    elif case == "nan":
        bad = ok.copy()
        bad[10] = np.nan
        write_wav(data / "b.wav", bad, subtype="FLOAT")
        _expect_cli_error(capsys, data, "b.wav", "NaN")
    elif case == "empty":
        (data / "a.wav").unlink()
        _expect_cli_error(capsys, data, "no audio files")


def test_load_folder_api_raises_wavegen_error(tmp_path):
    with pytest.raises(WavegenError, match="not a folder"):
        load_folder(tmp_path / "missing")
