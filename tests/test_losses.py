"""Each loss and regulariser on its own, then every loss with every model family for a few real steps."""
import pytest
import torch
from torch import nn

from conftest import tiny_config
from wavegen.training import losses
from wavegen.config import make_config
from wavegen.errors import WavegenError
from wavegen.models import build_models
from wavegen.training.regularisers import EMA, gradient_penalty, instance_noise_std, r1_penalty


def test_bce_with_exact_labels_is_the_non_saturating_loss():
    torch.manual_seed(0)
    r, f = torch.randn(50), torch.randn(50)
    one, zero = torch.ones(50), torch.zeros(50)
    assert torch.allclose(losses.d_loss("bce", r, f, one, zero), losses.d_loss("nonsat", r, f))
    assert torch.allclose(losses.g_loss("bce", f, one), losses.g_loss("nonsat", f))


def test_each_loss_is_minimal_where_d_is_right():
    right_r, right_f = torch.full((4,), 1.0), torch.full((4,), -1.0)
    assert losses.d_loss("lsgan", torch.ones(4), torch.zeros(4)) == 0
    assert losses.d_loss("hinge", right_r, right_f) == 0
    assert losses.d_loss("hinge", right_r * 0.5, right_f) == 0.5  # inside the margin: penalised
    assert losses.d_loss("wgan-gp", torch.tensor([3.0]), torch.tensor([1.0])) == -2  # minus the critic's gap


@pytest.mark.parametrize("name", losses.LOSSES)
def test_every_g_loss_pushes_fakes_towards_real(name):
    d_fake = torch.full((8,), 0.5, requires_grad=True)  # between every loss's targets
    losses.g_loss(name, d_fake, torch.ones(8)).backward()
    assert (d_fake.grad < 0).all()  # lowering G's loss means raising D's output on fakes
    d_real, d_fake = torch.full((8,), 0.5, requires_grad=True), torch.full((8,), 0.5, requires_grad=True)
    losses.d_loss(name, d_real, d_fake, torch.ones(8), torch.zeros(8)).backward()
    assert (d_real.grad < 0).all() and (d_fake.grad > 0).all()


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalties_on_a_linear_d():
    torch.manual_seed(0)
    w = torch.randn(1, 2, 5)
    D = Linear(w.clone())
    real, fake = torch.randn(6, 2, 5), torch.randn(6, 2, 5)
    assert torch.allclose(gradient_penalty(D, real, fake), (w.norm() - 1) ** 2, atol=1e-5)
    assert torch.allclose(r1_penalty(D, real), w.pow(2).sum(), atol=1e-5)
    r1_penalty(D, real).backward()  # the penalty trains D: its gradient reaches the weights
    assert torch.allclose(D.w.grad, 2 * w, atol=1e-5)


def test_instance_noise_fades():
    assert instance_noise_std(0.2, 0, 10_000) == 0.2
    assert instance_noise_std(0.2, 100, 50) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 150) == 0


def test_ema_follows_the_weights():
    G = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = EMA(G, 0.9)
    before = [p.clone() for p in G.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G[1].running_mean.fill_(5)
    ema.update(G, step=10_000)  # long after the warm-up: the decay is 0.9
    for e, b in zip(ema.model.parameters(), before):
        assert torch.allclose(e, b + 0.1)
    assert torch.equal(ema.model[1].running_mean, G[1].running_mean)
    assert not any(p.requires_grad for p in ema.model.parameters())
    # warm-up: at the first update the decay is 1/10, so the average moves 90% of the way to G
    ema, start = EMA(G, 0.999), [p.clone() for p in G.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update(G, step=0)
    for e, b in zip(ema.model.parameters(), start):
        assert torch.allclose(e, b + 0.9)


def test_spectral_norm_bounds_d():
    torch.manual_seed(0)
    _, D = build_models(make_config("post", ngf=32, ndf=32, spectral_norm=True, dropout_d=0.0, d_batchnorm=False), 1)
    for _ in range(20):  # power iterations run in training-mode forward passes
        D(torch.randn(4, 1, 100))
    convs = [m for m in D.modules() if isinstance(m, nn.Conv1d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("arch", ["dcgan", "wavegan"])
@pytest.mark.parametrize("loss", losses.LOSSES)
def test_every_loss_trains_every_family(tmp_path, arch, loss):
    from wavegen.data import GaussianSpec, make_gaussian
    from wavegen.runfolder import read_stats
    from wavegen.training import train

    data = make_gaussian(tmp_path / "g", GaussianSpec(n=24, length=64, sigma=6))
    extra = dict(r1_gamma=1.0, ema=0.9, instance_noise=0.05) if loss == "hinge" else {}
    cfg = tiny_config(data, tmp_path / "run", arch=arch, loss=loss, batches=2, batch_size=8, ngf=16, ndf=16,
                      preview_every=1, **extra)
    torch.manual_seed(cfg.seed)  # as train() does: G0 is the run's initial G
    G0, _ = build_models(cfg, 1, 64)
    train(cfg)
    rows = [r for r in read_stats(cfg.out) if "loss/G" in r]
    assert len(rows) == 2 and all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in rows)
    from wavegen.sampling import load_generator
    from wavegen.checkpoint import find

    G, _, state = load_generator(find(cfg.out))
    assert ("G_ema" in state) == (loss == "hinge")
    assert any(not torch.equal(a, b) for a, b in zip(G.state_dict().values(), G0.state_dict().values()))


def test_r1_with_several_d_steps(gauss_data, tmp_path):
    from wavegen.runfolder import read_stats
    from wavegen.training import train

    cfg = tiny_config(gauss_data, tmp_path / "run", loss="hinge", r1_gamma=1.0, d_steps=3, batches=2)
    train(cfg)
    rows = [r for r in read_stats(cfg.out) if "loss/G" in r]
    assert len(rows) == 2 and all(0 < r["loss/penalty"] < 1e3 for r in rows)


def test_lazy_penalty_is_n_times_the_penalty_on_every_nth_d_step(gauss_data, tmp_path):
    """penalty_every N: D steps whose count across batches is a multiple of N get N x the penalty, the others none
    (each compared with the same step from the same weights and seed); the log shows the penalty that was added."""
    from wavegen.training.state import optimisers
    from wavegen.training.step import gan_step, stat_keys

    def d_after(step, **kw):
        cfg = tiny_config(gauss_data, tmp_path, loss="wgan-gp", d_steps=1, **kw)
        torch.manual_seed(0)
        G, D = build_models(cfg, 1)
        opt_G, opt_D = optimisers(G, D, cfg)
        stats = gan_step(G, D, opt_G, opt_D, 0.1 * torch.randn(8, 1, 100), cfg, step=step)
        return torch.cat([p.detach().flatten() for p in D.parameters()]), stats[stat_keys(cfg).index("loss/penalty")]

    lazy_on, logged_on = d_after(4, penalty_every=2)
    lazy_off, logged_off = d_after(5, penalty_every=2)
    assert torch.equal(lazy_on, d_after(4, gp_lambda=20.0)[0]) and logged_on > 0
    assert torch.equal(lazy_off, d_after(5, gp_lambda=0.0)[0]) and logged_off == 0
    with pytest.raises(WavegenError, match="penalty_every"):
        make_config("post", penalty_every=0)


def test_the_loss_registry_and_the_configs_choices_agree():
    from wavegen.config import Config

    assert Config.__dataclass_fields__["loss"].metadata["choices"] == tuple(losses.LOSSES)
