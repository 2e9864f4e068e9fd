"""The benchmarks' reference (the post's loop as written) runs, and wavegen's step makes the same updates.
(The benchmarks' figures come from running them in full, not from here.)"""
import copy
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from reference_loop import post_step, run  # noqa: E402

from wavegen.config import make_config  # noqa: E402
from wavegen.models import build_models  # noqa: E402
from wavegen.train import gan_step  # noqa: E402


def test_reference_loop_trains(gauss_data):
    r = run(str(gauss_data), batches=7, ngf=32, ndf=32, batch_size=20, log_every=2)
    assert r["batches"] == 7 and r["seconds"] > 0 and r["last"].startswith("loss_g:")


def test_gan_step_makes_the_posts_updates():
    """With the random stream fixed (labels, noise and dropout masks drawn in the same order), wavegen's step
    and the post's loop body produce the same weights, optimiser state and statistics, batch after batch."""
    cfg = make_config("seed", ngf=32, ndf=32, batch_size=20, init="default")  # the post's own initialisation
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

