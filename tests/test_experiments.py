"""The research probes under experiments/ build and compute what they claim, at toy size (their figures in docs/ come
from running them in full)."""
import numpy as np
import torch

from wavegen.config import make_config
from wavegen.models import build_models


def test_every_audio_quality_contender_is_a_config_that_builds():
    """experiments/audio_quality.py's contenders are named on its command line, comma-separated: each must be a valid run
    at the bench's shape, and no name may hold a comma."""
    from experiments import audio_quality

    from wavegen.models.build import check_model

    assert {"wavegan", "audio", "ensemble"} <= set(audio_quality.KNOWN)
    for name, (preset, overrides) in audio_quality.KNOWN.items():
        assert "," not in name
        cfg = make_config(preset, **{**overrides, "length": 8192, "sample_rate": 8000})
        check_model(cfg, 8192)


def test_the_floor_gate_silences_only_the_quiet_frames():
    """experiments/floor_gate.py: a frame 40 dB under its clip's loudest is zeroed at -30 dB and kept at -50 dB; the length
    (here not a whole number of frames) and the loud frames stay as they were."""
    from experiments.floor_gate import FRAME, gate

    x = np.zeros((1, 1, 3 * FRAME + 5), dtype=np.float32)
    x[..., :FRAME], x[..., FRAME:2 * FRAME] = 0.5, 0.005  # a loud frame, a frame 40 dB under it
    assert np.array_equal(gate(x, 50), x)
    gated = gate(x, 30)
    assert gated.shape == x.shape and np.all(gated[..., :FRAME] == 0.5) and np.all(gated[..., FRAME:] == 0)


def test_the_autoencoder_floor_reconstructs_at_full_length_and_its_loss_is_zero_on_a_perfect_copy():
    """experiments/autoencoder_floor.py: the latent is 16 channels at 1/64 of the rate, bounded by tanh; the decoder gives
    back the input's shape; the reconstruction loss is 0 for the clip itself and positive for a changed one, and
    its gradient reaches every weight of both halves."""
    from experiments.autoencoder_floor import LATENT, autoencoder, reconstruction_loss

    torch.manual_seed(0)
    enc, dec = autoencoder()
    x = torch.sin(torch.arange(8192.0) * 0.05).reshape(1, 1, -1).repeat(2, 1, 1)  # (2, 1, 8192)
    z = enc(x)
    assert z.shape == (2, LATENT, 128) and z.abs().max() <= 1
    assert dec(z).shape == x.shape
    assert reconstruction_loss(x, x).item() == 0 and reconstruction_loss(0.5 * x, x).item() > 0
    reconstruction_loss(dec(z), x).backward()
    for p in [*enc.parameters(), *dec.parameters()]:
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_critic_memory_scores_one_value_per_clip_for_a_critic_and_an_ensemble():
    """experiments/critic_memory.py reads one score per clip from a single critic and from an ensemble."""
    from experiments.critic_memory import scores

    x = torch.randn(5, 1, 4096)
    for preset in ("audio", "ensemble"):
        _, D = build_models(make_config(preset, length=4096), 1, 4096)
        s = scores(D.eval(), x, batch=2)
        assert s.shape == (5,) and torch.isfinite(s).all()
        assert torch.allclose(s[:2], scores(D, x[:2]), atol=1e-5)  # batching does not change a clip's score


def test_the_latent_gan_makes_latents_of_the_autoencoders_shape_and_a_step_trains_both():
    """experiments/latent_gan.py: G makes (B, 16, frames) tanh-bounded latents that D scores one per example, and one
    step changes every weight of both (but D's last bias, which cancels in a Wasserstein loss)."""
    from experiments.latent_gan import NZ, LatentD, LatentG, gan_step

    torch.manual_seed(0)
    g, d = LatentG(128), LatentD(128)
    fake = g(torch.randn(3, NZ))
    assert fake.shape == (3, 16, 128) and fake.abs().max() <= 1 and d(fake).shape == (3,)
    before = [p.detach().clone() for p in (*g.parameters(), *d.parameters())]
    gan_step(g, d, torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4),
             torch.rand(40, 16, 128) * 2 - 1)
    after = list((*g.parameters(), *d.parameters()))
    unchanged = [i for i, (b, p) in enumerate(zip(before, after)) if torch.equal(b, p)]
    assert unchanged == [len(after) - 1]  # d.fc.bias
