"""`wavegen train --init-from`: a run starts from exactly the source's weights, --freeze-d leaves D's first layers
as they were, a fine-tuned run resumes bit for bit from its own checkpoints, classes are matched by name, and bad
input is one line."""
import json
import shutil

import pytest
import torch

from conftest import EXACT, tiny_config
from wavegen import checkpoint, resume, train
from wavegen.cli import main
from wavegen.reports.summary import write_summary
from wavegen.data import GaussianSpec, make_gaussian, make_sounds
from wavegen.training.init_from import d_layers, finetune_config
from wavegen.training.loop import Trainer

SHORT = dict(batch_size=8, ckpt_every=2, preview_every=2, layer_every=0, **EXACT)


@pytest.fixture(scope="module")
def source(tmp_path_factory, gauss_data):
    """A post run with an averaged G (ema), 2 batches."""
    return train(tiny_config(gauss_data, tmp_path_factory.mktemp("ft") / "src", ngf=16, ndf=16, ema=0.9, batches=2,
                             **SHORT))


def weights(state_dict):
    return {k: v.clone() for k, v in state_dict.items()}


def test_a_run_starts_from_the_source_weights(source, gauss_data, tmp_path):
    state = checkpoint.load(checkpoint.find(source))
    cfg = finetune_config(source, str(gauss_data), str(tmp_path / "ft"), None, {"lr_g": 1e-4, "seed": 5})
    t = Trainer(cfg)
    for model, key in ((t.state.G, "G"), (t.state.D, "D"), (t.state.ema.model, "G_ema")):
        got = model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in state[key].items()), key
    assert not torch.equal(state["G"]["main.0.weight"], state["G_ema"]["main.0.weight"])  # three different sets
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["init_from"] == str(checkpoint.find(source)) and saved["init_step"] == 2
    assert (saved["lr_g"], saved["seed"], saved["ngf"], saved["ema"]) == (1e-4, 5, 16, 0.9)
    assert len(t.state.opt_G.state) == 0  # fresh optimiser state


def test_freeze_d_keeps_the_first_layers_and_resume_is_exact(source, gauss_data, tmp_path):
    src = checkpoint.load(checkpoint.find(source))["D"]
    kw = dict(batches=4, freeze_d=2)
    straight = train(finetune_config(source, str(gauss_data), str(tmp_path / "a"), None, kw))
    half = train(finetune_config(source, str(gauss_data), str(tmp_path / "b"), None, {**kw, "batches": 2}))
    moved = tmp_path / "gone"
    shutil.move(str(source), moved)  # the resume reads the run's own checkpoints, never the source
    try:
        resume(half, batches=4)
    finally:
        shutil.move(str(moved), str(source))
    a, b = (checkpoint.load(checkpoint.find(r)) for r in (straight, half))
    assert all(torch.equal(a[m][k], b[m][k]) for m in ("G", "D", "G_ema") for k in a[m])
    stats = ("running_mean", "running_var", "num_batches_tracked")  # BatchNorm's averages: D trains on batch stats
    params = [k for k in src if not k.endswith(stats)]
    frozen = [k for k in params if int(k.split(".")[1]) < 8]  # conv, BN, LeakyReLU, Dropout: twice
    assert len(frozen) == 6 and all(torch.equal(a["D"][k], src[k]) for k in frozen)
    assert not torch.equal(a["D"]["main.8.weight"], src["main.8.weight"])  # the third conv trains
    assert len(a["opt_D"]["param_groups"][0]["params"]) == len(params) - len(frozen)
    assert f"started from `{checkpoint.find(source)}` (batch 2)" in write_summary(straight)


def test_conditional_classes_are_matched_by_name(tmp_path):
    data = make_sounds(tmp_path / "s", n=32, sample_rate=4000, seconds=0.125, seed=0)
    kw = dict(preset="dcgan", length=512, conditional=True, ngf=16, ndf=16, batches=1, **SHORT)
    src = train(tiny_config(data, tmp_path / "src", **kw))
    (data / "chirp").rename(data / "whistle")  # classes now kick, snare, tone, whistle
    shutil.rmtree(data / "tone")
    t = Trainer(finetune_config(src, str(data), str(tmp_path / "ft"), None, {}))
    old = checkpoint.load(checkpoint.find(src))["G"]["embed.weight"]  # rows: chirp, kick, snare, tone
    new = t.state.G.embed.weight.detach()  # rows: kick, snare, whistle
    assert torch.equal(new[:2], old[1:3]) and not any(torch.equal(new[2], r) for r in old)
    assert t.state.D.embed.weight.shape[0] == 3


def test_bad_input_is_one_line(source, gauss_data, tmp_path, capsys):
    longer = make_gaussian(tmp_path / "longer", GaussianSpec(n=20, length=128, seed=1))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((source / "config.json").read_text())
    out = str(tmp_path / "out")
    cases = {("--init-from", str(source), "--ngf", "32"): "--ngf cannot change",
             ("--init-from", str(source), "--length", "64"): "--length cannot change",
             ("--init-from", str(tmp_path / "nothing")): "no such run folder",
             ("--init-from", str(empty)): "no checkpoints",
             ("--init-from", str(source / "config.json")): "not a loadable wavegen checkpoint",
             ("--freeze-d", "1"): "give --init-from",
             ("--init-from", str(source), "--freeze-d", "9"): "D has 6 layers"}
    for args, words in cases.items():
        assert main(["train", str(gauss_data), "--out", out, *args]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    assert main(["train", str(longer), "--out", out, "--init-from", str(source)]) == 2
    err = capsys.readouterr().err.strip()
    assert "examples of 128 samples" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_freeze_d_counts_the_layers_of_each_family():
    from wavegen.config import make_config
    from wavegen.models.conditional import build_pair

    _, D = build_pair(make_config("audio", length=1024, ngf=4, ndf=4), 1, 1024)
    assert [type(m).__name__ for m in d_layers(D)] == ["Conv1d"] * 3 + ["Linear"]  # strides 4 at 1024, then dense
