"""Presets: named overlays of Config fields (the fields they name, nothing else), each added by one
`register_preset(name, help, values)`. config.py imports these tables; docs/config.md lists them in this order.
`post` is the post as written."""
from __future__ import annotations

PRESETS: dict[str, dict] = {}
PRESET_HELP: dict[str, str] = {}
# A preset that is a recipe per device: its -gpu twin where the run's device is CUDA, its -cpu twin elsewhere.
DEVICE_RECIPES: dict[str, tuple[str, str]] = {}
PRESET_ALIASES = {"seed": "post"}  # older names, still accepted: run folders and scripts keep working
# Presets kept so that old runs, scripts and the doctor's calibration still rebuild, but no longer a recipe: a
# run with one is told so, and what to use instead, in one line.
RETIRED: dict[str, str] = {}


def register_preset(name: str, help: str, values: dict, per_device: tuple[str, str] | None = None) -> dict:
    """Add a preset: `values` the fields it sets, `help` one line for --help and docs/config.md; `per_device`
    (cpu twin, gpu twin) makes it a recipe per device (the twins are presets of their own)."""
    if name in PRESETS:
        raise ValueError(f"preset {name!r} registered twice")
    PRESETS[name], PRESET_HELP[name] = values, help
    if per_device:
        DEVICE_RECIPES[name] = per_device
    return values


WAVEGAN = {"arch": "wavegan", "length": 16384, "sample_rate": 16000, "normalise": "peak", "z_dist": "uniform",
           "ngf": 64, "ndf": 64, "dropout_g": 0.0, "dropout_d": 0.0, "g_batchnorm": False, "d_batchnorm": False,
           "phase_shuffle": 2, "loss": "wgan-gp", "gp_lambda": 10.0, "d_steps": 5, "lr_g": 1e-4, "lr_d": 1e-4,
           "beta1": 0.5, "beta2": 0.9, "batch_size": 64}

# What measured best for generation from noise on 2 CPU cores (docs/audio.md, "The audio preset against
# WaveGAN"): WaveGAN's models and critic at the width that trains on a CPU, 2 D steps per G step at twice the
# paper's learning rate (its 5 steps at 1e-4 spend the budget on the critic; 1 step collapsed), G averaged.
AUDIO_CPU = {**WAVEGAN, "ngf": 16, "ndf": 16, "batch_size": 16, "d_steps": 2, "lr_g": 2e-4, "lr_d": 2e-4, "ema": 0.999}
# On a GPU, the recipe measured best there so far (issue 27, an H200: WaveGAN at the paper's size beat the CPU
# recipe at 5 minutes); bench/gpu_quality.py races the field's recipes against it.
AUDIO_GPU = dict(WAVEGAN)

# The post's values, plus the weight init of the DCGAN tutorial the post builds on: with PyTorch's default
# init G starts with a saturated Tanh and never leaves its garbage phase (docs/findings.md, "The transition").
register_preset("post", "the blog post's 1-D DCGAN and its training loop, exactly (float32, soft labels, batch 100, "
                "width 512)", {"init": "dcgan", "epochs": 5000, "amp": "false"})
# The post's recipe made quick (docs/performance.md) and made to reach the data (docs/post_quality.md): the DCGAN
# paper's Adam settings, a quarter of the width, cheaper dropout masks; G without BatchNorm (its batch statistics
# jittered every sample of a batch alike), without Dropout, with nearest-neighbour upsampling and noise inputs at
# its output (the data's white noise), averaged (ema); D sees real and fake in one batch (so BatchNorm no longer
# hides an offset); best.pt kept by the classifier test; a fixed length that fits in 2 minutes on 2 cores.
register_preset("fast", "the post's recipe made quick and made to reach the data (c2st <= 0.6 within 2 minutes on 2 "
                "CPU cores): DCGAN Adam, width 128; G without BatchNorm or Dropout, nearest upsampling, output noise, "
                "averaged; D on real and fake in one batch; best.pt by c2st",
                {"init": "dcgan", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "ngf": 128, "ndf": 128,
                 "dropout_masks": "int32", "g_batchnorm": False, "dropout_g": 0.0, "upsample": "nearest",
                 "g_noise": "output", "ema": 0.999, "d_batch": "joint", "batches": 1500, "eval_every": 100,
                 "eval_metrics": ("frechet", "c2st"), "best_metric": "c2st"})
# The post's DCGAN family planned for any --length, trained as the DCGAN paper does (docs/audio.md). Retired: at
# audio lengths its deep D without BatchNorm starts dead under the DCGAN init, and with PyTorch's init or with
# BatchNorm it never teaches G (docs/doctor.md, "The dcgan preset").
register_preset("dcgan", "retired (its D does not train at audio lengths: use audio); the post's DCGAN family "
                "planned for any --length, trained as the DCGAN paper does",
                {"init": "dcgan", "loss": "nonsat", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "batch_size": 64,
                 "dropout_g": 0.0, "dropout_d": 0.0, "d_batchnorm": False, "ngf": 256, "ndf": 256,
                 "normalise": "peak"})
RETIRED["dcgan"] = ("preset dcgan is retired: at audio lengths its D starts dead or never teaches G (docs/doctor.md); "
                    "--preset audio trains on recordings")
# WaveGAN as published: 16384 samples at 16 kHz, kernel 25 stride 4, phase shuffle, WGAN-GP with 5 D steps.
register_preset("wavegan", "WaveGAN as published: 16384 samples at 16 kHz, kernel 25 stride 4, phase shuffle, WGAN-GP",
                WAVEGAN)
# `audio` is a device's recipe: the CLI trains audio-gpu on CUDA, audio-cpu elsewhere; in Python,
# make_config("audio") is the CPU recipe, and preset_for_device picks.
register_preset("audio", "the device's recipe: audio-gpu where the run is on CUDA, audio-cpu elsewhere (the CLI "
                "chooses and says so; in Python it is audio-cpu)", AUDIO_CPU, per_device=("audio-cpu", "audio-gpu"))
register_preset("audio-cpu", "WaveGAN made for a CPU: d 16, batch 16, 2 critic steps per G step at 2e-4, G averaged "
                "(ema)", AUDIO_CPU)
register_preset("audio-gpu", "the recipe measured best on a GPU so far: WaveGAN as published (d 64, batch 64, 5 "
                "critic steps at 1e-4); bench/gpu_quality.py races the candidates to replace it", AUDIO_GPU)
# What made GAN vocoders good after WaveGAN (docs/audio.md, "Discriminator ensembles"): HiFi-GAN's periods,
# MelGAN's scales and spectrograms (mrd) as D, with feature matching and least squares, HiFi-GAN's Adam; WaveGAN's
# G at the width that trains on a CPU, upsampling by nearest neighbour (no checkerboard) with noise inputs. Each
# head sees its batch's variety (minibatch std): without it the ensemble collapsed onto one class. On 2 CPU cores
# it loses to the audio preset: each batch costs 5x as much (docs/audio.md, "The audio preset against WaveGAN").
register_preset("ensemble", "D: periods (mpd), scales (msd), spectrograms (mrd) with feature matching and least "
                "squares; WaveGAN's G with nearest upsampling and noise inputs",
                {"arch": "wavegan", "upsample": "nearest", "g_noise": "all", "d_arch": "mpd,msd,mrd", "d_mbstd": 4,
                 "loss": "lsgan", "feature_matching": 2.0, "length": 16384, "sample_rate": 16000,
                 "normalise": "peak", "ngf": 16, "ndf": 4, "dropout_g": 0.0, "dropout_d": 0.0, "g_batchnorm": False,
                 "d_batchnorm": False, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.8, "beta2": 0.99, "batch_size": 16})
