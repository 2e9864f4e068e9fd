"""Model families at any length: the planned DCGAN, WaveGAN, and the errors for what they cannot make."""
import pytest
import torch

from conftest import run_cli, tiny_config
from wavegen.config import make_config
from wavegen.errors import WavegenError
from wavegen.models import PhaseShuffle, build_models, dcgan_plan, seed_plan
from wavegen.models.wavegan import wavegan_strides


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("length", [16, 64, 99, 100, 128, 1000, 4096, 16384, 65536])
def test_dcgan_plan_makes_exactly_the_length_and_one_logit(length):
    torch.manual_seed(0)
    G, D = build_models(make_config("post", ngf=8, ndf=16), 1, length)
    x = G(torch.randn(2, 100, 1))
    assert x.shape == (2, 1, length)
    assert D(x).shape == (2,)
    plan = dcgan_plan(length, 8, 16)
    assert plan.g_lengths()[-1] == length and plan.d_lengths(length)[-1] == 1


def test_the_seed_length_gives_the_posts_layers():
    assert dcgan_plan(100, 512, 512) == seed_plan(512, 512)
    assert dcgan_plan(64, 512, 512).g_channels[0] == 512  # widest layer next to the noise, as in the seed


def test_wavegan_sizes_match_the_paper():
    G, D = build_models(make_config("wavegan"), 1, 16384)
    assert round(n_params(G) / 1e6, 1) == 19.1
    assert round(n_params(D) / 1e6, 1) == 17.4
    assert wavegan_strides(16384) == [4] * 5
    assert wavegan_strides(32768) == [4] * 5 + [2]
    assert wavegan_strides(65536) == [4] * 6


@pytest.mark.parametrize("length", [32, 256, 2048, 32768])
@pytest.mark.parametrize("upsample", ["transpose", "nearest"])
def test_wavegan_small_widths_any_power_of_two(length, upsample):
    G, D = build_models(make_config("wavegan", ngf=2, ndf=2, upsample=upsample, length=length), 2, length)
    x = G(torch.rand(3, 100, 1) * 2 - 1)
    assert x.shape == (3, 2, length) and x.abs().max() <= 1
    assert D(x).shape == (3,)
    assert sum(isinstance(m, PhaseShuffle) for m in D.modules()) == min(4, len(wavegan_strides(length)) - 1)


@pytest.mark.parametrize("kw, needle", [
    (dict(length=10), "too short"),
    (dict(length=1000, layers=2), "needs more than 2"),
    (dict(length=64, layers=9), "too short for 9"),
    (dict(ngf=12), "ngf must be"),
    (dict(ndf=40), "ndf must be"),
    (dict(arch="wavegan", length=100), "wavegan makes lengths"),
    (dict(arch="wavegan", length=16384, layers=3), "has 5 layers"),
])
def test_impossible_models_are_refused(kw, needle):
    with pytest.raises(WavegenError, match=needle):
        make_config("post", **kw)


def test_a_length_the_layers_cannot_make_is_refused_before_writing(gauss_data, tmp_path):
    r = run_cli("train", gauss_data, "--out", tmp_path / "run", "--arch", "wavegan", "--batches", "1")
    assert r.returncode == 2 and "wavegan makes lengths" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_phase_shuffle_shifts_each_example_within_its_radius():
    torch.manual_seed(0)
    x = torch.arange(40.0).repeat(8, 3, 1)  # (8, 3, 40): a ramp, so a shift is visible
    ps = PhaseShuffle(2)
    y = ps(x)
    shifts = (x[:, 0, 10] - y[:, 0, 10]).tolist()  # inside the edges out[t] = x[t - shift]
    assert all(s in (-2, -1, 0, 1, 2) for s in shifts) and len(set(shifts)) > 1
    for b, s in enumerate(shifts):
        s = int(s)
        assert torch.equal(y[b, :, 2:-2], x[b, :, 2 - s:38 - s])  # every channel of an example shifts together
        assert y[b, 0, 0] == (x[b, 0, -s] if s < 0 else x[b, 0, s])  # reflection at the left edge
    assert torch.equal(ps.eval()(x), x)  # only in training


def test_wavegan_trains_on_its_own_length(tmp_path):
    from wavegen.data import GaussianSpec, make_gaussian
    from wavegen.runfolder import read_stats
    from wavegen.training import train

    data = make_gaussian(tmp_path / "g64", GaussianSpec(n=40, length=64, sigma=6))
    cfg = tiny_config(data, tmp_path / "run", preset="wavegan", length=0, ngf=4, ndf=4, batch_size=8, batches=3)
    train(cfg)
    rows = [r for r in read_stats(cfg.out) if "loss/G" in r]
    assert len(rows) == 3 and rows[-1]["epoch"] == 2  # 5 D steps of 8 examples per G step: an epoch of 40 each
    assert all(torch.isfinite(torch.tensor(r["loss/penalty"])) for r in rows)


@pytest.mark.parametrize("arch, length", [("dcgan", 100), ("wavegan", 1024)])
def test_the_post_filter_starts_as_the_identity_and_learns(arch, length):
    """g_postfilter: G's first output is what it would be without the filter; a G step changes the filter."""
    from wavegen.models.layers import PostFilter

    shape = dict(arch=arch, length=length, sample_rate=8000, ngf=8, ndf=16)
    z = torch.rand(3, 100, 1)
    torch.manual_seed(0)
    plain, _ = build_models(make_config("audio", **shape), 2, length)
    torch.manual_seed(0)
    G, D = build_models(make_config("audio", **shape, g_postfilter=8), 2, length)
    assert torch.allclose(G(z), plain(z), atol=1e-6)
    (f,) = [m for m in G.modules() if isinstance(m, PostFilter)]
    w0 = f.conv.weight.detach().clone()
    opt = torch.optim.Adam(G.parameters(), 1e-3)
    (-D(G(z)).mean()).backward()
    opt.step()
    assert f.conv.weight.shape == (2, 1, 8) and not torch.equal(f.conv.weight, w0)
    with pytest.raises(WavegenError, match="g_postfilter is for the dcgan and wavegan G"):
        make_config("audio", arch="istft", g_postfilter=8)
