"""Every kind of bad input is found before training and reported together, file by file, with a reason;
skip_bad trains on the rest and says what it left out."""
import os
import re
import struct

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli, write_wav
import wavegen.data.prepared as prepared
from wavegen.data import Windows, prepare, read_prepared
from wavegen.data import load_folder
from wavegen.data.cache import cache_root, entry
from wavegen.errors import WavegenError

GOOD = np.linspace(-0.5, 0.5, 100, dtype=np.float32)[:, None]  # (100, 1): the shape of the good files

# file -> the words its reason must hold. `load_folder` treats every file as one example, so the last three
# (another length, channel count, rate) are bad there; prepare resamples and mixes them, so they are good there.
UNUSABLE = {
    "zero.wav": "empty file (0 bytes)",
    "text.wav": "not audio",
    "codec.wav": "cannot decode",
    "truncated.wav": "truncated: header promises 100 frames",
    "nan.wav": "NaN",
    "inf.wav": "NaN or Inf",
    "broken.wav": "broken symbolic link",
}
CUT_MP3 = {"cut.mp3": "truncated or damaged: header says 16000 frames"}  # its decoder's own warning unsaid
MISMATCHED = {
    "short.wav": "length 99, most files 100",
    "stereo.wav": "2 channels, most files 1",
    "slow.wav": "sample rate 8000, most files 16000",
}


def _wav_unknown_codec() -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE header whose sub-format GUID names no codec libsndfile knows."""
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 16000, 32000, 2, 16) + struct.pack("<HHI", 22, 16, 4) + bytes(range(16))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 200) + bytes(200)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def bad_folder(tmp_path):
    """Three good files and one of every bad kind."""
    d = tmp_path / "data"
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        write_wav(d / name, GOOD, subtype="FLOAT")
    (d / "zero.wav").write_bytes(b"")
    (d / "text.wav").write_text("this is a note, not audio\n" * 4)
    (d / "codec.wav").write_bytes(_wav_unknown_codec())
    whole = write_wav(tmp_path / "whole.wav", GOOD, subtype="PCM_16").read_bytes()
    (d / "truncated.wav").write_bytes(whole[:len(whole) - 60])  # the header still promises 100 frames
    write_wav(d / "nan.wav", np.where(np.arange(100)[:, None] == 7, np.nan, GOOD), subtype="FLOAT")
    write_wav(d / "inf.wav", np.where(np.arange(100)[:, None] == 7, np.inf, GOOD), subtype="FLOAT")
    os.symlink(tmp_path / "gone.wav", d / "broken.wav")
    write_wav(d / "short.wav", GOOD[:99], subtype="FLOAT")
    write_wav(d / "stereo.wav", np.repeat(GOOD, 2, axis=1), subtype="FLOAT")
    write_wav(d / "slow.wav", GOOD, sr=8000, subtype="FLOAT")
    mp3 = write_wav(tmp_path / "whole.mp3", 0.3 * np.sin(np.arange(16000) / 5)).read_bytes()  # 1 s
    (d / "cut.mp3").write_bytes(mp3[:len(mp3) // 2])  # decodes about a third, then stops
    return d


def _reasons(message: str) -> dict[str, str]:
    """{file name: reason} from an error: its first line `path: reason (and N more ...)` and the
    `  path: reason` lines below it."""
    out = {}
    lines = message.splitlines()
    first = re.sub(r" \((and \d+ more bad files?:|pass --skip-bad|the only audio file).*\)$", "", lines[0])
    for line in [first] + [line for line in lines[1:] if line.startswith("  ")]:
        if ": " in line and not line.strip().startswith("..."):
            path, reason = line.strip().split(": ", 1)
            out[os.path.basename(path)] = reason
    return out


def test_load_folder_lists_every_bad_file(bad_folder):
    with pytest.raises(WavegenError) as e:
        load_folder(bad_folder)
    msg = str(e.value)
    first = msg.splitlines()[0]  # names a file and its problem, and counts the rest
    assert first.startswith(f"{bad_folder}{os.sep}") and first.endswith(
        f"(and 10 more bad files: 11 of 14 audio files in {bad_folder} are bad)")
    assert msg.endswith("pass --skip-bad to train on the rest")
    reasons = _reasons(msg)  # ten by name, the last in order counted
    assert set(reasons) == (set(UNUSABLE) | set(MISMATCHED) | set(CUT_MP3)) - {"zero.wav"} and "  ... and 1 more" in msg
    for name, words in {**UNUSABLE, **MISMATCHED, **CUT_MP3}.items() - {("zero.wav", UNUSABLE["zero.wav"])}:
        assert words in reasons[name], (name, reasons[name])
    cached = entry(cache_root(), bad_folder)
    assert not cached.exists() or not [p for p in cached.iterdir() if p.suffix == ".npz"]  # a failed load caches nothing
    assert not [p for p in bad_folder.iterdir() if p.name.startswith(".")]  # and writes nothing into the data


def test_load_folder_skip_bad_and_its_cache(bad_folder, monkeypatch):
    s = load_folder(bad_folder, skip_bad=True)
    assert s.files == ["a.wav", "b.wav", "sub/c.wav"] and s.x.shape == (3, 1, 100)
    assert [name for name, _ in s.skipped] == sorted(set(UNUSABLE) | set(MISMATCHED) | set(CUT_MP3))
    # the cache covers skip_bad: a full load is not answered with the skipped one ...
    with pytest.raises(WavegenError, match="11 of 14"):
        load_folder(bad_folder)
    # ... and the skipped load is answered from the cache, skipped list included, without decoding
    monkeypatch.setattr(sf, "read", lambda *a, **k: pytest.fail("decoded although cached"))
    again = load_folder(bad_folder, skip_bad=True)
    assert again.x.equal(s.x) and again.skipped == s.skipped


def test_cli_train_stops_before_writing_anything(bad_folder):
    out = bad_folder.parent / "run"
    r = run_cli("train", bad_folder, "--out", out, "--batches", 1)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"wavegen: error: {bad_folder}{os.sep}")
    assert "11 of 14 audio files in" in r.stderr.splitlines()[0]
    assert set(_reasons(r.stderr.removeprefix("wavegen: error: "))) == (set(UNUSABLE) | set(MISMATCHED) | set(CUT_MP3)) - \
        {"zero.wav"}
    assert "pass --skip-bad to train on the rest" in r.stderr
    assert not out.exists()


def test_more_than_ten_bad_files_are_counted(tmp_path):
    write_wav(tmp_path / "good.wav", GOOD, subtype="FLOAT")
    for i in range(13):
        (tmp_path / f"note{i:02d}.wav").write_text("not audio")
    with pytest.raises(WavegenError) as e:
        load_folder(tmp_path)
    lines = str(e.value).splitlines()
    assert lines[0] == f"{tmp_path / 'note00.wav'}: cannot read: not audio, or a format libsndfile does not know " \
        f"(Format not recognised.) (and 12 more bad files: 13 of 14 audio files in {tmp_path} are bad)"
    assert len(_reasons(str(e.value))) == 10 and "  ... and 3 more" in lines
    # with nothing good, skip_bad cannot help, and the message says so
    (tmp_path / "good.wav").unlink()
    with pytest.raises(WavegenError, match="all 13 audio files in .* are bad") as e:
        load_folder(tmp_path, skip_bad=True)
    assert "no file is usable" in str(e.value)


def test_one_bad_file_is_one_line(tmp_path):
    """The usual case, one bad file among good ones: one line naming it and its problem, through the CLI too."""
    for i in range(3):
        write_wav(tmp_path / "data" / f"good{i}.wav", GOOD, subtype="FLOAT")
    (tmp_path / "data" / "text.wav").write_text("this is a note, not audio\n")
    with pytest.raises(WavegenError) as e:
        load_folder(tmp_path / "data")
    assert str(e.value) == f"{tmp_path / 'data' / 'text.wav'}: cannot read: not audio, or a format libsndfile " \
        "does not know (Format not recognised.) (pass --skip-bad to train on the rest)"
    with pytest.raises(WavegenError, match=r"^[^\n]*text.wav: cannot read: not audio[^\n]*$"):
        prepare(tmp_path / "data")
    for name in ("good0.wav", "good1.wav", "good2.wav"):
        (tmp_path / "data" / name).unlink()
    with pytest.raises(WavegenError, match=r"text.wav: cannot read: .*\(the only audio file in .*data\)$"):
        load_folder(tmp_path / "data")


def test_prepare_reports_and_skips_the_same_way(bad_folder, monkeypatch):
    # prepare resamples and mixes to mono, so only the unusable files (and the cut mp3) are bad here
    bad = {**UNUSABLE, **CUT_MP3}
    with pytest.raises(WavegenError) as e:
        prepare(bad_folder, sample_rate=16000)
    assert str(e.value).startswith(f"{bad_folder}{os.sep}")
    assert str(e.value).splitlines()[0].endswith(f"(and 7 more bad files: 8 of 14 audio files in {bad_folder} are bad)")
    reasons = _reasons(str(e.value))
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    cached = entry(cache_root(), bad_folder)
    left = [p.name for p in cached.glob("*prepared-*") if not p.name.endswith(".lock")] if cached.exists() else []
    assert left == []  # nothing left behind, not even temporaries
    assert not [p for p in bad_folder.iterdir() if p.name.startswith(".")]

    out = prepare(bad_folder, sample_rate=16000, skip_bad=True)
    meta = read_prepared(out)
    assert meta["n_files"] == 6 and sorted(name for name, _ in meta["skipped"]) == sorted(bad)
    w = Windows(out, 100, window="first")
    assert w.skipped == [tuple(s) for s in meta["skipped"]] and w.n == 6
    assert w.get(np.arange(6)).isfinite().all()
    # the cache that skipped files serves skip_bad only; anyone else gets the same error, without a decode
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("decoded although cached"))
    with pytest.raises(WavegenError, match="8 of 14 audio files in .* are bad"):
        prepare(bad_folder, sample_rate=16000)
    assert prepare(bad_folder, sample_rate=16000, skip_bad=True) == out


def test_prepare_closes_the_gap_of_a_file_that_fails_mid_decode(tmp_path, monkeypatch):
    """A file found bad after some of its blocks were written: the next file takes its place, and the samples
    array is shrunk to what was kept (here with two channels, whose rows both move)."""
    monkeypatch.setattr(prepared, "BLOCK_FRAMES", 16)
    t = np.arange(100, dtype=np.float32)[:, None] / 128
    a, c = np.hstack([t, -t]), np.hstack([t + 0.1, t - 0.1])  # (100, 2) each
    b = a.copy()
    b[90] = np.nan  # seen in its sixth block
    for name, x in (("a.wav", a), ("b.wav", b), ("c.wav", c)):
        write_wav(tmp_path / "src" / name, x, subtype="FLOAT")
    out = prepare(tmp_path / "src", mono=False, skip_bad=True)
    meta = read_prepared(out)
    assert meta["total_samples"] == 200 and meta["skipped"] == [["b.wav", "holds NaN or Inf samples"]]
    x = Windows(out, 100, window="all").get([0, 1]).numpy()  # (2, 2, 100)
    np.testing.assert_array_equal(x[0], a.T)
    np.testing.assert_array_equal(x[1], c.T)


def test_truncated_wav_found_past_a_large_chunk(tmp_path):
    """The data chunk's header after 2 KB of other chunks (read from the file, past the first bytes checked)."""
    from wavegen.data.files import probe

    whole = write_wav(tmp_path / "whole.wav", GOOD, subtype="PCM_16").read_bytes()
    at = whole.index(b"data")
    junk = b"junk" + struct.pack("<I", 2000) + bytes(2000)
    padded = whole[:4] + struct.pack("<I", len(whole) - 8 + len(junk)) + whole[8:at] + junk + whole[at:]
    (tmp_path / "ok.wav").write_bytes(padded)
    (tmp_path / "cut.wav").write_bytes(padded[:-60])
    info, reason = probe(tmp_path / "ok.wav")
    assert reason is None and info.frames == 100
    assert probe(tmp_path / "cut.wav") == (None, "truncated: header promises 100 frames, file holds 70")


def test_train_with_skip_bad_reports_what_it_left_out(bad_folder, tmp_path):
    r = run_cli("train", bad_folder, "--out", tmp_path / "run", "--skip-bad", "true", "--batches", "1",
                "--ngf", "32", "--ndf", "32", "--batch-size", "3")
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("skipped "))  # one line names them all
    assert line.startswith("skipped 11 files: broken.wav (cannot read: broken symbolic link") and \
        "holds NaN or Inf samples (2): inf.wav, nan.wav" in line and line.endswith("5 more for other reasons"), line
    assert "Xing" not in r.stderr, r.stderr
    assert (tmp_path / "run" / "checkpoints").is_dir()


def _flac_claiming(total: int, tmp_path):
    """A valid 1000-frame flac whose STREAMINFO claims `total` frames (36 bits at bytes 18-25 of the file)."""
    raw = bytearray(write_wav(tmp_path / "whole.flac", np.sin(np.arange(1000) / 5)[:, None] * 0.3).read_bytes())
    field = int.from_bytes(raw[18:26], "big")
    raw[18:26] = ((field & ~(2**36 - 1)) | total).to_bytes(8, "big")
    path = tmp_path / f"claims{total}.flac"
    path.write_bytes(bytes(raw))
    return path


def test_a_header_claiming_more_frames_than_the_file_can_hold(tmp_path):
    """A FLAC header's frame count sizes the decode: one past what the file's bytes can hold is refused before
    anything is allocated, and so is the unknown length (0) a stream leaves, which libsndfile reports as 2**63 - 1."""
    from wavegen.data.files import probe

    path = _flac_claiming(2**36 - 1, tmp_path)
    size = path.stat().st_size
    assert probe(path) == (None, f"damaged: header promises {2**36 - 1} frames, more than a file of {size} bytes "
                                 f"can hold (at most {size * 8192})")
    assert probe(_flac_claiming(0, tmp_path))[1] == ("its header leaves its length unknown (written as a stream); "
                                                     "re-encode it")


def test_decode_caps_the_frames_a_header_claims(tmp_path):
    """prepare's decode sizes its buffer from pass 1's header, which may lie (or the file may have shrunk since):
    the claim is capped at what the file's size allows, so the buffer stays small and the file is refused."""
    import tracemalloc
    from types import SimpleNamespace

    path = _flac_claiming(1000, tmp_path)
    info = sf.info(str(path))
    lying = SimpleNamespace(frames=2**36 - 1, samplerate=info.samplerate, channels=1, subtype=info.subtype,
                            format=info.format)
    tracemalloc.start()
    try:
        got = prepared._decode_into(path, lying, 8000, True, lambda x, pos: None, 0)  # resampled: gathered whole
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == (0, f"truncated or damaged: header says {2**36 - 1} frames, decoded 1000")
    assert peak < 8192 * 4 * path.stat().st_size + 2**20  # without the cap: 2**36 float32, 256 GiB
