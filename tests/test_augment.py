"""`--augment`: differentiable augmentations of what D sees (wavegen/training/augment.py), ADA's controller of their
probability, and the step that uses them; runs without them draw nothing more than before."""
import copy

import pytest
import torch

from conftest import EXACT, tiny_config
from tests.oracles.reference_loop import post_step
from wavegen import checkpoint, read_stats, resume, train
from wavegen.config import AUGMENT_OPS, make_config
from wavegen.errors import WavegenError
from wavegen.models.conditional import build_pair
from wavegen.statkeys import AUGMENT_KEYS
from wavegen.training.augment import AUGMENTS, GAIN_DB, MASK, SHIFT, Augment, real_sign
from wavegen.training.state import optimisers
from wavegen.training.step import Step, gan_step, schedule, stat_keys


def test_every_op_is_registered_and_the_config_names_them_all():
    assert tuple(AUGMENTS) == AUGMENT_OPS == make_config("post").augment_ops
    with pytest.raises(WavegenError, match="augment_ops"):
        make_config("post", augment="ada", augment_ops=("gain", "warp"))
    with pytest.raises(WavegenError, match="augment_p 0 augments nothing"):
        make_config("post", augment="fixed")


@pytest.mark.parametrize("name", AUGMENT_OPS)
def test_each_op_is_the_identity_at_p_0_and_differentiable_at_p_1(name):
    torch.manual_seed(0)
    x = (0.3 * torch.randn(6, 2, 512)).requires_grad_(True)  # (B, C, L)
    op = AUGMENTS[name]
    assert torch.equal(op(x, torch.tensor(0.0)), x)
    y = op(x, torch.tensor(1.0))
    assert y.shape == x.shape and not torch.equal(y, x)
    (grad,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_what_each_op_does_to_an_example():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 256)
    one = torch.tensor(1.0)
    g = AUGMENTS["gain"](x, one)[:, 0, 0]  # (B,)
    assert (g.log10().abs() * 20 <= GAIN_DB + 1e-4).all() and g.std() > 0
    masked = (AUGMENTS["mask"](x, one) == 0).sum((1, 2))  # zeroed samples per example
    assert masked.max() <= MASK * 256 and masked.float().mean() > 5
    silent = (AUGMENTS["shift"](x, one) == 0).sum((1, 2))  # the silence a shift lets in, at one end
    assert silent.max() <= SHIFT * 256 and silent.float().mean() > 5
    assert (AUGMENTS["noise"](torch.zeros(4, 1, 256), one) == 0).all()  # noise is relative to the example's level
    tone = torch.sin(torch.arange(256.0) * 0.5).repeat(64, 1, 1)
    assert AUGMENTS["eq"](tone, one).std((1, 2)).std() > 0.01  # each example its own filter


def test_adas_p_rises_while_d_is_sure_of_the_reals_and_falls_otherwise():
    aug = Augment(make_config("post", augment="ada", augment_p=0.5, ada_interval=2, ada_speed=20), torch.device("cpu"))
    ps = []
    for rt in [1.0, 1.0, 1.0, 0.9, -1.0, 0.0, 0.6, 0.7]:
        aug.observe(torch.tensor(rt))
        ps.append(round(aug.p.item(), 4))
    assert ps == [0.5, 0.6, 0.6, 0.7, 0.7, 0.6, 0.6, 0.7]  # +-2/20 every 2nd batch, by the sign of the pair's mean - 0.6
    for _ in range(40):
        aug.observe(torch.tensor(1.0))
    assert aug.p.item() == 1.0
    assert real_sign(torch.tensor([2.0, 1.0, -1.0, 3.0]), None, "nonsat") == 0.5
    assert real_sign(torch.tensor([0.9, 0.4]), None, "lsgan") == 0  # least squares: real's target 1, fake's 0
    assert real_sign(torch.tensor([5.0, 7.0]), torch.tensor([6.0, 6.0]), "wgan-gp") == 0  # against the fakes' level
    ensemble = {"mpd": ([torch.tensor([[1.0, 1.0], [-3.0, -3.0]]), torch.tensor([[0.5], [2.0]])], [])}
    assert real_sign(ensemble, None, "hinge") == 0  # per example the mean over heads: +0.75, -0.5


def test_augment_none_draws_nothing_more_than_the_posts_loop():
    """The post preset's step, augment off, leaves the random stream where the post's loop as written leaves it."""
    cfg = make_config("post", ngf=16, ndf=16, batch_size=8, init="default", dropout_g=0.0, dropout_d=0.0)
    assert stat_keys(cfg) == stat_keys(make_config("post")) and not set(AUGMENT_KEYS) & set(stat_keys(cfg))
    torch.manual_seed(0)
    G, D = build_pair(cfg, 1, 100, 0)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    real = torch.randn(8, 1, 100) * 0.1  # (B, C, L)
    states = []
    for step in (lambda: gan_step(G, D, *optimisers(G, D, cfg), real, cfg),
                 lambda: post_step(G2, D2, *optimisers(G2, D2, cfg), torch.nn.BCEWithLogitsLoss(), real,
                                   torch.ones(8), torch.zeros(8), 100)):
        torch.manual_seed(1)
        step()
        states.append(torch.get_rng_state())
    assert torch.equal(*states)


@pytest.mark.parametrize("preset, kw", [
    ("post", dict(loss="bce")),
    ("post", dict(loss="nonsat")),
    ("post", dict(loss="lsgan")),
    ("post", dict(loss="hinge", r1_gamma=1.0)),
    ("wavegan", dict(length=1024, ngf=4, ndf=4, amp="true")),  # wgan-gp, its interpolates augmented
    ("fast", dict(ngf=16, ndf=16)),  # d_batch joint
    ("audio", dict(length=1024, ngf=4, ndf=4, conditional=True, r1_gamma=1.0)),
    ("ensemble", dict(length=1024, ngf=4, ndf=4, d_arch="msd,spec")),
])
def test_every_loss_and_d_train_two_batches_with_ada(preset, kw):
    """Two batches of each loss, a joint D batch, a conditional D with R1 and an ensemble, with ada: finite stats,
    and p moved by ADA after the second (ada_interval 2)."""
    cfg = make_config(preset, **{"ngf": 16, "ndf": 16, "batch_size": 4, **kw}, augment="ada", augment_p=0.5,
                      ada_interval=2, ada_speed=10, ada_target=0.61)  # no r_t of 4-example batches is 0.61: p moves
    torch.manual_seed(0)
    length = cfg.length or 100
    G, D = build_pair(cfg, 1, length, 3 if cfg.conditional else 0)
    step = Step(cfg, G, D, *optimisers(G, D, cfg))
    reals = [torch.randn(4, 1, length).clamp(-1, 1) for _ in range(cfg.d_steps)]  # (B, C, L) each
    ys = [torch.tensor([0, 1, 2, 0])] * cfg.d_steps if cfg.conditional else None
    rows = torch.stack([step(reals, ys, schedule(cfg, s)) for s in range(2)])
    keys = stat_keys(cfg)
    assert torch.isfinite(rows).all() and keys[-2:] == AUGMENT_KEYS
    assert rows[0, keys.index("augment/p")] == 0.5 and abs(step.augment.p.item() - 0.5) == pytest.approx(0.2)


def batch_rows(run):
    return [r for r in read_stats(run) if "loss/G" in r]


def test_resume_with_ada_is_bit_for_bit(gauss_data, tmp_path):
    """p and ADA's sums are in every checkpoint: a run stopped between two adjustments of p (batch 20, interval 3)
    and resumed repeats a straight run exactly, p and r_t included."""
    kw = dict(ngf=16, ndf=16, augment="ada", ada_interval=3, ada_speed=30, loss="nonsat", **EXACT)
    straight = train(tiny_config(gauss_data, tmp_path / "straight", batches=40, **kw))
    half = train(tiny_config(gauss_data, tmp_path / "half", batches=20, **kw))
    resume(half, batches=40)
    a, b = (checkpoint.load(checkpoint.find(run)) for run in (straight, half))
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    assert all(torch.equal(a["augment"][k], b["augment"][k]) for k in ("p", "sum", "seen"))
    rows = batch_rows(straight)
    assert rows == batch_rows(half)
    assert max(r["augment/p"] for r in rows) > 0  # p moved: the resume had a p to restore


def test_the_console_line_and_the_report_show_p_and_rt(capsys):
    from wavegen.reports.report import augment_fact
    from wavegen.training.console import Console

    row = {"loss/G": 1.0, "loss/D": 1.0, "D/real": 0.5, "D/fake": -0.5, "grad_norm/G": 0.1, "grad_norm/D": 0.1,
           "augment/p": 0.25, "augment/rt": 0.6}
    console = Console(1, True)
    console.open(10, 0)
    console.report(row, 1, 0, 1.0)
    console.close()
    assert "augment p 0.250 r_t +0.60" in capsys.readouterr().out
    assert augment_fact(make_config("post", augment="ada").to_dict(), [row]) == (
        "ada (shift, gain, eq, noise, mask), r_t held near 0.6; at the end p 0.250, r_t +0.60 over the last 1 batches")


def test_the_leak_experiment_reads_each_ops_trace():
    """experiments/augment_leak.py: a zeroed span inside examples is a hole, a late start an onset, gains a spread."""
    from experiments.augment_leak import leak_stats

    x = torch.randn(8, 1024).numpy()
    x[:, 400:500] = 0  # a mask's hole
    x[:, :128] = 0  # a shift's silence before the onset
    x *= 10 ** (torch.arange(8.0).numpy()[:, None] / 20)  # 0 to 7 dB
    s = leak_stats(x)
    assert s["holes"] == 1.0 and 0.12 < s["onset"] < 0.13 and 2 < s["level"] < 2.5
