"""`wavegen data words`: spoken words from espeak-ng in class folders (installed by scripts/install-test-deps.sh)."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from wavegen import cli
from wavegen.data import make_words
from wavegen.errors import WavegenError


@pytest.fixture(scope="module")
def espeak():
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not on PATH: `wavegen data words` speaks with it. Install Debian's espeak-ng "
                    "(scripts/install-test-deps.sh does), or run `make test-fast`")


def test_words_are_spoken_into_class_folders_reproducibly(espeak, tmp_path):
    a = make_words(tmp_path / "a", ("yes", "no", "stop"), n=9, sample_rate=8000, seconds=0.75, seed=3)
    b = make_words(tmp_path / "b", ("yes", "no", "stop"), n=9, sample_rate=8000, seconds=0.75, seed=3)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == ["no", "stop", "yes"]
    meta = json.loads((a / "wavegen_data.json").read_text())
    assert meta["kind"] == "words" and meta["classes"] == ["yes", "no", "stop"]
    for f in sorted(a.glob("*/*.wav")):
        x, rate = sf.read(f, dtype="float32")
        y, _ = sf.read(b / f.relative_to(a), dtype="float32")
        assert rate == 8000 and x.shape == (6000,)
        np.testing.assert_array_equal(x, y)  # same seed, same set, however the synthesiser calls were scheduled
        assert 0.5 <= np.abs(x).max() <= 0.9 + 1e-6  # the drawn peak gain
        loud = np.abs(x) > 0.01
        assert 0.05 < loud.mean() < 0.95  # a word with silence around it, not noise or nothing
    assert len(list(a.glob("yes/*.wav"))) == 3


def test_words_differ_between_voices(espeak, tmp_path):
    """Each clip draws its accent, voice, pitch and speed: two clips of one word are not the same sound."""
    out = make_words(tmp_path / "w", ("alpha", "bravo"), n=6, sample_rate=8000, seconds=1.0, seed=0)
    clips = [sf.read(f, dtype="float32")[0] for f in sorted(out.glob("alpha/*.wav"))]
    assert not np.allclose(clips[0], clips[1])


def test_words_refusals_are_one_line(espeak, tmp_path, capsys, monkeypatch):
    for args, problem in [(["--words", "yes,yes"], "two or more different words"),
                          (["--words", "yes,n0"], "letters only"),
                          (["--n", "0"], "n, sample_rate and seconds > 0")]:
        assert cli.main(["data", "words", str(tmp_path / "x"), *args]) == 2
        err = capsys.readouterr().err
        assert problem in err and err.count("\n") == 1
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with pytest.raises(WavegenError, match="espeak-ng not found"):
        make_words(tmp_path / "y", ("yes", "no"), n=2)
    assert not (tmp_path / "y").exists()
