import torch

from wavegen.config import make_config
from wavegen.models import Discriminator, Generator, build_models, generator_mode, seed_plan


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
    """Why the seed's samples keep an offset: BatchNorm on a batch of its own removes any shift the whole
    batch shares, so D scores x and x + 0.3 the same; without BatchNorm it does not."""
    x = torch.randn(16, 1, 100)
    for batchnorm, blind in ((True, True), (False, False)):
        torch.manual_seed(0)
        _, D = build_models(make_config("post", ngf=32, ndf=32, dropout_g=0.0, dropout_d=0.0, init="default", d_batchnorm=batchnorm), 1)
        with torch.no_grad():
            a, b = D(x), D(x + 0.3)
        assert torch.allclose(a, b, atol=1e-4) == blind
