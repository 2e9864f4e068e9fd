"""Class-conditional training (--conditional true): each family trains a few steps on tiny labelled data, resumes
bit for bit, generates the class asked for; bad input is one line."""
import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import EXACT, tiny_config
from wavegen import checkpoint, generate, read_stats, resume, train
from wavegen.config import make_config
from wavegen.data import make_sounds
from wavegen.errors import WavegenError
from wavegen.models.conditional import ConditionalD, ConditionalG, build_pair

CLASSES = ["chirp", "kick", "snare", "tone"]
FAMILIES = {"dcgan": dict(preset="dcgan", length=512),
            "wavegan": dict(preset="wavegan", length=512, sample_rate=4000, ngf=4, ndf=4, d_steps=2),
            "audio": dict(preset="audio", length=512, sample_rate=4000, ngf=4, ndf=4),
            "ensemble": dict(preset="ensemble", length=512, sample_rate=4000, ngf=4, ndf=2,
                             d_arch="mpd,msd,mrd,spec,wavegan"),
            "istft": dict(preset="ensemble", arch="istft", length=512, sample_rate=4000, ngf=8, ndf=2)}


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    return make_sounds(tmp_path_factory.mktemp("cond") / "sounds", n=48, sample_rate=4000, seconds=0.125, seed=2)


def cond_config(data, out, family="dcgan", **kw):
    return tiny_config(data, out, **{**FAMILIES[family], "conditional": True, "batch_size": 8, **kw})


def test_projection_pair_uses_the_class():
    cfg = make_config("dcgan", ngf=32, ndf=32, length=512, conditional=True)
    torch.manual_seed(0)
    G, D = build_pair(cfg, 1, 512, classes=3)
    assert isinstance(G, ConditionalG) and isinstance(D, ConditionalD)
    z = torch.randn(6, cfg.nz, 1)
    y0, y1 = torch.zeros(6, dtype=torch.long), torch.ones(6, dtype=torch.long)
    x0, x1 = G(z, y0), G(z, y1)  # (6, 1, 512)
    assert x0.shape == (6, 1, 512) and not torch.equal(x0, x1)
    assert D(x0, y0).shape == (6,) and not torch.equal(D(x0, y0), D(x0, y1))
    with pytest.raises(WavegenError, match="two classes"):
        build_pair(cfg, 1, 512, classes=1)


def test_an_ensemble_projects_the_class_at_every_patch_of_every_head():
    from wavegen.models.conditional import ConditionalEnsemble

    cfg = make_config("ensemble", ngf=4, ndf=2, length=512, sample_rate=4000, conditional=True,
                      d_arch="mpd,msd,mrd,spec,wavegan")
    torch.manual_seed(0)
    _, D = build_pair(cfg, 1, 512, classes=3)
    assert isinstance(D, ConditionalEnsemble) and isinstance(D.D.subs["wavegan"], ConditionalD)
    for embed in (e for table in D.embed.values() for e in table):  # start as the projection code does, not at 0
        torch.nn.init.normal_(embed.weight)
    x = torch.randn(4, 1, 512)
    a, b = D(x, torch.zeros(4, dtype=torch.long)), D(x, torch.ones(4, dtype=torch.long))
    for name in a:
        for la, lb, fa, fb in zip(a[name][0], b[name][0], a[name][1], b[name][1]):
            assert la.shape == lb.shape and (la - lb).abs().min() > 0  # every patch hears the class
            assert all(torch.equal(u, v) for u, v in zip(fa[:-1], fb[:-1]))  # the features do not


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_trains_conditionally_and_generates_per_class(sounds, tmp_path, family):
    run = train(cond_config(sounds, tmp_path / "r", family, batches=4, balanced_classes=True))
    assert [r["step"] for r in read_stats(run) if "loss/G" in r][-1] == 4
    files = generate(run, 2, tmp_path / "per", per_class=True)
    assert sorted({p.parent.name for p in files}) == CLASSES and len(files) == 8
    x, sr = sf.read(files[0])
    assert sr == 4000 and len(x) == 512 and np.isfinite(x).all()
    assert len(generate(run, 3, tmp_path / "kick", klass="kick")) == 3
    with pytest.raises(WavegenError, match=r"unknown class 'hat' \(known: chirp, kick, snare, tone\)"):
        generate(run, 3, tmp_path / "hat", klass="hat")


def test_conditional_resume_is_bit_for_bit(sounds, tmp_path):
    kw = dict(balanced_classes=True, preview_every=5, ckpt_every=5, **EXACT)
    straight = train(cond_config(sounds, tmp_path / "straight", batches=12, **kw))
    half = train(cond_config(sounds, tmp_path / "half", batches=6, **kw))
    resume(half, batches=12)
    a, b = (checkpoint.load(checkpoint.list_ckpts(r)[-1]) for r in (straight, half))
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    strip = lambda rows: [r for r in rows if "time/wall_s" not in r]  # noqa: E731
    assert strip(read_stats(straight)) == strip(read_stats(half))


def test_conditional_bad_input_is_one_line(sounds, tmp_path, capsys):
    from conftest import run_cli, write_wav

    flat = tmp_path / "flat"
    for i in range(4):
        write_wav(flat / f"{i}.wav", np.zeros(600, np.float32), 4000)
    with pytest.raises(WavegenError, match="at least two classes"):
        train(cond_config(flat, tmp_path / "a", batches=1))
    skewed = tmp_path / "skewed"
    for name, n in (("a", 10), ("b", 2)):
        for i in range(n):
            write_wav(skewed / name / f"{i}.wav", np.zeros(500, np.float32), 4000)  # one window of 512 each
    train(cond_config(skewed, tmp_path / "b", batches=1, length=512))  # a class smaller than a batch: said, not refused
    assert "class 'b' has 2 training examples, fewer than a batch of 8" in capsys.readouterr().out
    (skewed / "c").mkdir()
    with pytest.raises(WavegenError, match="c: a class folder without audio"):
        train(cond_config(skewed, tmp_path / "c", batches=1, length=512, batch_size=2))
    run = train(tiny_config(sounds, tmp_path / "plain", preset="dcgan", length=512, batches=1))
    with pytest.raises(WavegenError, match="not a conditional run"):
        generate(run, 2, tmp_path / "g", klass="kick")
    r = run_cli("generate", run, "--n", "2", "--out", tmp_path / "g2", "--per-class")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a conditional run" in r.stderr


def test_the_report_sets_each_class_beside_real_examples(sounds, tmp_path):
    """A conditional run's report: per class, the samples asked for it above real examples of it, and players for
    both; an unconditional run on the same data gets one group; a run whose data is gone says so."""
    from wavegen.reports.report import BESIDE_PER_CLASS, SPECTROGRAMS_PER_STEP, write_report

    run = train(cond_config(sounds, tmp_path / "c", batches=2, preview_every=2, n_preview=8))
    page = write_report(run).read_text()
    section = page[page.index("<h2>Samples beside real examples</h2>"):page.index("<h2>Metrics</h2>")]
    assert [c for c in CLASSES if f"<h3>Class {c}</h3>" in section] == CLASSES
    assert section.count("<audio") == len(CLASSES) * 2 * BESIDE_PER_CLASS

    plain = train(tiny_config(sounds, tmp_path / "u", preset="dcgan", length=512, batch_size=8, batches=2,
                              preview_every=2))
    section = write_report(plain).read_text().split("<h2>Samples beside real examples</h2>")[1].split("<h2>")[0]
    assert "<h3>Class" not in section and section.count("<audio") == 2 * SPECTROGRAMS_PER_STEP
    cfg = (plain / "config.json").read_text().replace(str(sounds), str(tmp_path / "gone"))
    (plain / "config.json").write_text(cfg)
    assert "cannot be read now" in write_report(plain).read_text()


def test_a_walk_between_two_classes_keeps_the_noise(sounds, tmp_path, capsys):
    """`generate --interpolate --class kick --to tone`: the first step is the kick of that noise, the last its
    tone, and only the class changes along the way; --to alone or to an unknown class is one line."""
    from wavegen import cli
    from wavegen.models.build import noise
    from wavegen.sampling import between_classes, load_generator

    run = train(cond_config(sounds, tmp_path / "r", batches=2))
    files = generate(run, 5, tmp_path / "walk", walk=True, klass="kick", to="tone")
    assert [p.name for p in files][-1] == "walk.wav" and len(files) == 6
    G, cfg, _ = load_generator(checkpoint.find(run))
    path = between_classes(G, cfg, 5, "eval", 0, torch.device("cpu"), CLASSES.index("kick"), CLASSES.index("tone"))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        z = noise(cfg, 1, torch.device("cpu"))
    G.eval()
    ends = [G(z, torch.tensor([CLASSES.index(c)])).detach()[0] for c in ("kick", "tone")]
    torch.testing.assert_close(path[0], ends[0])
    torch.testing.assert_close(path[-1], ends[1])
    assert not torch.allclose(path[1], path[3])
    for args, problem in [(["--interpolate", "--to", "tone"], "give it with --interpolate and --class"),
                          (["--class", "kick", "--to", "tone"], "give it with --interpolate and --class"),
                          (["--interpolate", "--class", "kick", "--to", "hat"], "unknown class 'hat'")]:
        assert cli.main(["generate", str(run), "--n", "3", "--out", str(tmp_path / "x"), *args]) == 2
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("loss,extra", [("bce", {}), ("nonsat", {"r1_gamma": 1.0}), ("lsgan", {"ema": 0.9}),
                                        ("hinge", {"spectral_norm": True}), ("wgan-gp", {"d_steps": 2})])
def test_every_loss_and_regulariser_trains_conditionally(sounds, tmp_path, loss, extra):
    run = train(cond_config(sounds, tmp_path / "r", batches=3, loss=loss, **extra))
    rows = [r for r in read_stats(run) if "loss/G" in r]
    assert [r["step"] for r in rows][-1] == 3 and all(np.isfinite(r["loss/D"]) for r in rows)
    if extra.get("r1_gamma") or loss == "wgan-gp":
        assert all(r["loss/penalty"] > 0 for r in rows)  # the penalty saw the classes and had a gradient


def test_files_used_whole_keep_their_classes(sounds, tmp_path):
    """Without --length each file is one example (the post's way): its class folder still counts."""
    run = train(cond_config(sounds, tmp_path / "r", batches=2, length=0))
    files = generate(run, 1, tmp_path / "per", per_class=True)
    assert sorted(p.parent.name for p in files) == CLASSES and len(sf.read(files[0])[0]) == 500
