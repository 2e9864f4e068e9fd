"""The audio pieces: MPD, MSD and MRD sub-discriminators, their ensemble and feature matching, and the inverse-STFT
generator, at several lengths: shapes, a training step, and gradients reaching G through each judge."""
import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.models.discriminators import (Ensemble, MultiPeriod, MultiResolution, MultiScale, MultiSpectrum, mrd_ffts,
                                          spec_ffts)
from wavegen.models.istft import ISTFTGenerator, istft_sizes
from wavegen.training.losses import feature_matching

LENGTHS = [100, 1024, 8192]


def ensemble(channels: int, length: int) -> Ensemble:
    return Ensemble({"mpd": MultiPeriod(channels, 2), "msd": MultiScale(channels, 2),
                     "mrd": MultiResolution(channels, 4, mrd_ffts(length)),
                     "spec": MultiSpectrum(channels, 4, spec_ffts(length))})


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_head_judges_patches_and_returns_its_features(length, channels):
    torch.manual_seed(0)
    out = ensemble(channels, length)(torch.randn(3, channels, length))
    heads = {"mpd": 5, "msd": 3, "mrd": 3, "spec": len(spec_ffts(length))}
    assert set(out) == set(heads)
    for name, (logits, feats) in out.items():
        assert len(logits) == len(feats) == heads[name]
        for y, f in zip(logits, feats):
            assert y.dim() == 2 and y.shape[0] == 3 and y.shape[1] >= 1  # (B, N) patch logits
            assert len(f) >= 4 and all(t.shape[0] == 3 for t in f)


def test_periods_fold_the_waveform():
    """A head of period p sees sample t in row t // p, column t % p: a click every p samples is one column."""
    head = MultiPeriod(1, 2, periods=(4,)).heads[0]
    seen = {}
    head.layers[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    x = torch.zeros(1, 1, 64)
    x[..., ::4] = 1.0
    head(x)
    assert seen["x"].shape == (1, 1, 16, 4) and seen["x"][0, 0, :, 0].eq(1).all() and seen["x"][0, 0, :, 1:].eq(0).all()


def test_mrd_strides_frequency_and_keeps_every_frame():
    from wavegen.models.discriminators import ResolutionHead

    head = ResolutionHead(256, 1, 4)
    _, feats = head(torch.randn(2, 1, 2048))
    frames, bins = 2048 // 64 + 1, 129  # hop a quarter of the window, centred frames
    assert feats[0].shape == (2, 4, frames, bins)
    assert [f.shape[-2:] for f in feats[1:4]] == [(frames, 65), (frames, 33), (frames, 17)]


def test_mrd_windows_scale_down_for_short_clips():
    assert mrd_ffts(16384) == (2048, 1024, 512) and mrd_ffts(8192) == (2048, 1024, 512)
    assert mrd_ffts(1024) == (256, 128, 64) and mrd_ffts(100) == (64, 32, 16)
    assert spec_ffts(8192) == (512, 256, 128) and spec_ffts(1024) == (64, 32, 16) and spec_ffts(100) == (16,)


def test_spec_sees_a_faint_floor_that_a_waveform_barely_holds():
    """SPEC's log: silence is 0; white noise 40 dB under a full-scale sine (each bin near the floor, 54 dB under
    the sine's peak) well above 0; the sine's peak bin about log 500."""
    head = MultiSpectrum(1, 4, (256,)).heads[0]
    t = torch.arange(4096.0)
    silence, sine = torch.zeros(1, 1, 4096), torch.sin(2 * torch.pi * 0.1 * t).view(1, 1, -1)
    noise = 1e-2 * torch.randn(1, 1, 4096, generator=torch.Generator().manual_seed(0))
    assert head.spectrum(silence).abs().max() == 0
    assert 0.2 < head.spectrum(noise)[..., 4:-4].mean() < 1.0  # away from the padded edges
    assert torch.log(torch.tensor(300.0)) < head.spectrum(sine).max() < torch.log(torch.tensor(700.0))


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
    for _ in range(80):  # G alone, pulled towards real's features: the loss must fall
        loss = feature_matching(D(real), D(G(z)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_feature_matching_compares_batches_not_pairs():
    """A generated batch has no partner for each clip: the same clips in another order match perfectly, and one clip
    repeated (a collapse) does not, however typical that clip is."""
    torch.manual_seed(0)
    D = ensemble(1, 1024)
    real = torch.randn(8, 1, 1024) * torch.linspace(0.1, 1, 8).view(8, 1, 1)
    assert feature_matching(D(real), D(real.flip(0))).item() < 1e-5
    assert feature_matching(D(real), D(real[3:4].expand(8, 1, 1024))).item() > 1e-2


def _tone_from_one_bin(phase: str, k: int) -> torch.Tensor:
    """The istft G's output when its head says: all the energy in bin k, and a phase (or phase advance) of 0."""
    G = ISTFTGenerator(1024, nz=8, width=16, channels=1, blocks=1, n_fft=64, phase=phase)
    with torch.no_grad():
        G.head.weight.zero_()
        G.head.bias.zero_()
        G.head.bias[:G.bins] = -30  # log-magnitudes: silence ...
        G.head.bias[k] = 0  # ... but bin k
        return G(torch.randn(1, 8, 1))[0, 0]


def test_istft_instantaneous_frequency_makes_a_steady_tone_of_a_constant_output():
    """With "if", an output of 0 is the bin's own phase advance: a clean sinusoid at the bin's frequency. With "angle",
    the same output restarts the phase in every frame, and bin 5's four overlapping frames (it advances 5 pi / 2 per
    hop of a quarter window) cancel."""
    def spectrum(x):  # of the middle of the clip, away from the edges
        return torch.fft.rfft(x[128:-128] * torch.hann_window(768)).abs() ** 2

    steady, restarted = spectrum(_tone_from_one_bin("if", 5)), spectrum(_tone_from_one_bin("angle", 5))
    tone = round(5 / 64 * 768)  # bin 5 of 64 is 5/64 of the rate
    assert steady.argmax().item() == tone
    assert steady[tone - 1:tone + 2].sum() > 0.9 * steady.sum()  # one clean tone
    assert restarted[tone - 1:tone + 2].sum() < 0.01 * steady[tone - 1:tone + 2].sum()


def test_istft_runs_from_before_if_load_with_the_angle_they_trained_with():
    from wavegen.config import config_from_dict, make_config

    d = make_config("ensemble", arch="istft").to_dict()
    del d["istft_phase"]
    assert config_from_dict(d).istft_phase == "angle" and make_config("ensemble", arch="istft").istft_phase == "if"


def test_istft_noise_inputs_vary_the_output_for_one_code():
    torch.manual_seed(0)
    z = torch.randn(1, 8, 1).repeat(2, 1, 1)  # the same code twice
    for noise in ("none", "hidden", "output", "all"):
        G = ISTFTGenerator(256, nz=8, width=16, channels=1, blocks=2, noise=noise)
        for p in G.parameters():  # noise scales start at 0 in hidden layers: open them
            if p.dim() == 2 and p.shape[1] == 1:
                p.data.fill_(0.5)
        x = G(z)
        assert torch.equal(x[0], x[1]) == (noise == "none")


def test_istft_sizes_follow_the_length_and_refuse_the_impossible():
    assert istft_sizes(16000) == (512, 128) and istft_sizes(100) == (16, 4) and istft_sizes(8192, 256, 64) == (256, 64)
    with pytest.raises(WavegenError, match="n_fft"):
        istft_sizes(100, 256)


# Training with them ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    from wavegen.data.synthetic import make_sounds

    return make_sounds(tmp_path_factory.mktemp("sounds") / "s", n=16, sample_rate=8000, seconds=0.128, seed=0)


def audio_config(data, out, **kw):
    from wavegen.config import make_config

    base = dict(arch="istft", d_arch="mpd,msd,mrd,spec", loss="lsgan", ngf=16, ndf=2, feature_matching=2.0,
                batch_size=4, stats_every=2, print_every=100, preview_every=100, ckpt_every=3, layer_every=0, device="cpu")
    return make_config("dcgan", data=str(data), out=str(out), **{**base, **kw})


@pytest.mark.parametrize("loss,extra", [("lsgan", {}), ("hinge", {}), ("nonsat", {"r1_gamma": 1.0}),
                                        ("wgan-gp", {"d_mbstd": 4})])
def test_an_ensemble_trains_and_logs_each_sub_discriminator(sounds, tmp_path, loss, extra):
    from wavegen import read_stats, train

    run = train(audio_config(sounds, tmp_path / "r", loss=loss, batches=3, **extra))
    rows = [r for r in read_stats(run) if "loss/G" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        parts = [r["loss/D/mpd"], r["loss/D/msd"], r["loss/D/mrd"], r["loss/D/spec"]]
        assert r["loss/D"] == pytest.approx(sum(parts), rel=1e-5) and r["loss/G/fm"] > 0


def test_tensorboard_shows_each_sub_discriminator(sounds, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from wavegen import train

    run = train(audio_config(sounds, tmp_path / "r", batches=2, tensorboard=True))
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert {"loss/D/mpd", "loss/D/msd", "loss/D/mrd", "loss/G/fm"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("loss/D/mrd")] == [1, 2]


def test_a_penalty_on_an_ensemble_bounds_the_sum_of_its_heads():
    """The critic a gradient penalty measures is the ensemble's per-example sum of mean head logits."""
    from wavegen.training.losses import per_example
    from wavegen.training.regularisers import gradient_penalty, r1_penalty

    class TwoHeads(torch.nn.Module):  # heads w1.x and w2.x repeated over 3 patches: critic (w1 + w2).x
        def __init__(self):
            super().__init__()
            self.w1, self.w2 = torch.nn.Parameter(torch.randn(8)), torch.nn.Parameter(torch.randn(8))

        def forward(self, x):
            flat = x.flatten(1)
            return {"a": ([(flat @ self.w1)[:, None].expand(-1, 3)], [[]]), "b": ([(flat @ self.w2)[:, None]], [[]])}

    D, real, fake = TwoHeads(), torch.randn(5, 1, 8), torch.randn(5, 1, 8)
    w = (D.w1 + D.w2).detach()
    assert torch.allclose(per_example(D(real)), real.flatten(1) @ w, atol=1e-5)
    assert torch.allclose(gradient_penalty(D, real, fake), (w.norm() - 1) ** 2, atol=1e-5)
    assert torch.allclose(r1_penalty(D, real), w.pow(2).sum(), atol=1e-5)
    gradient_penalty(D, real, fake).backward()
    assert D.w1.grad.abs().sum() > 0 and D.w2.grad.abs().sum() > 0


def test_an_ensemble_run_resumes_bit_for_bit(sounds, tmp_path):
    from wavegen import checkpoint, read_stats, train
    from wavegen.training.loop import resume

    straight = train(audio_config(sounds, tmp_path / "a", batches=6, d_arch="mpd,mrd,msd"))
    half = train(audio_config(sounds, tmp_path / "b", batches=3, d_arch="mpd,mrd,msd"))
    resume(half, batches=6)
    a, b = (checkpoint.load(checkpoint.find(r)) for r in (straight, half))
    for part in ("G", "D"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    strip = lambda rows: [r for r in rows if "time/wall_s" not in r]  # noqa: E731
    assert strip(read_stats(straight)) == strip(read_stats(half))


def test_lazy_penalties_a_post_filter_and_spec_resume_bit_for_bit(sounds, tmp_path):
    """The audio preset with this issue's later options: a resume in mid-rhythm (4 D steps done, penalties every
    3rd) keeps the rhythm and matches the straight run."""
    from wavegen import checkpoint, read_stats, train
    from wavegen.config import make_config
    from wavegen.training.loop import resume

    def run(name, batches):
        return train(make_config("audio", data=str(sounds), out=str(tmp_path / name), length=1024, sample_rate=8000,
                                 batch_size=4, ngf=4, ndf=4, d_arch="wavegan,spec", g_postfilter=16, penalty_every=3,
                                 batches=batches, stats_every=1, ckpt_every=2, device="cpu"))

    straight, half = run("a", 5), run("b", 2)
    resume(half, batches=5)
    a, b = (checkpoint.load(checkpoint.find(r)) for r in (straight, half))
    for part in ("G", "D", "G_ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    strip = lambda rows: [r for r in rows if "time/wall_s" not in r]  # noqa: E731
    assert strip(read_stats(straight)) == strip(read_stats(half))
    penalised = [r["loss/penalty"] > 0 for r in read_stats(straight) if "loss/G" in r]
    assert penalised == [True, True, False, True, True]  # D steps 0, 3 | 6 | 9 | 12: batches 0, 1, 3, 4 (2 each)


def test_impossible_ensembles_are_one_line_errors(sounds, tmp_path):
    for kw, msg in [(dict(d_arch="mpd,xyz"), "unknown d_arch 'xyz'"), (dict(loss="bce"), "soft labels"),
                    (dict(d_arch="", feature_matching=1.0), "feature_matching needs an ensemble"),
                    (dict(d_arch="mpd,mpd"), "twice"), (dict(n_fft=4096), "n_fft")]:
        with pytest.raises(WavegenError, match=msg):
            audio_config(sounds, tmp_path / "x", length=1024, **kw)


def test_an_istft_run_generates_wavs(sounds, tmp_path):
    import soundfile as sf

    from wavegen import train
    from wavegen.sampling import generate

    run = train(audio_config(sounds, tmp_path / "r", batches=2, d_arch="", feature_matching=0.0, ndf=16))
    files = generate(run, n=3, out=tmp_path / "wavs")
    x, sr = sf.read(files[0])
    assert len(files) == 3 and sr == 8000 and len(x) == 1024


def test_the_ensemble_preset_trains_end_to_end(sounds, tmp_path):
    from wavegen import read_stats, train
    from wavegen.config import make_config

    cfg = make_config("ensemble", data=str(sounds), out=str(tmp_path / "r"), length=1024, sample_rate=8000,
                      batches=2, batch_size=4, ngf=16, device="cpu", stats_every=1)
    rows = [r for r in read_stats(train(cfg)) if "loss/G" in r]
    assert len(rows) == 2 and {"loss/D/mpd", "loss/D/msd", "loss/D/mrd", "loss/G/fm"} <= set(rows[-1])


def test_the_audio_preset_trains_end_to_end_and_samples_from_the_average(sounds, tmp_path):
    from wavegen import checkpoint, read_stats, train
    from wavegen.config import make_config
    from wavegen.sampling import generate

    cfg = make_config("audio", data=str(sounds), out=str(tmp_path / "r"), length=1024, sample_rate=8000, batches=3,
                      batch_size=4, device="cpu", stats_every=1)
    run = train(cfg)
    rows = [r for r in read_stats(run) if "loss/G" in r]
    assert [r["step"] for r in rows] == [1, 2, 3] and all(r["loss/penalty"] > 0 for r in rows)  # the critic's GP
    state = checkpoint.load(checkpoint.find(run))
    assert "G_ema" in state and any(not torch.equal(state["G"][k], state["G_ema"][k]) for k in state["G"])
    assert len(generate(run, n=2, out=tmp_path / "wavs")) == 2


def test_minibatch_std_lets_every_head_see_the_batch():
    """With --d-mbstd, a head's verdict on one clip depends on the clips beside it (a collapse is visible); without,
    it does not. Feature maps (for feature matching) are the same either way."""
    torch.manual_seed(0)
    x = torch.randn(4, 1, 1024)
    same = x[:1].expand(4, 1, 1024)
    for sub in (MultiPeriod(1, 2, mbstd=4), MultiScale(1, 2, mbstd=4), MultiResolution(1, 4, mrd_ffts(1024), mbstd=4)):
        (varied, fa), (collapsed, fb) = sub(x), sub(same)
        for a, b in zip(varied, collapsed):
            assert not torch.allclose(a[0], b[0])
        assert all(torch.equal(u[0], v[0]) for f, g in zip(fa, fb) for u, v in zip(f[:-1], g[:-1]))
    plain = MultiScale(1, 2)
    assert torch.equal(plain(x)[0][0][0], plain(same)[0][0][0])


def test_the_audio_preset_is_a_recipe_per_device_and_its_cpu_values_stay(sounds, tmp_path, capsys):
    """`--preset audio` trains audio-gpu where the run is on CUDA and audio-cpu elsewhere, and says which; audio-cpu
    is the CPU recipe whose figures docs/audio.md holds, value for value."""
    import json

    from wavegen.cli import main
    from wavegen.config import PRESETS, make_config, preset_for_device

    cpu = make_config("audio-cpu")
    assert (cpu.ngf, cpu.ndf, cpu.batch_size, cpu.d_steps, cpu.lr_g, cpu.lr_d, cpu.ema, cpu.loss) == \
        (16, 16, 16, 2, 2e-4, 2e-4, 0.999, "wgan-gp")
    assert PRESETS["audio"] == PRESETS["audio-cpu"] and make_config("audio").ngf == 16  # Python's audio: the CPU one
    gpu = make_config("audio-gpu")
    assert (gpu.ngf, gpu.ndf, gpu.batch_size, gpu.d_steps) == (64, 64, 64, 5)  # measured best on a GPU so far
    assert preset_for_device("audio", cuda=True)[0] == "audio-gpu" and preset_for_device("audio", False)[0] == "audio-cpu"
    assert preset_for_device("audio-cpu", cuda=True) == ("audio-cpu", "")  # a twin asked for by name is kept
    assert preset_for_device("seed", cuda=True) == ("post", "")
    out = tmp_path / "r"
    main(["train", str(sounds), "--preset", "audio", "--device", "cpu", "--length", "1024", "--sample-rate", "8000",
          "--batch-size", "4", "--batches", "0", "--out", str(out)])
    assert "preset audio: CPU recipe (audio-cpu:" in capsys.readouterr().out
    saved = json.loads((out / "config.json").read_text())
    assert saved["preset"] == "audio-cpu" and saved["ngf"] == 16
