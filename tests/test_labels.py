"""A folder of one-shots as users keep them: every format libsndfile reads (AIFF, stereo 48 kHz, names with spaces),
classes from file names (--classes-from-names) or a CSV (--labels), files without a class refused or skipped, every
file left out named in one line, one-shots cut at their onset (--window auto), and every subcommand on a few clips
answering in one line or working. Every fixture is written here, tiny."""
import json

import numpy as np
import pytest

from conftest import write_wav
from wavegen.cli import main
from wavegen.config import make_config
from wavegen.data import open_examples
from wavegen.data.files import describe_skipped
from wavegen.data.labels import NO_CLASS, LabelRule, label_files
from wavegen.data.windows import auto_window
from wavegen.errors import WavegenError

NAMES = "(?i)kick|snare"
TINY = ["--preset", "post", "--ngf", "16", "--ndf", "16", "--batch-size", "4", "--length", "256", "--sample-rate",
        "8000"]


def hit(n: int, f0: float, seed: int, channels: int = 1) -> np.ndarray:
    """A one-shot: a decaying tone, loudest at its start. (n, channels)"""
    t = np.arange(n) / n
    x = 0.5 * np.exp(-6 * t) * np.sin(2 * np.pi * f0 * t * (1 + 0.1 * seed))
    return np.repeat(x[:, None], channels, 1).astype(np.float32)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Kicks and snares in four formats, one stereo 48 kHz, one named with a space, one in a sub-folder; a click no
    class rule matches; an m4a libsndfile cannot read; two files that are not audio."""
    d = tmp_path_factory.mktemp("labels") / "kit"
    write_wav(d / "Kick_Hard_1.flac", hit(1200, 40, 1))
    write_wav(d / "Kick 02.aiff", hit(3300, 40, 2), sr=44100)
    write_wav(d / "more" / "EE_Kick_3.wav", hit(900, 40, 3))
    write_wav(d / "Snare_1.wav", hit(2400, 200, 1, channels=2), sr=48000)
    write_wav(d / "snare-2.aif", hit(1000, 200, 2), format="AIFF")
    write_wav(d / "more" / "Snare Snappy.ogg", hit(1000, 200, 3))
    write_wav(d / "click.wav", hit(300, 900, 1))
    (d / "voice.m4a").write_bytes(b"\0\0\0\x18ftypM4A " + bytes(64))
    (d / "drumkit.xml").write_text("<drumkit/>\n")
    (d / "README.txt").write_text("a kit\n")
    return d


def cli(capsys, *args) -> tuple[int, str]:
    """(exit status, stdout) of `wavegen ARGS`; an error is one line on stderr, and nothing else is there."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    if code == 0:
        assert err == "", err
    else:
        assert code == 2 and err.startswith("wavegen: error: ") and err.count("\n") == 1, (code, err)
    return code, out + err


def test_every_format_loads_and_what_is_left_out_is_one_line(kit):
    cfg = make_config("post", data=str(kit), length=256, sample_rate=8000, classes_from_names=NAMES,
                      unlabelled="skip")
    ex = open_examples(cfg)
    assert sorted(ex.files) == ["Kick 02.aiff", "Kick_Hard_1.flac", "Snare_1.wav", "more/EE_Kick_3.wav",
                                "more/Snare Snappy.ogg", "snare-2.aif"]
    assert ex.classes == ["kick", "snare"] and ex.labels.tolist() == [0, 0, 1, 0, 1, 1]  # one window each
    assert ex.left_out == [("voice.m4a", "libsndfile cannot decode .m4a: convert it to flac or wav"),
                           ("click.wav", NO_CLASS)] and ex.ignored == 2
    line = describe_skipped(ex.left_out, ex.ignored)
    assert line == ("skipped 2 files: voice.m4a (libsndfile cannot decode .m4a: convert it to flac or wav); "
                    f"click.wav ({NO_CLASS}); ignored 2 other files (not audio)")
    # one-shots: each file's first window, said in one line
    assert ex.window == "first" and ex.window_note.startswith("window auto: first, the onset of each file: 6 of the 6")
    # --formats stays the override, and what it leaves out is named
    ex = open_examples(make_config("post", data=str(kit), length=256, sample_rate=8000, formats=("wav",)))
    assert ex.files == ["Snare_1.wav", "click.wav", "more/EE_Kick_3.wav"] and ex.classes == ["more"]
    assert ("snare-2.aif", ".aif is not among --formats") in ex.left_out and len(ex.left_out) == 5


def test_classes_from_names_groups_and_lower_case():
    names = ["a/EE_Kick_Hard_2.flac", "25671__walter__garage-city-snare-snappy.wav", "Kick 02.aiff", "x.wav"]
    lab = label_files("d", names, LabelRule(NAMES, unlabelled="skip"))
    assert lab.classes == ["kick", "snare"] and lab.labels.tolist() == [0, 1, 0, -1]
    assert lab.keep.tolist() == [True, True, True, False] and lab.left_out == [("x.wav", NO_CLASS)]
    # a named group, else the first capturing group that matched, is the class
    assert label_files("d", names[:3], LabelRule(r"(?i)(?P<kind>kick|snare)")).classes == ["kick", "snare"]
    assert label_files("d", names[:1], LabelRule(r"(?i)ee_(\w+?)_")).classes == ["kick"]
    assert label_files("d", names[:1], LabelRule(r"^(\w+)/")).classes == ["a"]  # the path, with its folders


def test_files_without_a_class_are_refused_in_one_line_or_skipped():
    names = ["kick1.wav", "kick2.wav", "click.wav", "sub/clap.wav", "fx.wav"]
    with pytest.raises(WavegenError) as e:
        label_files("data", names, LabelRule("kick"))
    assert str(e.value) == ("data: 3 of 5 audio files have no class (--classes-from-names 'kick'): click.wav, "
                            "sub/clap.wav, fx.wav; pass --unlabelled skip to leave them out")
    with pytest.raises(WavegenError, match="no file gets a class from --classes-from-names 'snare'"):
        label_files("data", names, LabelRule("snare", unlabelled="skip"))
    with pytest.raises(WavegenError, match=r"class 'sub/clap' cannot name a folder"):
        label_files("data", names, LabelRule(r"sub/\w+|kick", unlabelled="skip"))
    # sub-folders, the default: files at the top level train unless the run uses the classes
    assert label_files("data", names, LabelRule()).labels.tolist() == [-1, -1, -1, 0, -1]
    with pytest.raises(WavegenError, match="4 of 5 audio files have no class .no class sub-folder: they lie at the top"):
        label_files("data", names, LabelRule(), need=True)
    assert label_files("data", names, LabelRule(unlabelled="skip"), need=True).keep.tolist() == [0, 0, 0, 1, 0]


def test_labels_from_a_csv(tmp_path):
    names = ["Kick 02.aiff", "more/EE_Kick_3.wav", "Snare_1.wav", "click.wav"]
    table = tmp_path / "labels.csv"
    table.write_text('path,class\n"Kick 02.aiff",kick\n./more/EE_Kick_3.wav, kick\nSnare_1.wav,snare\n\n'
                     "gone.wav,snare\n")
    lab = label_files("d", names, LabelRule(table=str(table), unlabelled="skip"))
    assert lab.classes == ["kick", "snare"] and lab.labels.tolist() == [0, 0, 1, -1]
    assert lab.notes == [f"{table}: 1 of its 4 rows name no audio file loaded"]
    for text, words in [("a.wav,kick\nb.wav\n", "labels.csv line 2: expected path,class, got 'b.wav'"),
                        ("a.wav,kick\na.wav,snare\n", "line 2: a.wav is 'snare' here but 'kick' on line 1"),
                        ('a.wav,"kick\n', "line 1: not CSV"), ("a.wav,\n", "line 1: an empty class")]:
        table.write_text(text)
        with pytest.raises(WavegenError, match=words) as e:
            label_files("d", ["a.wav"], LabelRule(table=str(table)))
        assert "\n" not in str(e.value)
    with pytest.raises(WavegenError, match="missing.csv: cannot read the labels"):
        label_files("d", names, LabelRule(table=str(tmp_path / "missing.csv")))


def test_auto_window_takes_the_onset_of_one_shots_only():
    rng = np.random.default_rng(0)
    shots = np.concatenate([hit(1000, 40, s)[:, 0] for s in range(4)])[None]  # (1, 4000): four hits of 4 windows
    start, lengths = np.arange(4) * 1000, np.full(4, 1000)
    assert auto_window(shots, start, lengths, 256, 8000)[0] == "first"
    swell = np.linspace(0, 1, 4000, dtype=np.float32)[None] * rng.standard_normal(4000)  # loudest at the end
    assert auto_window(swell, start, lengths, 256, 8000) == ("random", "")
    assert auto_window(shots, np.zeros(1, int), np.full(1, 4000), 256, 100)[0] == "random"  # 40 s: a recording
    assert auto_window(swell, start, lengths, 1000, 8000) == ("first", "")  # a window each: the same, unsaid


def test_bad_class_flags_are_one_line(kit, tmp_path, capsys):
    out = tmp_path / "r"
    for flags, words in [(["--classes-from-names", "(?i)kick["], "not a regular expression"),
                         (["--classes-from-names", "kick", "--labels", "x.csv"], "both give the classes"),
                         (["--classes-from-names", NAMES], "1 of 7 audio files have no class"),
                         (["--unlabelled", "maybe"], "invalid choice")]:
        code, text = cli(capsys, "train", kit, "--out", out, *TINY, *flags)
        assert code == 2 and words in text, text
        assert not out.exists()


def test_a_conditional_run_on_classes_from_names(kit, tmp_path, capsys):
    """Trained, generated from by class, scored, judged and reported with the classes of its names."""
    run = tmp_path / "run"
    code, text = cli(capsys, "train", kit, "--out", run, *TINY, "--batches", 2, "--conditional", "true",
                     "--classes-from-names", NAMES, "--unlabelled", "skip")
    assert code == 0 and "skipped 2 files: voice.m4a" in text and "window auto: first" in text, text
    assert json.loads((run / "data.json").read_text())["classes"] == ["kick", "snare"]
    assert json.loads((run / "config.json").read_text())["classes_from_names"] == NAMES
    assert cli(capsys, "generate", run, "--class", "kick", "--n", 2, "--out", tmp_path / "kicks")[0] == 0
    assert len(list((tmp_path / "kicks").glob("*.wav"))) == 2
    code, text = cli(capsys, "generate", run, "--class", "tom", "--n", 2, "--out", tmp_path / "toms")
    assert code == 2 and "unknown class 'tom' (known: kick, snare)" in text
    code, text = cli(capsys, "classifier", "fit", run, "--epochs", 1)
    assert code == 0 and "(kick " in text and ", snare " in text, text
    code, text = cli(capsys, "eval", run, "--n", 20, "--metrics", "cls_acc,frechet")
    assert code == 0 and "cls_acc per class" in text and "kick" in text, text


SMALL = {"one": 1, "three": 3, "single": 2, "many": 24}  # clips; "single": two classes, one of a single clip


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("few")
    for name, n in SMALL.items():
        for i in range(n):
            kind = ("kick", "snare", "hat")[i % 3] if name != "single" else ("kick", "snare")[i]
            write_wav(root / name / f"{kind}_{i}.wav", hit(400 + 10 * i, 40 * (1 + i % 3), i), sr=8000)
    return root


@pytest.mark.parametrize("name", list(SMALL))
def test_every_command_on_a_few_clips(small, tmp_path, capsys, name):
    """A few clips: train, the judge, and every reader of the run answer in one line or work."""
    data, run = small / name, tmp_path / "run"
    classes = ["--classes-from-names", "(?i)kick|snare|hat"]
    code, text = cli(capsys, "classifier", "fit", data, "--epochs", 5, "--length", 256, *classes)
    if name == "many":  # 24 clips, 5 epochs: a schedule of fewer steps than OneCycleLR's least
        assert code == 0 and "held-out accuracy" in text, text
    else:
        assert code == 2 and ("has 1 file(s)" in text or "one class" in text), text
    conditional = ["--conditional", "true"] if name != "one" else []
    assert cli(capsys, "train", data, "--out", run, *TINY, "--batches", 2, *classes, *conditional)[0] == 0
    assert cli(capsys, "generate", run, "--n", 1, "--out", tmp_path / "g")[0] == 0
    code, text = cli(capsys, "eval", run, "--n", 20, "--metrics", "frechet")  # a Frechet distance needs 2 and 2
    assert code == 0 if name == "many" else "too few to score" in text or "needs two examples or more" in text, text
    assert cli(capsys, "doctor", run)[0] == 0
    if name == "many":
        assert cli(capsys, "report", run)[0] == 0
