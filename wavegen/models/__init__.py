"""Models: shared layers (layers.py), the post's DCGAN family planned for any length (dcgan.py), WaveGAN
(wavegan.py), and `build_models(cfg, ...)`, the one entry point (build.py)."""
from .build import build_models, check_model, generator_mode, noise
from .dcgan import Discriminator, Generator, Plan, dcgan_plan, seed_plan
from .layers import Int32Dropout, PhaseShuffle, dcgan_init
from .wavegan import WaveGANDiscriminator, WaveGANGenerator, wavegan_strides

__all__ = ["build_models", "check_model", "generator_mode", "noise", "Plan", "seed_plan", "dcgan_plan", "Generator",
           "Discriminator", "Int32Dropout", "PhaseShuffle", "dcgan_init", "WaveGANGenerator", "WaveGANDiscriminator",
           "wavegan_strides"]
