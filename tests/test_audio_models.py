"""The audio pieces: MPD, MSD and MRD sub-discriminators, their ensemble and feature matching, and the inverse-STFT
generator, at several lengths: shapes, a training step, and gradients reaching G through each judge."""
import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.models.discriminators import Ensemble, MultiPeriod, MultiResolution, MultiScale, feature_matching, mrd_ffts
from wavegen.models.istft import ISTFTGenerator, istft_sizes

LENGTHS = [100, 1024, 8192]


def ensemble(channels: int, length: int) -> Ensemble:
    return Ensemble({"mpd": MultiPeriod(channels, 2), "msd": MultiScale(channels, 2),
                     "mrd": MultiResolution(channels, 4, mrd_ffts(length))})


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_head_judges_patches_and_returns_its_features(length, channels):
    torch.manual_seed(0)
    out = ensemble(channels, length)(torch.randn(3, channels, length))
    assert set(out) == {"mpd", "msd", "mrd"}
    heads = {"mpd": 5, "msd": 3, "mrd": 3}
    for name, (logits, feats) in out.items():
        assert len(logits) == len(feats) == heads[name]
        for y, f in zip(logits, feats):
            assert y.dim() == 2 and y.shape[0] == 3 and y.shape[1] >= 1  # (B, N) patch logits
            assert len(f) >= 5 and all(t.shape[0] == 3 for t in f)


def test_periods_fold_the_waveform():
    """A head of period p sees sample t in row t // p, column t % p: a click every p samples is one column."""
    head = MultiPeriod(1, 2, periods=(4,)).heads[0]
    seen = {}
    head.layers[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    x = torch.zeros(1, 1, 64)
    x[..., ::4] = 1.0
    head(x)
    assert seen["x"].shape == (1, 1, 16, 4) and seen["x"][0, 0, :, 0].eq(1).all() and seen["x"][0, 0, :, 1:].eq(0).all()


def test_mrd_windows_scale_down_for_short_clips():
    assert mrd_ffts(16384) == (2048, 1024, 512) and mrd_ffts(8192) == (2048, 1024, 512)
    assert mrd_ffts(1024) == (256, 128, 64) and mrd_ffts(100) == (64, 32, 16)


@pytest.mark.parametrize("length", LENGTHS)
def test_istft_generator_makes_the_length_and_learns_through_each_judge(length):
    torch.manual_seed(0)
    G = ISTFTGenerator(length, nz=16, width=16, channels=1, blocks=2)
    x = G(torch.randn(4, 16, 1))
    assert x.shape == (4, 1, length) and torch.isfinite(x).all()
    D = ensemble(1, length)
    for name in ("mpd", "msd", "mrd"):
        G.zero_grad()
        logits, _ = D(G(torch.randn(4, 16, 1)))[name]
        sum(y.mean() for y in logits).backward()
        assert G.dense.weight.grad.abs().sum() > 0, f"no gradient from {name} reaches G"


def test_feature_matching_is_zero_on_the_same_input_and_trains_g():
    torch.manual_seed(0)
    D, G = ensemble(1, 1024), ISTFTGenerator(1024, nz=8, width=16, channels=1, blocks=1)
    real = torch.randn(4, 1, 1024) * 0.3
    assert feature_matching(D(real), D(real)).item() == 0
    opt = torch.optim.Adam(G.parameters(), lr=3e-3)
    z = torch.randn(4, 8, 1)
    losses = []
    for _ in range(40):  # G alone, pulled towards real's features: the loss must fall
        loss = feature_matching(D(real), D(G(z)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_istft_sizes_follow_the_length_and_refuse_the_impossible():
    assert istft_sizes(16000) == (512, 128) and istft_sizes(100) == (16, 4) and istft_sizes(8192, 256, 64) == (256, 64)
    with pytest.raises(WavegenError, match="n_fft"):
        istft_sizes(100, 256)
