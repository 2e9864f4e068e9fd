"""The harmonic-plus-noise G (`--arch hpn`): its synthesiser renders the pitch it is given, keeps harmonics under
Nyquist, shapes its noise by the bands; the G makes any length at any rate, conditional or not, passes gradients
to every weight, keeps its phase under bf16 autocast, trains, and refuses what it cannot build in one line."""
import math

import numpy as np
import pytest
import torch

from conftest import EXACT, tiny_config
from wavegen.config import Config, make_config
from wavegen.errors import WavegenError
from wavegen.models.build import build_models
from wavegen.models.conditional import build_pair
from wavegen.models import hpn
from wavegen.models.hpn import HPNGenerator, Synth
from wavegen.models.registry import GENERATORS
from wavegen.training.losses import per_example

SR = 8000


def hpn_config(**kw):
    return make_config("dcgan", **{**dict(arch="hpn", sample_rate=SR, length=1024, ngf=8, ndf=16), **kw})


def steady(synth: Synth, f0: float, harmonic: int, amp: float = 0.5):
    """Controls for one steady harmonic of f0 (every frame alike), batch of one."""
    t, k = synth.frames, len(synth.k)
    shares = torch.zeros(1, k, t)
    shares[:, harmonic - 1] = 1
    return torch.full((1, t), f0), torch.full((1, t), amp), shares


def test_the_arch_choices_are_the_registered_generators():
    assert set(Config.__dataclass_fields__["arch"].metadata["choices"]) == set(GENERATORS)
    assert {n: s.d for n, s in GENERATORS.items()} == {"dcgan": "dcgan", "wavegan": "wavegan", "istft": "dcgan",
                                                       "hpn": "wavegan"}


@pytest.mark.parametrize("length, rate, channels", [(100, 4000, 1), (1000, 8000, 2), (2048, 22050, 1)])
def test_any_length_and_rate(length, rate, channels):
    d_arch = "dcgan" if length < 1024 else ""  # the family's D (WaveGAN's) needs 1,024 samples: below, dcgan's
    G, D = build_models(hpn_config(length=length, sample_rate=rate, d_arch=d_arch, loss="nonsat"), channels, length)
    x = G(torch.randn(3, 100, 1))
    assert x.shape == (3, channels, length) and x.abs().max() < 1 and per_example(D(x)).shape == (3,)


def test_a_known_pitch_renders_that_pitch():
    """One harmonic at a steady f0 is that sine, sample for sample over 8192 samples (the phase runs in float64)."""
    synth = Synth(8192, SR, 32, 8, 4)
    n = torch.arange(1, 8193, dtype=torch.float64)
    for f0, k in [(220.0, 1), (110.0, 2)]:
        x = synth.harmonic(*steady(synth, f0, k))[0].double()
        want = 0.5 * torch.sin(2 * math.pi * k * f0 * n / SR)
        assert (x - want).abs().max() < 1e-4
        spectrum = np.abs(np.fft.rfft(x.numpy()))
        assert abs(spectrum.argmax() * SR / 8192 - k * f0) < SR / 8192


def test_harmonics_above_nyquist_are_silent():
    synth = Synth(4096, SR, 32, 8, 4)
    f0, amp, _ = steady(synth, 1500.0, 1)
    shares = torch.full((1, 8, synth.frames), 1 / 8)  # asks for 1.5, 3, 4.5, ... kHz: two are under 4 kHz
    x = synth.harmonic(f0, amp, shares)[0].numpy()
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    near = (np.abs(freqs - 1500) < 50) | (np.abs(freqs - 3000) < 50)
    assert power[~near].sum() < 1e-6 * power[near].sum()  # nothing folded back (4.5 kHz to 3.5, 6 kHz to 2, ...)
    assert abs(x.std() * 2 - 0.5) < 0.01  # the whole loudness went to the two harmonics left: 0.25 each


def test_noise_follows_its_bands():
    torch.manual_seed(0)
    synth = Synth(8192, SR, 32, 4, 8)
    flat = synth.noise(torch.ones(4, 8, synth.frames))
    assert abs(float(flat.std()) - 1) < 0.05  # a band magnitude is the std of the noise if every band had it
    low = torch.zeros(4, 8, synth.frames)
    low[:, 0] = 1  # only the band at 0 Hz: its interpolation reaches to a seventh of Nyquist
    power = np.abs(np.fft.rfft(synth.noise(low).numpy(), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / SR)
    assert power[:, freqs > SR / 2 / 7 + 100].sum() < 0.01 * power.sum()


@pytest.mark.parametrize("shape", ["envelope", "shares"])
def test_gradients_reach_every_weight_and_conditioning_works(shape):
    cfg = hpn_config(g_noise="all", conditional=True, harmonic_shape=shape)
    G, D = build_pair(cfg, 1, 1024, classes=3)
    z = torch.randn(4, 100, 1)
    x = G(z, torch.tensor([0, 1, 2, 0]))
    assert x.shape == (4, 1, 1024)
    (x.square().mean() + D(x, torch.tensor([0, 1, 2, 0])).mean()).backward()
    dead = [n for n, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, dead
    assert not torch.equal(G(z[:1], torch.tensor([0])), G(z[:1], torch.tensor([1])))


def test_pitch_comes_from_its_own_network_and_bends_slowly():
    """f0 is the pitch network's alone (the frame network, however large its weights grow, cannot drag it to a bound),
    starts near the bounds' geometric mean, and moves over the clip by at most PITCH_SPAN's reach;
    the noise bands start well under the harmonics, and the harmonics fall with k."""
    torch.manual_seed(0)
    G = HPNGenerator(8192, SR, 100, 16, 1, harmonics=16, noise_bands=8)
    z = torch.randn(32, 100, 1)
    with torch.no_grad():
        f0, amp, shares, mags = G.controls(z)
        for p in list(G.body.parameters()) + list(G.head.parameters()):
            p.mul_(100)
        assert torch.equal(G.controls(z)[0], f0)
    assert 100 < f0.median() < 250  # near sqrt(50 x 500) = 158 Hz
    octaves = torch.log2(f0.max(1).values / f0.min(1).values)  # (N,) each clip's range
    assert octaves.max() < 2 * hpn.PITCH_SPAN * math.log2(10) / 4 * 1.01  # sigmoid's slope is at most 1/4
    per_knot = torch.log2(f0[:, 1:] / f0[:, :-1]).abs().max()
    assert per_knot < 0.1  # no jitter from frame to frame
    assert mags.median() < 0.1 * amp.median()
    assert shares[:, 0].median() > 5 * shares[:, -1].median()  # a voice's falling spectrum, not a flat buzz


def test_the_envelope_holds_a_formant_still_as_the_pitch_moves():
    """Read through the envelope, the loudest harmonic is the one nearest the envelope's peak (here ~1 kHz) whatever
    f0 is; the interpolation between bands is continuous in f0 (a gradient reaches the pitch through it)."""
    k = torch.arange(1, 49.0).view(48, 1)
    env = torch.full((1, 32, 1), -10.0)
    env[0, 8] = 0.0  # band 8 of 32 from 0 to 4 kHz: 1,032 Hz
    peak = 8 * 4000 / 31
    for f0 in (110.0, 170.0, 230.0):
        logits = hpn.envelope_logits(env, torch.full((1, 1), f0), k, 4000.0)  # (1, K, 1)
        assert abs((logits[0, :, 0].argmax().item() + 1) * f0 - peak) < f0 / 2 + 4000 / 31
    f0 = torch.full((1, 1), 150.0, requires_grad=True)
    hpn.envelope_logits(env, f0, k, 4000.0)[0, 6, 0].backward()  # harmonic 7, 1,050 Hz: past the peak, falling
    assert f0.grad.item() < 0


def test_the_phase_survives_bf16_autocast():
    """G's network may run in bf16 (its controls then differ by bf16's rounding), the synthesiser never: the same
    controls render the same sine under autocast, to float32's precision, over 8192 samples."""
    synth = Synth(8192, SR, 32, 8, 4)
    controls = steady(synth, 220.0, 3)
    want = synth.harmonic(*controls)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = synth.harmonic(*controls)
        G = HPNGenerator(1024, SR, 100, 8, 1, harmonics=8, noise_bands=4)
        x = G(torch.randn(2, 100, 1))
    assert got.dtype == x.dtype == torch.float32 and (got - want).abs().max() < 1e-6


@pytest.mark.parametrize("kw, needle", [(dict(sample_rate=0), "give --sample-rate"),
                                        (dict(f0_max=5000.0), "f0_max <= half the sample rate"),
                                        (dict(frame_hop=4096), "frame_hop <= the length"),
                                        (dict(g_postfilter=8), "the hpn G has none"),
                                        (dict(harmonics=0), "'harmonics' must be positive"),
                                        (dict(noise_bands=1), "envelope needs noise_bands >= 2")])
def test_impossible_settings_are_one_line_errors(kw, needle):
    with pytest.raises(WavegenError, match=needle):
        hpn_config(**kw)


@pytest.mark.parametrize("f0_grad", ["phase", "none"])
def test_a_conditional_hpn_run_trains(tmp_path, f0_grad):
    from wavegen import read_stats, train
    from wavegen.data.synthetic import make_sounds

    data = make_sounds(tmp_path / "s", n=16, sample_rate=4000, seconds=0.128, seed=0)
    cfg = tiny_config(data, tmp_path / "r", "dcgan", arch="hpn", sample_rate=4000, length=512, ngf=8, ndf=16,
                      conditional=True, batch_size=4, batches=2, stats_every=1, layer_every=1, f0_grad=f0_grad,
                      **EXACT)  # per-layer stats read every weight's gradient: untaught f0's weights have none
    rows = [r for r in read_stats(train(cfg)) if "loss/G" in r]
    assert len(rows) == 2 and all(math.isfinite(r["loss/G"]) and math.isfinite(r["loss/D"]) for r in rows)


def test_harmonicity_tells_a_voice_from_a_whisper():
    from wavegen.evaluation.harmonics import harmonicity, pitch_track

    t = np.arange(4096) / SR
    rng = np.random.default_rng(0)
    voice = np.stack([np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t) + 0.1 * rng.normal(size=t.size)
                      for f in (110, 180, 240)])  # (3, L)
    whisper = rng.normal(size=(3, t.size))
    assert harmonicity(voice, voice, SR) > 0.8 and harmonicity(whisper, voice, SR) < 0.05
    f0, _, voiced = pitch_track(voice, SR)
    assert voiced.all() and np.allclose(np.median(f0, 1), [110, 180, 240], rtol=0.03)  # no octave errors


def test_f0_grad_changes_the_gradient_not_the_sound():
    """The running phase sums f0 over every later sample, so its gradient to f0 grows with the clip; "local" keeps
    only f0's effect within its own frame and "none" none at all. The rendered sound is the same in each."""
    outs, grads = [], {}
    for mode in ("phase", "local", "none"):
        synth = Synth(1024, SR, 32, 8, 4, f0_grad=mode)
        f0, amp, shares = steady(synth, 150.0, 2)
        f = (f0 + torch.linspace(0, 30, f0.shape[1])).requires_grad_(True)  # a glide: the gradient has a sign
        x = synth.harmonic(f, amp.requires_grad_(True), shares)
        x.square().mean().backward()
        outs.append(x.detach())
        grads[mode] = 0.0 if f.grad is None else f.grad.abs().sum().item()
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert grads["none"] == 0 and 0 < grads["local"] < grads["phase"]
