"""A harmonic-plus-noise generator: DDSP's decoder (Engel et al., ICLR 2020) as a GAN generator, with the neural
source-filter idea (Wang et al. 2019) of a sine source at f0 beside filtered noise.

G does not draw samples. From the noise (and the class embedding, when conditional) two networks predict, per frame
and channel:
  - f0 in Hz, f0_min * (f0_max / f0_min) ** sigmoid(x): bounded, and even on a log scale (as pitch is heard). x is a
    pitch of the clip's own plus a contour of PITCH_KNOTS knots (tanh, at most PITCH_SPAN either way), both from a
    small network of its own (`PitchNet`): a pitch read off the frame network's shared features is dragged to a bound
    as those features grow (even with no gradient of its own), and a voice holds one pitch and bends it slowly,
    which a few knots say and cannot jitter;
  - from a network over frames (a dense layer to a few frames, then upsampling convolutions of width ngf to the
    clip's frames, then `layers` convolutions at the frame rate): a loudness (the harmonics' amplitude), a
    distribution over `harmonics` harmonics (softmax; it starts falling as a voice's spectrum does, TILT) and
    `noise_bands` magnitudes of a filtered noise. With harmonic_shape "envelope" the distribution is read at k f0
    off a spectral envelope of `noise_bands` log-gains over frequency: a source through a filter, as a vocal tract
    shapes a voice, so that a formant stays at its frequency whatever the pitch (the frame network does not see f0,
    so one logit per harmonic number, "shares" as DDSP, cannot hold a formant still while the pitch moves). The
    noise's bands, evenly spaced from 0 Hz to Nyquist like the envelope's, start NOISE_BIAS under the harmonics, as
    DDSP's filtered noise does: against a waveform D, noise as loud as the harmonics from the first batch is the
    cheaper way to match a spectrum, and drowns them;
and a fixed differentiable synthesiser (`Synth`) renders them at the sample rate:
  - controls are linearly interpolated from frames (frame j at sample j * hop) to samples;
  - the phase is the running sum of 2 pi f0 / sr over samples, in float64 and wrapped to one turn before it is
    cast back (float32 alone drifts by whole degrees over 8192 samples), whatever autocast does around it;
  - harmonic k sounds at k f0 with amplitude loudness x share; a harmonic at or above Nyquist is silenced sample by
    sample (and taken out of the distribution, which is renormalised, frame by frame);
  - the noise is white noise filtered frame by frame: each frame (4 hops of a Hann window) is drawn as a complex
    Gaussian spectrum (what white noise's spectrum is) times the bands' magnitudes interpolated to the bins, made a
    waveform by an inverse real DFT (two matrix products) and overlap-added (a transposed convolution). A band's
    magnitude is the std the noise would have if every band had it;
  - out = tanh(harmonics + noise): near-linear at speaking levels, bounded like the other families.
Every step is a matrix product, an elementwise op, a gather, a cumsum or a convolution: it runs on the meta device
(no host read: a CUDA graph can hold it) and exports to ONNX and TorchScript as it is.

The sample rate comes from the config (--sample-rate, which the data is resampled to): models are rebuilt from
config.json alone, and pitch in Hz means nothing without it, so hpn refuses a sample_rate of 0.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import WavegenError
from .layers import hidden, no_postfilter, output_noise
from .registry import register_generator

FRAME_RATE = 200  # frames per second when frame_hop is 0: hop = the power of two nearest sr / FRAME_RATE (DDSP: 250)
START_FRAMES = 8  # frames made by the dense layer, doubled by upsampling layers until they cover the clip
BLOCKS = 2  # convolutions at the frame rate when --layers is 0
KERNEL = 5  # of every convolution over frames
NOISE_OVERLAP = 4  # a noise frame is this many hops long (Hann windows overlapping by 3/4)
AMP_MAX = 2.0  # DDSP's exp_sigmoid: amplitudes in (AMP_FLOOR, AMP_MAX), log-like below
AMP_FLOOR = 1e-7
AMP_EXPONENT = math.log(10.0)
SHARE_FLOOR = 1e-7  # keeps the renormalised distribution finite when every harmonic is above Nyquist
NOISE_BIAS = -2.0  # added to the noise bands' outputs: they start ~20 dB under the harmonics
TILT = 1.0  # the harmonics' shares start as k ** -TILT, 6 dB per octave down as a voice's spectrum (the glottal source
# falls about 12, the lips' radiation gives 6 back): a flat start is a buzz whose top harmonics are as loud as f0
PITCH_KNOTS = 4  # knots of f0's contour over the clip, linearly interpolated to the frames
PITCH_SPAN = 1.0  # the contour's reach either way, in sigmoid inputs: about 0.8 octave in the middle of the range
PITCH_WIDTH = 64  # hidden units of the pitch network


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's amplitude non-linearity: AMP_MAX * sigmoid(x) ** ln 10 + AMP_FLOOR (0.40 at x = 0)."""
    return AMP_MAX * torch.sigmoid(x) ** AMP_EXPONENT + AMP_FLOOR


def pitch(x: torch.Tensor, f0_min: float, f0_max: float) -> torch.Tensor:
    """f0 in Hz from an unbounded output: f0_min * (f0_max / f0_min) ** sigmoid(x), even on a log scale."""
    return f0_min * (f0_max / f0_min) ** torch.sigmoid(x)


def hpn_hop(sample_rate: int, length: int, hop: int = 0) -> int:
    """Samples between frames: the given one, or the power of two nearest sample_rate / FRAME_RATE; a one-line error
    when it cannot be."""
    hop = hop or 2 ** max(1, round(math.log2(sample_rate / FRAME_RATE)))
    if not 2 <= hop <= length:
        raise WavegenError(f"hpn needs 2 <= frame_hop <= the length ({length}); got frame_hop {hop}")
    return hop


def check_pitch(sample_rate: int, f0_min: float, f0_max: float) -> None:
    if sample_rate <= 0:
        raise WavegenError("hpn renders pitch in Hz: give --sample-rate (the data's rate, e.g. 8000; files are "
                           "resampled to it)")
    if not 0 < f0_min < f0_max <= sample_rate / 2:
        raise WavegenError(f"hpn needs 0 < f0_min < f0_max <= half the sample rate ({sample_rate / 2:g}); got "
                           f"f0_min {f0_min:g}, f0_max {f0_max:g}")


def envelope_logits(env: torch.Tensor, f0: torch.Tensor, k: torch.Tensor, nyquist: float) -> torch.Tensor:
    """env (N, bands, T) log-gains at frequencies evenly spaced from 0 Hz to Nyquist, f0 (N, T) Hz, k (K, 1) ->
    (N, K, T) the envelope at each harmonic's frequency k f0, linearly interpolated (held at Nyquist above it)."""
    bands = env.shape[1]
    pos = (k[None] * f0[:, None] / nyquist * (bands - 1)).clamp(0, bands - 1)  # (N, K, T) in bands
    lo = pos.detach().floor().clamp(max=bands - 2)
    frac = pos - lo
    lo = lo.long()
    return env.gather(1, lo) * (1 - frac) + env.gather(1, lo + 1) * frac


def check_shape(shape: str, bands: int) -> None:
    if shape == "envelope" and bands < 2:
        raise WavegenError(f"hpn's harmonic_shape envelope needs noise_bands >= 2 (its bands); got {bands}")


def band_matrix(bands: int, bins: int) -> torch.Tensor:
    """(bands, bins): linear interpolation from band magnitudes (centres evenly spaced, 0 Hz to Nyquist) to the
    DFT's bins."""
    m = torch.zeros(bands, bins)
    if bands == 1:
        return m + 1
    pos = torch.arange(bins, dtype=torch.float64) * (bands - 1) / max(bins - 1, 1)  # each bin's place among bands
    lo = pos.floor().long().clamp(max=bands - 2)
    frac = (pos - lo).float()
    m[lo, torch.arange(bins)] = 1 - frac
    m[lo + 1, torch.arange(bins)] += frac
    return m


class Synth(nn.Module):
    """The fixed synthesiser: frame controls (module docstring) -> waveform (N, L), no parameters. N is any number
    of signals (G renders batch x channels)."""

    def __init__(self, length: int, sample_rate: int, hop: int, harmonics: int, noise_bands: int,
                 f0_grad: str = "phase"):
        super().__init__()
        self.length, self.sample_rate, self.hop, self.f0_grad = length, sample_rate, hop, f0_grad
        self.register_buffer("since", (torch.arange(length) % hop).float(), persistent=False)  # (L,) from its frame
        self.frames = -(-length // hop) + 1  # frame j at sample j * hop; the last sample lies between two frames
        self.register_buffer("k", torch.arange(1, harmonics + 1).float().view(harmonics, 1), persistent=False)
        size = NOISE_OVERLAP * hop
        bins = size // 2 + 1
        window = torch.hann_window(size, periodic=True, dtype=torch.float64)
        angle = 2 * math.pi * torch.arange(bins, dtype=torch.float64)[:, None] * torch.arange(size) / size  # (F, n)
        # with unit complex Gaussians in every bin a frame's sample has variance `bins` x window^2
        self.register_buffer("cos", (torch.cos(angle) * window).float(), persistent=False)  # (F, n)
        self.register_buffer("sin", (-torch.sin(angle) * window).float(), persistent=False)  # (F, n)
        self.register_buffer("eye", torch.eye(size)[:, None, :], persistent=False)  # (n, 1, n): the overlap-add
        envelope = F.conv_transpose1d(torch.ones(1, size, self.frames, dtype=torch.float64) * window[None, :, None] ** 2,
                                      torch.eye(size, dtype=torch.float64)[:, None, :], stride=hop)[0, 0]
        start = size // 2  # frame j is centred on sample j * hop
        gain = (bins * envelope[start:start + length]).rsqrt()  # (L,) unit variance at every sample, edges too
        self.register_buffer("gain", gain.float(), persistent=False)
        self.register_buffer("bands", band_matrix(noise_bands, bins), persistent=False)  # (N, F)
        self.noise_size = size

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """(..., T) frames -> (..., L) samples, by linear interpolation (frame j at sample j * hop: with corners
        aligned, T frames span (T - 1) hop + 1 samples; a quarter of the time of two gathers)."""
        shape = x.shape
        up = F.interpolate(x.reshape(-1, 1, shape[-1]), size=(shape[-1] - 1) * self.hop + 1, mode="linear",
                           align_corners=True)  # (M, 1, (T - 1) hop + 1)
        return up[..., :self.length].reshape(*shape[:-1], self.length)

    def harmonic(self, f0: torch.Tensor, amp: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
        """f0 (N, T) Hz, amp (N, T), shares (N, K, T) summing to 1 over K -> (N, L)."""
        nyquist = self.sample_rate / 2
        f0, amp, shares = f0.float(), amp.float(), shares.float()
        shares = shares * (self.k * f0[:, None] < nyquist).float()  # (N, K, T) above Nyquist: out of the distribution
        shares = shares / (shares.sum(1, keepdim=True) + SHARE_FLOOR)
        f0_up = self.upsample(f0)  # (N, L)
        steered = f0_up if self.f0_grad == "phase" else f0_up.detach()  # what the running phase is a function of
        cycles = torch.cumsum(steered.double() / self.sample_rate, dim=-1)  # (N, L) turns, float64 under any autocast
        phase = (2 * math.pi * (cycles - torch.floor(cycles))).float()  # (N, L) wrapped to [0, 2 pi)
        if self.f0_grad == "local":  # f0 moves the phase within its own frame only: a bounded, local gradient
            phase = phase + 2 * math.pi / self.sample_rate * (f0_up - f0_up.detach()) * self.since
        heard = (self.k * f0_up[:, None] < nyquist).float()  # (N, K, L) silenced at and above Nyquist
        amps = self.upsample(amp[:, None] * shares) * heard  # (N, K, L)
        return (amps * torch.sin(self.k * phase[:, None])).sum(1)  # (N, L)

    def noise(self, mags: torch.Tensor) -> torch.Tensor:
        """mags (N, bands, T) -> filtered white noise (N, L), drawn from torch's global stream."""
        per_bin = mags.float().transpose(1, 2) @ self.bands  # (N, T, F)
        re, im = torch.randn_like(per_bin) * per_bin, torch.randn_like(per_bin) * per_bin
        frames = re @ self.cos + im @ self.sin  # (N, T, n) windowed frames
        x = F.conv_transpose1d(frames.transpose(1, 2), self.eye, stride=self.hop)  # (N, 1, samples)
        start = self.noise_size // 2
        return x[:, 0, start:start + self.length].float() * self.gain  # (N, L)

    def forward(self, f0: torch.Tensor, amp: torch.Tensor, shares: torch.Tensor, mags: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.harmonic(f0, amp, shares) + self.noise(mags))  # (N, L)


class PitchNet(nn.Module):
    """z (B, nz) -> f0's sigmoid input per signal and frame (B C, T): the clip's pitch plus a contour of PITCH_KNOTS
    knots, each bounded by PITCH_SPAN, linearly interpolated to the T frames."""

    def __init__(self, nz: int, channels: int, frames: int):
        super().__init__()
        self.frames = frames
        self.net = nn.Sequential(nn.Linear(nz, PITCH_WIDTH), nn.LeakyReLU(0.2),
                                 nn.Linear(PITCH_WIDTH, channels * (1 + PITCH_KNOTS)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z).float().view(-1, 1 + PITCH_KNOTS)  # (B C, 1 + knots)
        knots = PITCH_SPAN * torch.tanh(out[:, None, 1:])  # (B C, 1, knots)
        contour = F.interpolate(knots, size=self.frames, mode="linear", align_corners=True)[:, 0]  # (B C, T)
        return out[:, :1] + contour


@register_generator("hpn", d="wavegan")
class HPNGenerator(nn.Module):
    """z (B, nz, 1) -> frame controls -> Synth -> (B, C, L). `noise` as --g-noise: noise inputs after every
    convolution over frames ("hidden"), on the waveform ("output"), or "all"."""

    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> HPNGenerator:
        return cls(length, cfg.sample_rate, cfg.nz, cfg.ngf, channels, cfg.harmonics, cfg.noise_bands, cfg.f0_min,
                   cfg.f0_max, cfg.frame_hop, cfg.layers or BLOCKS, cfg.dropout_g, cfg.g_batchnorm, cfg.g_noise,
                   cfg.f0_grad, cfg.harmonic_shape)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        no_postfilter(cfg, "hpn")
        check_pitch(cfg.sample_rate, cfg.f0_min, cfg.f0_max)
        check_shape(cfg.harmonic_shape, cfg.noise_bands)
        if length:
            hpn_hop(cfg.sample_rate, length, cfg.frame_hop)

    def __init__(self, length: int, sample_rate: int, nz: int, width: int, channels: int, harmonics: int = 48,
                 noise_bands: int = 32, f0_min: float = 50.0, f0_max: float = 500.0, hop: int = 0, blocks: int = BLOCKS,
                 dropout: float = 0.0, batchnorm: bool = False, noise: str = "none", f0_grad: str = "phase",
                 shape: str = "envelope"):
        super().__init__()
        check_pitch(sample_rate, f0_min, f0_max)
        check_shape(shape, noise_bands)
        self.synth = Synth(length, sample_rate, hpn_hop(sample_rate, length, hop), harmonics, noise_bands, f0_grad)
        self.channels, self.length, self.width = channels, length, width
        self.f0_min, self.f0_max, self.harmonics, self.noise_bands = f0_min, f0_max, harmonics, noise_bands
        self.harmonic_shape = shape
        self.shaping = noise_bands if shape == "envelope" else harmonics  # the head's outputs that shape the harmonics
        tilt = -TILT * torch.log(torch.arange(1, harmonics + 1.0))  # (K,) a voice's fall, in logits
        self.register_buffer("tilt", tilt.view(harmonics, 1), persistent=False)
        frames = self.synth.frames
        ups = max(0, math.ceil(math.log2(frames / START_FRAMES)))
        self.start = -(-frames // 2 ** ups)  # (start x 2^ups >= frames; the surplus is cut)
        self.dense = nn.Linear(nz, width * self.start)
        hidden_noise = noise in ("hidden", "all")
        layers: list[nn.Module] = []
        for i in range(ups + blocks):  # upsampling layers, then layers at the frame rate
            conv = nn.Conv1d(width, width, KERNEL, padding=KERNEL // 2, bias=not batchnorm)  # a bias where no BatchNorm
            layers += [nn.Upsample(scale_factor=2, mode="nearest")] if i < ups else []
            layers += hidden(conv, width, dropout, batchnorm, hidden_noise)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(width, channels * (1 + self.shaping + noise_bands), 1)  # loudness, shaping, bands
        self.pitch = PitchNet(nz, channels, frames)
        if f0_grad == "none":  # untaught: f0 stays as the network starts it, and its weights get no gradient to step
            self.pitch.requires_grad_(False)
        self.out_noise = output_noise(channels) if noise in ("output", "all") else nn.Identity()

    def controls(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """What G predicts, float32, per signal (B C): f0 (N, T) Hz, loudness (N, T), harmonic shares (N, K, T),
        noise band magnitudes (N, bands, T)."""
        b = z.shape[0]  # not len(z): a traced G (wavegen export) keeps the batch size free
        h = self.body(F.leaky_relu(self.dense(z.flatten(1)).view(b, self.width, self.start), 0.2))
        out = self.head(h[:, :, :self.synth.frames]).float()  # (B, C (1 + shaping + bands), T)
        out = out.view(b * self.channels, 1 + self.shaping + self.noise_bands, self.synth.frames)
        f0 = pitch(self.pitch(z.flatten(1)), self.f0_min, self.f0_max)  # (N, T)
        shaping = out[:, 1:1 + self.shaping]  # (N, K or bands, T)
        if self.harmonic_shape == "envelope":  # the envelope where each harmonic sounds (untaught f0: frozen above)
            shaping = envelope_logits(shaping, f0, self.synth.k, self.synth.sample_rate / 2)  # (N, K, T)
        shares = torch.softmax(shaping + self.tilt, dim=1)  # (N, K, T)
        return f0, exp_sigmoid(out[:, 0]), shares, exp_sigmoid(out[:, 1 + self.shaping:] + NOISE_BIAS)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.synth(*self.controls(z))  # (B C, L)
        return self.out_noise(x.view(z.shape[0], self.channels, self.length))  # (B, C, L)
