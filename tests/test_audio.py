"""Real audio at any length (wavegen/data/prepared.py and windows.py): prepare a folder once, cut it into windows.

The tests write their own small audio: sine tones, chirps and clicks in class sub-folders, at 8000, 22050 and
44100 Hz, mono and stereo, 0.05 s to 2 s long, as wav, flac, ogg and mp3."""
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import chirp

from conftest import run_cli, write_wav
import wavegen.data.prepared as prepared
import wavegen.data.windows as windows
from wavegen.data import Windows, open_windows, prepare, read_prepared
from wavegen.data.cache import cache_root, entry
from wavegen.cli import main
from wavegen.errors import WavegenError


def _t(sr, seconds):
    return np.arange(round(sr * seconds)) / sr  # (n,) times in seconds


def _sine(freq, sr, seconds, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * _t(sr, seconds))


def _clicks(sr, seconds, every=0.01):
    x = np.zeros(round(sr * seconds))
    x[::round(sr * every)] = 0.9
    return x


# name: (rate, signal (n,) or (n, 2))
MIXED = {
    "tones/sine440.wav": (8000, _sine(440, 8000, 1.0)),
    "tones/sine1000.flac": (44100, np.stack([_sine(1000, 44100, 0.5, 0.4), _sine(1000, 44100, 0.5, 0.2)], 1)),
    "chirps/up.ogg": (22050, 0.5 * chirp(_t(22050, 2.0), 100, 2.0, 3000)),
    "chirps/down.mp3": (44100, 0.4 * np.stack([chirp(_t(44100, 0.3), 4000, 0.3, 200)] * 2, 1)),
    "clicks/click.wav": (8000, np.stack([_clicks(8000, 0.05)] * 2, 1)),
    "clicks/more.flac": (22050, _clicks(22050, 0.25)),
    "top.wav": (22050, _sine(220, 22050, 0.1)),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    for name, (sr, x) in MIXED.items():
        write_wav(d / name, x.astype(np.float32), sr=sr)
    return d


# Windows are checked on float wavs whose every sample says which file and position it is (exact in float32)
RAMP_LENGTHS = {"long.wav": 2500, "mid.wav": 1000, "short.wav": 400}  # sorted: the order prepare keeps


def _ramp(i, n):
    return ((i * 4096 + np.arange(n)) / 2**15).astype(np.float32)  # (n,)


@pytest.fixture(scope="module")
def ramps(tmp_path_factory):
    d = tmp_path_factory.mktemp("ramps")
    for i, (name, n) in enumerate(RAMP_LENGTHS.items()):
        write_wav(d / name, _ramp(i, n), sr=8000, subtype="FLOAT")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prepared, "BLOCK_FRAMES", 300)  # several blocks per file
        out = prepare(d, formats=("wav",))
    return out


def _expected(starts, length):
    """What each window should hold: the ramp from its start, zeros past the end of its file."""
    rows = []
    for (i, (name, n)), file_starts in zip(enumerate(RAMP_LENGTHS.items()), starts):
        for s in file_starts:
            x = np.zeros(length, np.float32)
            seg = _ramp(i, n)[s:s + length]
            x[:len(seg)] = seg
            rows.append(x)
    return np.stack(rows)[:, None]  # (n, 1, L)


def test_prepare_resamples_mixes_to_mono_and_labels(mixed):
    out = prepare(mixed, sample_rate=16000)
    meta = read_prepared(out)
    assert out.parent == entry(cache_root(), mixed) and out.name.startswith("prepared-")  # never in the data folder
    assert not [p for p in mixed.rglob(".*")]
    assert (meta["sample_rate"], meta["channels"], meta["n_files"]) == (16000, 1, len(MIXED))
    assert meta["classes"] == ["chirps", "clicks", "tones"] and meta["skipped"] == []
    with np.load(out / "index.npz") as z:
        index = {str(p): (int(s), int(n), int(c)) for p, s, n, c in zip(z["path"], z["start"], z["length"], z["label"])}
    assert sorted(index) == sorted(MIXED)
    samples = np.load(out / "samples.npy", mmap_mode="r")  # (1, T)
    assert samples.shape == (1, meta["total_samples"]) and meta["total_samples"] == sum(n for _, n, _ in index.values())
    for name, (sr, x) in MIXED.items():
        start, n, label = index[name]
        assert n == -(-len(x) * 16000 // sr), name  # ceil(frames * 16000 / rate)
        assert label == (meta["classes"].index(name.split("/")[0]) if "/" in name else -1)
    # a resampled tone keeps its frequency (1 Hz bins: 1 s at 16 kHz) ...
    start, n, _ = index["tones/sine440.wav"]
    assert np.argmax(np.abs(np.fft.rfft(samples[0, start:start + n]))) == 440
    # ... and the stereo one, mixed to mono, is their mean: a 1000 Hz tone of amplitude 0.3
    start, n, _ = index["tones/sine1000.flac"]
    x = samples[0, start:start + n]
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) * 16000 / n - 1000) <= 2
    assert abs(np.sqrt(np.mean(x[100:-100] ** 2)) - 0.3 / np.sqrt(2)) < 0.005


def test_mixed_rates_need_a_sample_rate(mixed):
    with pytest.raises(WavegenError) as e:
        prepare(mixed)
    msg = str(e.value)
    assert "but most files have sample rate" in msg and "--sample-rate" in msg
    assert msg.split(":")[0].endswith(tuple(MIXED))  # names a file


def test_mono_average_and_keep_channels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (300, 2)).astype(np.float32)  # (n, 2)
    y = rng.uniform(-0.5, 0.5, (200, 2)).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, sr=8000, subtype="FLOAT")
    write_wav(tmp_path / "b.flac", y, sr=8000, subtype="PCM_24")
    mono = np.load(prepare(tmp_path) / "samples.npy")  # (1, 500)
    np.testing.assert_allclose(mono[0, :300], x.mean(1), atol=1e-7)
    np.testing.assert_allclose(mono[0, 300:], y.mean(1), atol=1e-6)  # 24-bit
    kept = prepare(tmp_path, mono=False)
    assert read_prepared(kept)["channels"] == 2
    w = Windows(kept, 300, window="first")
    got = w.get([0, 1]).numpy()  # (2, 2, 300)
    assert w.channels == 2 and got.shape == (2, 2, 300)
    np.testing.assert_array_equal(got[0], x.T)
    np.testing.assert_allclose(got[1, :, :200], y.T, atol=1e-6)
    assert not got[1, :, 200:].any()  # end-padded
    # keeping channels needs one channel count
    write_wav(tmp_path / "c.wav", x[:, :1], sr=8000, subtype="FLOAT")
    with pytest.raises(WavegenError, match="1 channel, but most files have 2 channels.*--channels mono"):
        prepare(tmp_path, mono=False)


def test_windows_all_and_first(ramps):
    w = Windows(ramps, 1000, window="all")  # hop = length
    assert (w.n, w.channels, w.length, w.sample_rate, w.classes) == (5, 1, 1000, 8000, [])
    assert (w.labels == -1).all() and w.labels.dtype == np.int64
    assert w.starts.tolist() == [0, 1000, 2000, 0, 0]  # long: two whole windows and an end-padded one
    np.testing.assert_array_equal(w.get(np.arange(5)).numpy(), _expected([[0, 1000, 2000], [0], [0]], 1000))
    overlap = Windows(ramps, 1000, hop=300, window="all")
    assert overlap.starts.tolist() == [0, 300, 600, 900, 1200, 1500, 0, 0]  # long's last ends at its end: no tail
    first = Windows(ramps, 1000, window="first")
    assert first.n == 3 and first.starts.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(first.get(torch.arange(3)).numpy(), _expected([[0], [0], [0]], 1000))
    # without padding, partial windows are dropped, and files shorter than the length are an error
    nopad = Windows(ramps, 400, window="all", pad=False)
    assert nopad.starts.tolist() == [0, 400, 800, 1200, 1600, 2000, 0, 400, 0]
    with pytest.raises(WavegenError, match="1 of 3 files are too short for length 1000") as e:
        Windows(ramps, 1000, window="all", pad=False)
    assert "short.wav: 400 samples" in str(e.value) and "long.wav" not in str(e.value)


def test_windows_random_offsets(ramps):
    w = Windows(ramps, 1000, window="random")
    assert w.n == 5  # as many as "all"
    seen = np.zeros(2500, bool)  # positions of long.wav covered over the epochs
    firsts = set()
    for epoch in range(40):
        w.set_epoch(epoch, seed=3)
        s = w.starts
        assert w.n == 5 and s[3] == 0 and s[4] == 0  # mid and short have no room to move
        assert 0 <= s[0] < s[1] < s[2] <= 2000  # in order, no repeats, none past "all"'s last start
        assert s[1] - s[0] == 1000 and s[0] < 1000  # shifted by one offset in [0, hop)
        np.testing.assert_array_equal(w.get(np.arange(5)).numpy(), _expected([s[:3], [0], [0]], 1000))
        for start in s[:3]:
            seen[start:start + 1000] = True
        firsts.add(int(s[0]))
    # every epoch covers the file from its offset on, so over the epochs every position is seen (position p < hop
    # with probability (p + 1) / hop an epoch)
    assert seen[min(firsts):].all() and min(firsts) < 50 and len(firsts) > 30
    # the same (seed, epoch) gives the same windows, in another instance too (a resumed run); epochs differ
    w.set_epoch(7, seed=3)
    again = Windows(ramps, 1000, window="random")
    again.set_epoch(7, seed=3)
    assert again.starts.tolist() == w.starts.tolist()
    again.set_epoch(8, seed=3)
    assert again.starts.tolist() != w.starts.tolist()


def test_normalise(tmp_path):
    write_wav(tmp_path / "a_loud.wav", _sine(50, 8000, 0.125, 0.8).astype(np.float32), sr=8000, subtype="FLOAT")
    write_wav(tmp_path / "b_quiet.wav", _sine(50, 8000, 0.125, 0.01).astype(np.float32), sr=8000, subtype="FLOAT")
    write_wav(tmp_path / "c_silent.wav", np.zeros(1000, np.float32), sr=8000, subtype="FLOAT")
    out = prepare(tmp_path)
    raw = Windows(out, 500, window="all", normalise="none").get(np.arange(6)).numpy()  # (6, 1, 500)
    assert np.abs(raw[:2]).max() == pytest.approx(0.8, abs=1e-3) and not raw[4:].any()
    peak = Windows(out, 500, window="all", normalise="peak").get(np.arange(6)).numpy()
    np.testing.assert_allclose(np.abs(peak[:4]).max(axis=(1, 2)), 1, rtol=1e-6)
    np.testing.assert_allclose(peak[2], raw[2] / np.abs(raw[2]).max(), rtol=1e-5)
    assert not peak[4:].any()  # silence stays silent
    rms = Windows(out, 500, window="all", normalise="rms").get(np.arange(6)).numpy()
    np.testing.assert_allclose(np.sqrt((rms[:4] ** 2).mean(axis=(1, 2))), windows.RMS_TARGET, rtol=1e-5)
    assert not rms[4:].any()
    with pytest.raises(WavegenError, match="normalise must be one of"):
        Windows(out, 500, normalise="loud")


def test_cache_reused_without_decoding_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_wav(src / "a" / "x.wav", _sine(100, 8000, 0.5).astype(np.float32), sr=8000, subtype="FLOAT")
    write_wav(src / "b" / "y.wav", _sine(200, 8000, 0.3).astype(np.float32), sr=8000, subtype="FLOAT")
    w = open_windows(src, formats=("wav",), length=1000, sample_rate=0, mono=True, hop=0, window="all", pad=True,
                     normalise="none", skip_bad=False)
    assert (w.n, w.classes, w.labels.tolist()) == (7, ["a", "b"], [0, 0, 0, 0, 1, 1, 1])  # 4000 + 2400 samples
    out = w.folder
    built = read_prepared(out)["built_at"]
    with monkeypatch.context() as m:  # a second call must not decode: soundfile refuses to
        m.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("decoded although prepared"))
        m.setattr(sf, "info", lambda *a, **k: pytest.fail("decoded although prepared"))
        assert prepare(src, formats=("wav",)) == out
        assert prepare(src) == out  # a caller asking for more formats finds the same files: same cache
        assert open_windows(src, length=1000).n == 7
    assert read_prepared(out)["built_at"] == built
    # a changed file (here the same size, a new modification time) rebuilds it
    path = src / "b" / "y.wav"
    st = path.stat()
    write_wav(path, np.zeros(2400, np.float32), sr=8000, subtype="FLOAT")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert prepare(src) == out and read_prepared(out)["built_at"] > built
    assert not Windows(out, 1000, window="all").get([4, 5, 6]).any()
    assert [p.name for p in out.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []  # no temporaries
    assert not list(src.rglob(".*"))  # and nothing in the data folder


def test_cli_data_prepare(mixed, tmp_path, capsys):
    cache = tmp_path / "cache"
    r = run_cli("data", "prepare", mixed, "--out", cache, "--sample-rate", 16000)
    assert r.returncode == 0, r.stderr
    assert f"prepared {len(MIXED)} files" in r.stdout and "16000 Hz, 1 channel" in r.stdout
    assert "classes: chirps, clicks, tones" in r.stdout and "size on disk:" in r.stdout
    assert json.loads((cache / "prepared.json").read_text())["n_files"] == len(MIXED)
    # the same again (in this process, to save a start-up) reuses it; a bad request is a one-line error
    assert main(["data", "prepare", str(mixed), "--out", str(cache), "--sample-rate", "16000"]) == 0
    assert "already prepared" in capsys.readouterr().out
    assert main(["data", "prepare", str(mixed), "--out", str(tmp_path / "other"), "--channels", "keep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wavegen: error: ") and len(err.strip().splitlines()) == 1 and "--sample-rate" in err
