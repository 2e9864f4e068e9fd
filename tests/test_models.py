import pytest
import torch

from wavegen.config import make_config
from wavegen.models import Discriminator, Generator, build_models, generator_mode, seed_plan
from wavegen.models.layers import NoiseInjection, UpConv, minibatch_stddev


def lengths_through(model, x):
    """The length after every conv layer of a Sequential."""
    out = []
    for layer in model.main:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            out.append(x.shape[-1])
    return out


def test_seed_layers_match_the_post():
    plan = seed_plan(512, 512)
    G, D = Generator(plan, nz=100, dropout=0.2), Discriminator(plan, channels=1, dropout=0.2)
    assert sum(p.numel() for p in G.parameters()) == 895_488
    assert sum(p.numel() for p in D.parameters()) == 700_480
    z = torch.randn(2, 100, 1)
    assert lengths_through(G, z) == [4, 10, 22, 46, 100]
    x = G(z)
    assert x.shape == (2, 1, 100)
    assert lengths_through(D, x) == [97, 47, 22, 10, 4, 1]
    assert D(x).shape == (2,)
    convs = [m for m in list(G.modules()) + list(D.modules()) if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    assert all(m.bias is None for m in convs)
    assert [m.kernel_size[0] for m in convs] == [4, 4, 4, 4, 10] + [4] * 6
    assert [m.stride[0] for m in convs] == [1, 2, 2, 2, 2] + [1, 2, 2, 2, 2, 2]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 1, 32, 64, 128, 256, 512, 1]
    kinds = [type(m).__name__ for m in G.main]
    assert kinds[:4] == ["ConvTranspose1d", "BatchNorm1d", "LeakyReLU", "Dropout"] and kinds[-1] == "Tanh"
    assert type(D.main[-1]).__name__ == "Conv1d"  # logits out, no sigmoid
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert all(m.p == 0.2 for m in G.modules() if isinstance(m, torch.nn.Dropout))


def test_dropout_zero_removes_dropout_layers_and_dcgan_init():
    cfg = make_config("post", ngf=64, ndf=64, dropout_g=0.0, dropout_d=0.0, init="dcgan")
    G, D = build_models(cfg, 1)
    assert not any(isinstance(m, torch.nn.Dropout) for m in list(G.modules()) + list(D.modules()))
    w = G.main[0].weight
    assert abs(w.std().item() - 0.02) < 0.002


def test_sampling_leaves_training_state_alone():
    G, _ = build_models(make_config("post", ngf=32, ndf=32), 1)
    z = torch.randn(8, 100, 1)
    G.train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    rng = torch.get_rng_state()
    for mode in ("batch", "train", "eval"):
        with generator_mode(G, mode, torch.device("cpu")):
            x = G(z)
        assert x.shape == (8, 1, 100) and not x.requires_grad
    assert G.training
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # running stats untouched
    assert torch.equal(rng, torch.get_rng_state())  # training's random stream untouched
    with generator_mode(G, "batch", torch.device("cpu")):
        a, b = G(z), G(z)
    assert torch.equal(a, b)  # no dropout in batch mode


def test_discriminator_without_batchnorm():
    G, D = build_models(make_config("post", ngf=32, ndf=32, d_batchnorm=False), 1)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in D.modules())
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules())  # G keeps its BatchNorm
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv1d)]
    assert all(m.bias is not None for m in convs)  # no BatchNorm shift to make biases redundant
    assert D(torch.randn(4, 1, 100)).shape == (4,)


def test_seed_discriminator_is_blind_to_a_common_offset():
    """Why the post's samples keep an offset: BatchNorm on a batch of its own removes any shift the whole
    batch shares, so D scores x and x + 0.3 the same; without BatchNorm it does not."""
    x = torch.randn(16, 1, 100)
    for batchnorm, blind in ((True, True), (False, False)):
        torch.manual_seed(0)
        _, D = build_models(make_config("post", ngf=32, ndf=32, dropout_g=0.0, dropout_d=0.0, init="default", d_batchnorm=batchnorm), 1)
        with torch.no_grad():
            a, b = D(x), D(x + 0.3)
        assert torch.allclose(a, b, atol=1e-4) == blind


@pytest.mark.parametrize("arch,length", [("dcgan", 100), ("dcgan", 37), ("dcgan", 1001), ("wavegan", 256)])
@pytest.mark.parametrize("upsample", ["transpose", "nearest", "linear"])
def test_options_keep_every_family_and_length(arch, length, upsample):
    """Noise inputs, upsampling + convolution and the minibatch std channel fit any length G and D plan for."""
    width = 16 if arch == "wavegan" else 32
    cfg = make_config("fast", arch=arch, ngf=width, ndf=width, upsample=upsample, g_noise="all", d_mbstd=4)
    G, D = build_models(cfg, 2, length)
    x = G(torch.randn(6, cfg.nz, 1))
    assert x.shape == (6, 2, length) and D(x).shape == (6,)
    noises = [m for m in G.modules() if isinstance(m, NoiseInjection)]
    assert noises[-1] is G.main[-1] and not noises[-1].shared  # the output's: after the Tanh, its own per channel
    assert len(noises) >= 2 and all(m.shared for m in noises[:-1])


def test_noise_inputs_start_silent_and_differ_per_example():
    layer = NoiseInjection(3)
    x = torch.zeros(4, 3, 50)
    assert torch.equal(layer(x), x)  # a zero scale: G starts as it would without noise inputs
    with torch.no_grad():
        layer.scale.fill_(0.1)
    y = layer(x)  # (4, 3, 50)
    assert torch.equal(y[:, 0], y[:, 1]) and not torch.equal(y[0], y[1])  # one map per example, shared by channels
    own = NoiseInjection(2, shared=False)
    with torch.no_grad():
        own.scale.fill_(1.0)
    with torch.no_grad():
        z = own(torch.zeros(200, 2, 100))
    assert not torch.equal(z[:, 0], z[:, 1]) and abs(float(z.std()) - 1.0) < 0.02
    assert abs(float((z[..., 1:] * z[..., :-1]).mean())) < 0.01  # white: no correlation between neighbours


@pytest.mark.parametrize("kernel,stride,length", [(4, 2, 10), (5, 2, 11), (10, 2, 46), (25, 4, 16), (3, 1, 20)])
def test_upconv_has_the_transposed_length_and_no_checkerboard(kernel, stride, length):
    for mode in ("nearest", "linear"):
        up = UpConv(1, 1, kernel, stride, mode, bias=False)
        torch.nn.init.ones_(up.conv.weight)
        y = up(torch.ones(1, 1, length))[0, 0]
        assert len(y) == (length - 1) * stride + kernel
        inner = y[up.conv_kernel:-up.conv_kernel]  # away from the zero padding
        assert torch.allclose(inner, inner[0].expand_as(inner))  # a constant input stays constant
    t = torch.nn.ConvTranspose1d(1, 1, 5, stride=2, bias=False)
    torch.nn.init.ones_(t.weight)
    inner = t(torch.ones(1, 1, 11))[0, 0, 5:-5]
    assert inner.max() > inner.min()  # what it replaces: alternate samples get 3 and 2 taps


def test_minibatch_stddev_appends_each_groups_spread():
    x = torch.zeros(8, 3, 5)
    x[::2] = 1.0  # group size 2 takes examples 4 apart: (0, 4), (1, 5), ...: equal pairs, std 0
    y = minibatch_stddev(x, 2)
    assert y.shape == (8, 4, 5) and torch.allclose(y[:, :3], x) and float(y[:, 3].max()) < 1e-3
    x = torch.arange(8.0)[:, None, None].expand(8, 3, 5)
    y = minibatch_stddev(x, 4)  # groups (0, 2, 4, 6) and (1, 3, 5, 7): std sqrt(5) each
    assert torch.allclose(y[:, 3], torch.full((8, 5), 5 ** 0.5), atol=1e-3)
    assert minibatch_stddev(torch.randn(7, 3, 5), 4).shape == (7, 4, 5)  # 7 examples: one group


def test_joint_batch_lets_batchnorm_d_see_an_offset():
    """The post's two passes hide a shift of every fake (BatchNorm removes it); one joint pass does not."""
    from wavegen.training.distributed import DPair

    torch.manual_seed(0)
    _, D = build_models(make_config("post", ngf=32, ndf=32, dropout_d=0.0), 1)
    pair, real, fake = DPair(D), torch.randn(16, 1, 100), torch.randn(16, 1, 100)
    with torch.no_grad():
        for joint, blind in ((False, True), (True, False)):
            a, b = pair(real, fake, joint=joint)[1], pair(real, fake + 0.3, joint=joint)[1]
            assert torch.allclose(a, b, atol=1e-4) == blind
