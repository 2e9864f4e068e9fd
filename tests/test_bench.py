"""The benchmarks' reference (the post's loop as written) runs, and wavegen's step makes the same updates.
(The benchmarks' figures come from running them in full, not from here.)"""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.oracles.reference_loop import post_step, run
from wavegen.config import make_config
from wavegen.models import build_models
from wavegen.training.step import gan_step


def test_reference_loop_trains(gauss_data):
    r = run(str(gauss_data), batches=7, ngf=32, ndf=32, batch_size=20, log_every=2)
    assert r["batches"] == 7 and r["seconds"] > 0 and r["last"].startswith("loss_g:")


def test_gan_step_makes_the_posts_updates():
    """With the random stream fixed (labels, noise and dropout masks drawn in the same order), wavegen's step
    and the post's loop body produce the same weights, optimiser state and statistics, batch after batch."""
    cfg = make_config("post", ngf=32, ndf=32, batch_size=20, init="default")  # the post's own initialisation
    torch.manual_seed(0)
    G, D = build_models(cfg, 1)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=5e-5, betas=(0.9, 0.999))  # noqa: E731
    opt_G, opt_D, opt_G2, opt_D2 = adam(G), adam(D), adam(G2), adam(D2)
    hard_real, hard_fake = torch.ones(20), torch.zeros(20)
    for i in range(4):
        real = 0.5 * torch.exp(-0.5 * ((torch.arange(100.0) - 49.5) / 8) ** 2) + 0.1 * torch.randn(20, 1, 100)
        torch.manual_seed(100 + i)
        ours = gan_step(G, D, opt_G, opt_D, real, cfg).tolist()
        torch.manual_seed(100 + i)
        post = post_step(G2, D2, opt_G2, opt_D2, torch.nn.BCEWithLogitsLoss(), real, hard_real, hard_fake, nz=100)
        assert ours == pytest.approx(post, rel=1e-5, abs=1e-6)
    for a, b in zip(list(G.parameters()) + list(D.parameters()), list(G2.parameters()) + list(D2.parameters())):
        assert torch.allclose(a, b, atol=1e-7, rtol=1e-6)
    for a, b in zip(list(G.buffers()) + list(D.buffers()), list(G2.buffers()) + list(D2.buffers())):
        assert torch.allclose(a.float(), b.float(), atol=1e-7, rtol=1e-6)  # BatchNorm statistics too



def test_int32_dropout_masks_have_dropouts_law():
    """--dropout-masks int32 keeps each element with probability 1 - p and scales by 1 / (1 - p), like
    nn.Dropout; eval mode is the identity; it replaces every Dropout and leaves checkpoints unchanged."""
    from wavegen.models import Int32Dropout

    torch.manual_seed(0)
    for p in (0.2, 0.5):
        y = Int32Dropout(p)(torch.ones(1000, 1000))
        kept = (y > 0).double().mean().item()
        assert abs(kept - (1 - p)) < 4 * ((p * (1 - p)) / 1e6) ** 0.5  # 4 standard errors at 10^6 draws
        assert y.unique().tolist() == [0.0, pytest.approx(1 / (1 - p))]
        masks = (Int32Dropout(p)(torch.ones(4, 10000)) > 0).double()
        assert abs(torch.corrcoef(masks)[0, 1:].abs().max().item()) < 0.05  # rows are independent draws
    d = Int32Dropout(0.2).eval()
    x = torch.randn(3, 4)
    assert d(x) is x

    cfg = make_config("post", ngf=32, ndf=32)
    torch.manual_seed(1)
    G, D = build_models(cfg, 1)
    torch.manual_seed(1)
    G2, D2 = build_models(make_config("post", ngf=32, ndf=32, dropout_masks="int32"), 1)
    for a, b in ((G, G2), (D, D2)):
        assert not any(type(m) is torch.nn.Dropout for m in b.modules())
        assert sum(isinstance(m, Int32Dropout) for m in b.modules()) == sum(isinstance(m, torch.nn.Dropout) for m in a.modules()) > 0
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_g_step_computes_no_gradient_for_d():
    """The G step needs only D's input gradients; frozen(D) keeps autograd from computing D's weight gradients
    (which the post computes and throws away) and gives requires_grad back afterwards."""
    from wavegen.training.step import frozen

    cfg = make_config("post", ngf=32, ndf=32, batch_size=8)
    G, D = build_models(cfg, 1)
    with frozen(D):
        loss = D(G(torch.randn(8, 100, 1))).mean()
    loss.backward()
    assert all(p.grad is None for p in D.parameters()) and all(p.grad is not None for p in G.parameters())
    assert all(p.requires_grad for p in D.parameters())


def test_frozen_d_makes_bit_identical_updates(monkeypatch):
    """Skipping D's unused weight gradients in the G step changes nothing: weights and stats are equal bit
    for bit to a step that computes them (as the post does)."""
    import contextlib
    import importlib

    train_module = importlib.import_module("wavegen.training.step")

    cfg = make_config("post", ngf=64, ndf=64, batch_size=16)
    torch.manual_seed(0)
    G, D = build_models(cfg, 1)
    results = []
    for skip in (True, False):
        if not skip:
            monkeypatch.setattr(train_module, "frozen", lambda model: contextlib.nullcontext())
        g, d = copy.deepcopy(G), copy.deepcopy(D)
        adam = lambda m: torch.optim.Adam(m.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))  # noqa: E731
        opt_g, opt_d = adam(g), adam(d)
        for i in range(3):
            torch.manual_seed(10 + i)
            stats = gan_step(g, d, opt_g, opt_d, 0.1 * torch.randn(16, 1, 100), cfg)
        results.append((stats, [p.detach().clone() for p in [*g.parameters(), *d.parameters()]]))
    assert torch.equal(results[0][0], results[1][0])
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_gpu_check_runs_without_a_gpu():
    """bench/gpu_check.sh, the script to run the day a GPU is lent, runs every row at smoke size on a CPU, so that it
    cannot rot unseen."""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(["bash", "bench/gpu_check.sh", "--smoke"], cwd=root, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    table = r.stdout[r.stdout.index("| check |"):]
    for row in ("post preset", "fast preset", "time to Frechet", "float32", "bf16", "audio preset", "torchrun"):
        assert row in table
    assert "failed" not in table


def test_gpu_quality_races_and_scores_at_smoke_size_without_a_gpu(tmp_path):
    """bench/gpu_quality.sh, the race to run the day a GPU is lent, trains two seeds of a contender at once, keeps
    best.pt by cls_fd, and prints one table of the judge's scores beside real vs real, at smoke size on a CPU."""
    from wavegen.data.synthetic import make_sounds

    data = make_sounds(tmp_path / "sounds", n=100, sample_rate=8000, seconds=0.128, seed=0)
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(["bash", "bench/gpu_quality.sh", "--data", str(data), "--contenders", "wavegan", "--minutes",
                        "0.01", "--holdout", "0.4", "--n", "20", "--out", str(tmp_path / "race")], cwd=root,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "not GPU figures" in r.stdout
    table = r.stdout[r.stdout.index("| contender |"):].splitlines()
    assert table[0] == "| contender | checkpoint | batches (per seed) | cls_fd | is | cls_acc | coverage |"
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in table[2:] if line.startswith("| ")}
    assert {("real vs real", ""), ("wavegan", "newest"), ("wavegan", "best.pt")} <= set(rows)
    assert rows["wavegan", "newest"].count(",") >= 5  # both seeds' figures, side by side, in every column
    assert "the bar" in r.stdout


def test_gpu_quality_contenders_are_configs_that_build(tmp_path):
    """Every named contender, and one from an overlays file, is a valid run at the race's shape; a bad name stops."""
    from bench.gpu_quality import CONTENDERS, contenders

    from wavegen.models.build import check_model

    overlays = tmp_path / "o.json"
    overlays.write_text('{"wider": {"preset": "audio-gpu", "ndf": 128}}')
    chosen = contenders(",".join([*CONTENDERS, "wider"]), str(overlays))
    assert chosen["wider"] == ("audio-gpu", {"ndf": 128})
    for preset, overrides in chosen.values():
        check_model(make_config(preset, **{**overrides, "length": 8192, "sample_rate": 8000, "conditional": True}), 8192)
    with pytest.raises(SystemExit, match="unknown contender 'nope'"):
        contenders("wavegan,nope", None)
