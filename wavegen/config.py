"""One dataclass holds every setting of a run; presets are named overlays of its fields.

Each field carries its default, its help text, its section and, where it has them, its allowed values: the
checks below, `wavegen train --help` and docs/config.md (`wavegen config --markdown`) all read them from here.
The config is written to `run/config.json` and into every checkpoint, and it alone rebuilds the models.
This module imports no torch, so the command line answers at once.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import WavegenError
from .presets import DEVICE_RECIPES, PRESET_ALIASES, PRESET_HELP, PRESETS, RETIRED
from .runfolder import read_json_object


class Section:
    """A group of Config fields: calling it makes one field with its default, help text and allowed values."""

    def __init__(self, title: str):
        self.title = title

    def __call__(self, default, help: str, choices: tuple | None = None):
        return field(default=default, metadata={"section": self.title, "help": help, "choices": choices})


DATA = Section('data and run folder')
EXAMPLES = Section("examples: the files' own length, or windows cut from longer audio (docs/audio.md)")
MODEL = Section('model')
LOSS = Section('loss and regularisers (docs/audio.md)')
OPTIM = Section('optimisation')
LABELS = Section("the post's soft labels (loss bce only)")
LENGTH = Section('length of the run: whichever comes first (none = no limit from it)')
NAN = Section('when a loss or gradient turns NaN or Inf')
BOOK = Section('bookkeeping')
EVAL = Section('knowing whether it worked (docs/findings.md)')
INIT = Section("starting from another run's weights (docs/finetune.md)")
AUGMENT = Section("augmenting what D sees, for small data sets (docs/audio.md)")
AUGMENT_OPS = ("shift", "gain", "eq", "noise", "mask")  # wavegen/training/augment.py registers each (a test checks)
CLASSES = Section("classes: sub-folders, file names or a table (docs/conditional.md)")


@dataclass
class Config:
    data: str = DATA("", 'folder of audio files (searched recursively)')
    out: str = DATA("", 'run folder: config, stats, previews, checkpoints, figures')
    run_id: str = DATA("", "the run's identity, drawn at its start and kept in config.json and every checkpoint, so "
                           'that a resume uses no checkpoint of another run (set by wavegen, not a flag)')
    formats: tuple[str, ...] = DATA((), 'file extensions loaded from `data`; "": every audio format libsndfile '
                                    'reads (wav, flac, ogg, mp3, aiff, caf, ...); audio of other extensions is named '
                                    'as skipped')
    cache_dir: str = DATA("",
        'where decoded data is cached ("": $WAVEGEN_CACHE_DIR, else the user cache folder, e.g. ~/.cache/wavegen); '
        '"none": decode into memory, write nothing')

    length: int = EXAMPLES(0, 'samples per example; 0 = each file is one example and all files have one length')
    sample_rate: int = EXAMPLES(0, 'resample every file to this rate (0 = keep; then all files must share one)')
    mono: bool = EXAMPLES(True, 'average the channels; false keeps them (every file needs the same channel count)')
    hop: int = EXAMPLES(0, 'samples between window starts within a file (0 = length: no overlap)')
    window: str = EXAMPLES("auto",
        '"all" windows, the same with a "random" offset each epoch, or the "first" of each file (its onset); "auto": '
        '"first" when most files are one-shots (short, loudest in their first window), else "random"',
        choices=('auto', 'random', 'first', 'all'))
    pad: bool = EXAMPLES(True,
        'end-pad short files and the last window of a file (false: drop them; too-short files are an error)')
    normalise: str = EXAMPLES("none",
        'per example: "none", "peak" (max |x| = 1) or "rms" (RMS 0.1)', choices=('none', 'peak', 'rms'))
    skip_bad: bool = EXAMPLES(False, 'train on the readable files and list the bad ones, instead of stopping at them')

    classes_from_names: str = CLASSES("",
        "a file's class is the first match of this regular expression in its path under `data`, lower-cased (its "
        "named or first capturing group if it has one), e.g. '(?i)kick|snare|hat'; \"\": the first-level sub-folders")
    labels: str = CLASSES("", 'a CSV file of rows path,class (paths relative to `data`, a header row allowed) '
                              'giving each file its class; "": the first-level sub-folders')
    unlabelled: str = CLASSES("refuse",
        'audio files no class rule matches: "refuse" to start (naming them), or "skip" them (named as skipped)',
        choices=('refuse', 'skip'))

    arch: str = MODEL("dcgan",
        'G (and D unless --d-arch): "dcgan": the post\'s family, planned for any length; "wavegan": Donahue et al. '
        '2018; "istft": ConvNeXt blocks over STFT frames and an inverse STFT (Vocos), D as dcgan; "hpn": per frame a '
        'pitch, harmonics and noise bands, rendered by a synthesiser (DDSP), D as wavegan (needs --sample-rate)',
        choices=('dcgan', 'wavegan', 'istft', 'hpn'))
    d_arch: str = MODEL("",
        'D as an ensemble, comma-separated: "mpd" (HiFi-GAN periods), "msd" (MelGAN scales), "mrd" (UnivNet '
        'spectrograms), "spec" (spectrograms, cheap: bins as channels), "dcgan", "wavegan" ("": the --arch family\'s '
        'own D)')
    n_fft: int = MODEL(0, 'istft: STFT window of G (0 = about 1/32 of the length, a power of two from 16 to 1024)')
    frame_hop: int = MODEL(0, 'istft, hpn: samples between G\'s frames (0 = istft: n_fft / 4; hpn: the power of two '
                           'nearest sample_rate / 200)')
    harmonics: int = MODEL(48, 'hpn: harmonics of f0 G sets the share of, per frame (those above Nyquist are silent)')
    noise_bands: int = MODEL(32, 'hpn: bands of filtered noise, evenly spaced from 0 Hz to Nyquist, G sets per frame '
                             '(and of the harmonics\' envelope with --harmonic-shape envelope)')
    harmonic_shape: str = MODEL("envelope",
        'hpn: how G shapes the harmonics per frame: an "envelope" over frequency read at each harmonic (a filter: '
        'formants stay put as the pitch moves) or one share per harmonic number, "shares" (DDSP)',
        choices=('envelope', 'shares'))
    f0_min: float = MODEL(50.0, 'hpn: the lowest f0 in Hz G can make (a voice: 50-500)')
    f0_max: float = MODEL(500.0, 'hpn: the highest f0 in Hz G can make (at most half the sample rate)')
    f0_grad: str = MODEL("phase",
        'hpn: how D\'s gradient reaches f0: through the oscillators\' running "phase" (DDSP; it sums over every later '
        'sample), within each frame only ("local"), or "none" (f0 stays as G\'s network starts it: pitch from the '
        'noise, formants and loudness learned)', choices=('phase', 'local', 'none'))
    istft_phase: str = MODEL("if",
        'istft: G predicts each bin\'s "if" (instantaneous frequency: the phase advance from one frame to the next, '
        'summed over frames, as GANSynth) or its "angle" in every frame (Vocos)', choices=('if', 'angle'))
    nz: int = MODEL(100, 'length of the noise vector fed to G')
    z_dist: str = MODEL("normal",
        'noise: "normal" N(0, 1) or "uniform" U(-1, 1) (WaveGAN)', choices=('normal', 'uniform'))
    ngf: int = MODEL(512, "G's width: its widest layer (dcgan), or the paper's d, its narrowest (wavegan)")
    ndf: int = MODEL(512, "D's width: its widest layer (dcgan), or the paper's d, its narrowest (wavegan)")
    layers: int = MODEL(0, "G's upsampling layers (0 = planned from the length); D is planned for the same length")
    upsample: str = MODEL("transpose",
        'G\'s upsampling layers: "transpose"d convolutions, or "nearest" / "linear" upsampling + a convolution '
        '(no checkerboard artefacts; the output length is the same)', choices=('transpose', 'nearest', 'linear'))
    g_noise: str = MODEL("none",
        'StyleGAN noise inputs in G, fresh per example, times a learned per-channel scale (starting at 0; at the '
        'output at 0.02): after every "hidden" upsampling layer, added to the "output" after the Tanh, or "all"',
        choices=('none', 'hidden', 'output', 'all'))
    g_postfilter: int = MODEL(0,
        "taps of a learned filter on G's output, after the Tanh (WaveGAN's post-processing filter, 512 in its paper): "
        "it can notch the tones that upsampling leaves; starts as the identity; 0 = none; dcgan and wavegan G")
    dropout_g: float = MODEL(0.2, 'Dropout after every hidden layer of G')
    dropout_d: float = MODEL(0.2, 'Dropout after every hidden layer of D')
    dropout_masks: str = MODEL("torch",
        '"torch": nn.Dropout\'s masks (the post\'s random stream); "int32": same law, ~3x cheaper on CPU',
        choices=('torch', 'int32'))
    g_batchnorm: bool = MODEL(True, "BatchNorm in G's hidden layers")
    d_batchnorm: bool = MODEL(True,
        "BatchNorm in D's hidden layers (off: D sees the offset and gain the post's D cannot)")
    d_batch: str = MODEL("separate",
        'real and fake through D as two "separate" batches (the post\'s: BatchNorm hides an offset or gain they '
        'share) or one "joint" batch (BatchNorm\'s statistics shared, so D sees them; the G step adds a real batch)',
        choices=('separate', 'joint'))
    d_mbstd: int = MODEL(0,
        "D appends the std of its features over groups of this many examples before its last layer (each head's, in "
        "an ensemble), so it sees a batch's variety (StyleGAN's minibatch stddev; 0 = off, 4 usual)")
    phase_shuffle: int = MODEL(0, 'D shifts each example by up to this many samples between layers (WaveGAN: 2)')
    spectral_norm: bool = MODEL(False, "spectral normalisation of D's weights")
    init: str = MODEL("default",
        'weight init: "default" (PyTorch\'s) or "dcgan" (conv N(0, 0.02), BN N(1, 0.02))',
        choices=('default', 'dcgan'))
    conditional: bool = MODEL(False,
        'class-conditional G and D (docs/conditional.md): G joins a learned class embedding to its noise, D is a '
        'projection discriminator; needs classes (sub-folders, --classes-from-names or --labels) and --length')
    balanced_classes: bool = MODEL(False,
        'batches drawn with every class equally likely, for data with classes whose sizes differ')

    loss: str = LOSS("bce",
        '"bce" (soft labels below), "nonsat", "lsgan", "hinge" or "wgan-gp"',
        choices=('bce', 'nonsat', 'lsgan', 'hinge', 'wgan-gp'))
    gp_lambda: float = LOSS(10.0, 'weight of the gradient penalty of wgan-gp')
    r1_gamma: float = LOSS(0.0, 'R1 penalty on real examples, gamma / 2 * |grad D(x)|^2 (0 = off; 10 is usual)')
    penalty_every: int = LOSS(1, 'gradient penalties (wgan-gp, R1) on every Nth D step only, weighted by N: lazy '
                              'regularisation (StyleGAN2), which saves most of their double backward (1 = every step)')
    d_steps: int = LOSS(1, 'D steps per G step, each on its own real batch')
    instance_noise: float = LOSS(0.0, 'std of Gaussian noise added to every input of D (0 = off)')
    instance_noise_batches: int = LOSS(0, 'batches over which that noise fades linearly to 0 (0 = it stays)')
    feature_matching: float = LOSS(0.0,
        "weight of the L1 distance between D's features on real and fake, added to G's loss (HiFi-GAN: 2)")
    ema: float = LOSS(0.0,
        "decay of a moving average of G's weights, used for previews and sampling (0 = off; ~0.999)")

    augment: str = AUGMENT("none",
        'differentiable augmentations of everything D sees, real and fake alike and inside the penalties (DiffAugment, '
        'ADA): "none", "fixed" (each op with probability augment_p), or "ada" (that probability adapted so that D '
        'scores ada_target of the reals positive, as StyleGAN2-ADA does)', choices=('none', 'fixed', 'ada'))
    augment_ops: tuple[str, ...] = AUGMENT(AUGMENT_OPS,
        'the augmentations, each drawn per example with the probability: a time "shift" (up to 1/8 of the length, '
        'zero-filled), a "gain" (+-6 dB), an "eq" bell (+-6 dB, one octave), additive "noise" (10 to 40 dB under the '
        'example), a time "mask" (a span up to 1/4 of the length zeroed)', choices=AUGMENT_OPS)
    augment_p: float = AUGMENT(0.0, "the probability of each op: augment fixed's, or where ada's starts")
    ada_target: float = AUGMENT(0.6,
        "ada: the share r_t = E[sign(D(real))] held (ADA's 0.6); above it D is sure of the reals and p rises")
    ada_interval: int = AUGMENT(4, 'ada: batches between the adjustments of p (r_t is their mean)')
    ada_speed: int = AUGMENT(2000,
        'ada: batches for p to go from 0 to 1 at the fastest (ADA moves it in 500k images, about 8,000 of its '
        'batches; small runs need it faster)')

    batch_size: int = OPTIM(100,
        'examples per batch; the last partial batch of an epoch is kept, as a DataLoader does')
    batch_scope: str = OPTIM("rank",
        'with torchrun: batch_size per "rank", or the "global" batch split over the ranks',
        choices=('rank', 'global'))
    sync_bn: bool = OPTIM(False, 'with torchrun: BatchNorm statistics over the global batch instead of per rank')
    lr_g: float = OPTIM(5e-5, 'Adam learning rate of G')
    lr_d: float = OPTIM(5e-5, 'Adam learning rate of D')
    beta1: float = OPTIM(0.9, 'Adam beta1 for both')
    beta2: float = OPTIM(0.999, 'Adam beta2 for both')

    label_real: float = LABELS(1.0, 'mean of the soft label for real examples')
    label_fake: float = LABELS(0.0, 'mean of the soft label for fake examples')
    label_noise: float = LABELS(0.1, 'std of the Gaussian noise added to the labels, redrawn every batch')

    batches: int | None = LENGTH(None, 'stop after this many batches in total')
    epochs: int | None = LENGTH(None, 'stop after this many passes over the data')
    minutes: float | None = LENGTH(None,
        'stop after this many minutes of training (the loop\'s own time, summed over resumes; startup not counted), '
        'so that recipes of different speeds can be raced at equal time')

    on_nan: str = NAN("rollback", '"rollback" to the last good checkpoint, or "stop"', choices=('rollback', 'stop'))
    nan_lr_factor: float = NAN(0.5,
        'learning rates are multiplied by this at each rollback (so the run takes another path)')
    max_rollbacks: int = NAN(3, 'rollbacks allowed before the run stops')

    seed: int = BOOK(0, 'seeds every random draw: same seed, same run on CPU')
    device: str = BOOK("auto", '"auto" (CUDA if available), "cpu", "cuda", "cuda:1", ...')
    amp: str = BOOK("auto",
        'bfloat16 autocast for the forward passes and penalties (weights and optimiser stay float32): "auto" = on '
        'where measured to pay (bf16 hardware and a step big enough: wavegen/training/precision.py), "true", "false"',
        choices=('auto', 'true', 'false'))
    cuda_graph: str = BOOK("auto",
        'replay each training step from a CUDA graph captured once (wavegen/training/graph.py): "auto" = on with one '
        'CUDA device, off on a CPU and under torchrun; "true", "false"', choices=('auto', 'true', 'false'))
    stats_every: int = BOOK(10, 'batches between flushes of stats.jsonl and the progress bar (one device sync each)')
    print_every: int = BOOK(100, 'batches between console lines')
    preview_every: int = BOOK(100, "batches between saves of G's output on the fixed noise")
    n_preview: int = BOOK(64, 'size of the fixed noise batch')
    ckpt_every: int = BOOK(500, 'batches between checkpoints')
    keep_ckpts: int = BOOK(3, 'periodic checkpoints kept on disk (the newest ones); 0 keeps all')
    sample_mode: str = BOOK("train",
        'how G runs for previews and `generate`: "train" (as D saw it), "batch" or "eval" (docs/findings.md)',
        choices=('train', 'batch', 'eval'))
    tensorboard: bool = BOOK(False, 'also log scalars, preview audio and figures to run/tensorboard')

    holdout: float = EVAL(0.0,
        'share of the examples kept out of training for evaluation (synthetic data draws fresh ones)')
    eval_every: int = EVAL(0, 'batches between quality scores during training, appended to stats.jsonl (0 = never)')
    eval_n: int = EVAL(500, 'generated and real examples per score during training')
    eval_metrics: tuple[str, ...] = EVAL(("frechet",), 'metrics scored during training (`wavegen eval --list`)')
    best_metric: str = EVAL("frechet",
        'keeps checkpoints/best.pt at the best score of this metric (one of eval_metrics)')
    stop_on_divergence: bool = EVAL(False,
        'stop (with a checkpoint) once the run has drifted apart (docs/findings.md)')
    layer_every: int = EVAL(50,
        'batches between per-layer weight / gradient / update norms in layers.jsonl (0 = never)')
    preset: str = EVAL("", 'the preset these values started from (a record only; set by --preset)')

    init_from: str = INIT("",
        "a run folder (its newest checkpoint) or a checkpoint file whose G, D and averaged G this run starts from, "
        "with the source's architecture and, unless flags say otherwise, its settings; recorded as the file")
    init_step: int = INIT(0, "the batch of the checkpoint init_from names (a record only; set by --init-from)")
    init_only: str = INIT("both", 'with init_from: start "both" models from it, or only "G" or only "D"',
                          choices=('both', 'G', 'D'))
    freeze_d: int = INIT(0,
        "with init_from: D's first N layers from the input (and their BatchNorm) stay as the source's, out of the "
        "optimiser (FreezeD, for small data sets); 0 = none")

    def __post_init__(self):
        if isinstance(self.amp, bool):  # config.json files and callers from when amp was a bool
            self.amp = "true" if self.amp else "false"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)  # JSON has no tuples
        return d


def preset_name(name: str) -> str:
    """The preset a name stands for (an alias gives its new name), or a one-line error listing the known ones."""
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESETS:
        raise WavegenError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return name


def preset_for_device(name: str, cuda: bool) -> tuple[str, str]:
    """The preset a run trains on this device: for a preset with a recipe per device its -gpu or -cpu twin (the
    -cpu one has the name's own values), else the preset itself; and the line that says what was chosen ("" when
    nothing was), or that the preset is retired."""
    name = preset_name(name)
    if name not in DEVICE_RECIPES:
        return name, RETIRED.get(name, "")
    cpu, gpu = DEVICE_RECIPES[name]
    chosen, other = (gpu, cpu) if cuda else (cpu, gpu)
    where = "GPU" if cuda else "CPU"
    return chosen, f"preset {name}: {where} recipe ({chosen}: {PRESET_HELP[chosen]}); --preset {other} for the other"


def _field_types() -> dict[str, type]:
    """The Python type each field accepts (the non-None part of `int | None`)."""
    out = {}
    for f in fields(Config):
        t = f.type.replace(" | None", "")
        out[f.name] = {"int": int, "float": float, "str": str, "bool": bool, "tuple[str, ...]": tuple}[t]
    return out


def parse_value(key: str, text: str):
    """Turn a command-line string into the field's type, or fail with a one-line message."""
    types = _field_types()
    if key not in types:
        raise WavegenError(f"unknown config key {key!r}")
    t = types[key]
    if text.lower() == "none" and Config.__dataclass_fields__[key].type.endswith("| None"):
        return None
    try:
        if t is bool:
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return text.lower() in ("1", "true", "yes")
        if t is tuple:
            return tuple(s.strip().lstrip(".") for s in text.split(",") if s.strip())
        if t is int:
            return int(text)
        return t(text)
    except ValueError:
        raise WavegenError(f"config key {key!r} wants {t.__name__}, got {text!r}") from None


def make_config(preset: str = "post", **overrides) -> Config:
    """A config from a preset plus explicit overrides (None in overrides means: leave the preset's value)."""
    preset = preset_name(preset)
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(values) - {f.name for f in fields(Config)}
    if unknown:
        raise WavegenError(f"unknown config key {sorted(unknown)[0]!r}")
    cfg = Config(preset=preset, **values)
    validate(cfg)
    return cfg


LARGEST = {"nz": 2**16, "ngf": 2**16, "ndf": 2**16, "batch_size": 2**20, "harmonics": 2**12, "noise_bands": 2**12}


def validate(cfg: Config) -> None:
    """Refuse impossible values before anything is written."""
    types = _field_types()
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if v is None and f.type.endswith("| None"):
            continue
        t = types[f.name]
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if t is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if ok and t is tuple:  # every tuple field is tuple[str, ...]; a list of lists would pass isinstance
            ok = all(isinstance(x, str) for x in v)
        if not ok:
            raise WavegenError(f"config key {f.name!r} wants {t.__name__}, got {v!r}"[:300])
    positive = ["nz", "ngf", "ndf", "batch_size", "harmonics", "noise_bands", "stats_every", "print_every",
                "preview_every", "n_preview", "ckpt_every"]
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise WavegenError(f"config key {key!r} must be positive, got {getattr(cfg, key)}")
    for key, most in LARGEST.items():  # past these a layer or a batch cannot be allocated at all
        if getattr(cfg, key) > most:
            raise WavegenError(f"config key {key!r} must be at most {most:,}, got {getattr(cfg, key):.3g}")
    for key in ["lr_g", "lr_d"]:
        if not getattr(cfg, key) > 0:
            raise WavegenError(f"config key {key!r} must be positive, got {getattr(cfg, key)}")
    for key in ["batches", "epochs", "minutes"]:
        if getattr(cfg, key) is not None and getattr(cfg, key) < 0:
            raise WavegenError(f"config key {key!r} must be >= 0, got {getattr(cfg, key)}")
    for key in ["dropout_g", "dropout_d", "ema"]:
        if not 0 <= getattr(cfg, key) < 1:
            raise WavegenError(f"config key {key!r} must be in [0, 1), got {getattr(cfg, key)}")
    for key in ["length", "sample_rate", "hop", "n_fft", "frame_hop", "feature_matching", "layers", "phase_shuffle",
                "d_mbstd", "g_postfilter", "gp_lambda", "r1_gamma", "instance_noise",
                "instance_noise_batches"]:
        if getattr(cfg, key) < 0:
            raise WavegenError(f"config key {key!r} must be >= 0, got {getattr(cfg, key)}")
    if cfg.penalty_every < 1:
        raise WavegenError(f"config key 'penalty_every' must be >= 1, got {cfg.penalty_every}")
    if not 0 < cfg.nan_lr_factor <= 1 or cfg.max_rollbacks < 0:
        raise WavegenError(f"nan_lr_factor must be in (0, 1] and max_rollbacks >= 0, got {cfg.nan_lr_factor}, "
                           f"{cfg.max_rollbacks}")
    if cfg.cache_dir.strip().lower() not in ("", "none") and cfg.data:
        cache, data = Path(cfg.cache_dir).expanduser().resolve(), Path(cfg.data).expanduser().resolve()
        if cache == data or data in cache.parents:
            raise WavegenError(f"cache_dir {cfg.cache_dir} is inside the data folder {cfg.data}: wavegen never writes "
                               "into a data folder; choose a cache folder outside it")
    _check_classes(cfg)
    if cfg.conditional and cfg.d_batch == "joint":  # a projection D is given one class per example of one batch
        raise WavegenError("d_batch joint does not work with conditional yet: use d_batch separate")
    if cfg.freeze_d < 0:
        raise WavegenError(f"config key 'freeze_d' must be >= 0, got {cfg.freeze_d}")
    if (cfg.freeze_d or cfg.init_only != "both") and not cfg.init_from:
        raise WavegenError("freeze_d and init_only choose what comes from another run: give --init-from too")
    if cfg.freeze_d and cfg.init_only == "G":
        raise WavegenError("freeze_d keeps layers of the source's D, but init_only G starts D afresh")
    if cfg.d_steps < 1:
        raise WavegenError(f"config key 'd_steps' must be >= 1, got {cfg.d_steps}")
    for f in fields(cfg):
        allowed, v = f.metadata["choices"], getattr(cfg, f.name)
        for x in v if isinstance(v, tuple) else (v,):  # a list field: each of its words
            if allowed and x not in allowed:
                raise WavegenError(f"config key {f.name!r} must be one of {', '.join(allowed)}; got {x!r}")
    check_augment(cfg)
    if not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        raise WavegenError(f"Adam betas must be in [0, 1), got ({cfg.beta1}, {cfg.beta2})")
    if cfg.label_noise < 0 or cfg.keep_ckpts < 0:
        raise WavegenError("label_noise and keep_ckpts must be >= 0")
    if not 0 <= cfg.holdout < 1:
        raise WavegenError(f"holdout must be in [0, 1), got {cfg.holdout}")
    if cfg.eval_every < 0 or cfg.layer_every < 0 or cfg.eval_n < 20:
        raise WavegenError("eval_every and layer_every must be >= 0, eval_n >= 20")
    if cfg.eval_every and cfg.best_metric not in cfg.eval_metrics:
        raise WavegenError(f"best_metric {cfg.best_metric!r} must be one of eval_metrics {list(cfg.eval_metrics)}")
    from .models.build import check_model  # the models decide which widths and lengths they can make (imported
    # here, not above: the models' modules load torch, and `import wavegen.config` must not)

    check_model(cfg, cfg.length or None)


def check_augment(cfg: Config) -> None:
    if not 0 <= cfg.augment_p <= 1 or not 0 <= cfg.ada_target < 1:
        raise WavegenError(f"augment_p must be in [0, 1] and ada_target in [0, 1), got {cfg.augment_p}, {cfg.ada_target}")
    if cfg.ada_interval < 1 or cfg.ada_speed < 1:
        raise WavegenError(f"ada_interval and ada_speed must be >= 1, got {cfg.ada_interval}, {cfg.ada_speed}")
    if cfg.augment != "none" and (not cfg.augment_ops or len(set(cfg.augment_ops)) < len(cfg.augment_ops)):
        raise WavegenError(f"augment_ops must name each op once, got {','.join(cfg.augment_ops) or 'none'}")
    if cfg.augment == "fixed" and cfg.augment_p == 0:
        raise WavegenError("augment fixed with augment_p 0 augments nothing: give --augment-p (0.1 to 0.5)")


def _check_classes(cfg: Config) -> None:
    """One rule for the classes, and a pattern that compiles."""
    if cfg.classes_from_names and cfg.labels:
        raise WavegenError("classes_from_names and labels both give the classes; give one")
    try:
        re.compile(cfg.classes_from_names)
    except re.error as e:
        raise WavegenError(f"classes_from_names {cfg.classes_from_names!r}: not a regular expression ({e})") from None


def config_from_dict(d: dict) -> Config:
    """Rebuild a Config saved by `to_dict` (config.json or a checkpoint); unknown keys are an error."""
    names = {f.name for f in fields(Config)}
    if "dropout" in d:  # runs from before G and D had a dropout each
        d = {**d, "dropout_g": d["dropout"], "dropout_d": d["dropout"]}
        del d["dropout"]
    if d.get("arch") == "istft" and "istft_phase" not in d:  # istft runs from before G could predict "if"
        d = {**d, "istft_phase": "angle"}
    if d.get("arch") == "hpn" and "harmonic_shape" not in d:  # hpn runs from before the envelope
        d = {**d, "harmonic_shape": "shares"}
    unknown = set(d) - names
    if unknown:
        raise WavegenError(f"saved config has unknown key {sorted(unknown)[0]!r}")
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    cfg = Config(**d)
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """A run's config.json; anything wrong with it is one WavegenError naming the file."""
    path = Path(path)
    d = read_json_object(path, "config")
    try:
        return config_from_dict(d)
    except WavegenError as e:
        raise WavegenError(f"{path}: {e}") from None


def field_docs() -> list[dict]:
    """Every Config field as {name, section, type, default, help, choices}: what `--help` and docs/config.md show."""
    out = []
    for f in fields(Config):
        out.append({"name": f.name, "section": f.metadata["section"], "type": f.type.replace(" | None", ""),
                    "default": f.default, "help": f.metadata["help"], "choices": f.metadata["choices"]})
    return out


def markdown() -> str:
    """docs/config.md: every setting by section, and the presets."""
    lines = ["# Every setting", "",
             "Generated by `wavegen config --markdown` from `wavegen/config.py`, where each field has its default, its "
             "help and its allowed values. Every setting is a flag of `wavegen train` (`lr_g` is `--lr-g`).", ""]
    section = None
    for d in field_docs():
        if d["section"] != section:
            section = d["section"]
            lines += ["", f"## {section[0].upper()}{section[1:]}", "", "| flag | default | what it does |", "|---|---|---|"]
        default = ",".join(d["default"]) if isinstance(d["default"], tuple) else d["default"]
        default = '""' if default == "" else default
        allowed = f" One of: {', '.join(d['choices'])}." if d["choices"] else ""
        help_ = (d["help"] + "." + allowed).replace("|", "\\|")
        flag = {"data": "DATA (argument)", "run_id": "(config.json)"}.get(d["name"], f"--{d['name'].replace('_', '-')}")
        lines.append(f"| `{flag}` | `{default}` | {help_} |")
    lines += ["", "## Presets", "", "A preset sets the fields it names and nothing else; flags override it.", "",
              "| preset | what it is | values |", "|---|---|---|"]
    for name, values in PRESETS.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        lines.append(f"| `{name}` | {PRESET_HELP[name]} | {shown} |")
    aliases = ", ".join(f"`{old}` (now `{new}`)" for old, new in PRESET_ALIASES.items())
    lines += ["", f"Older preset names still accepted: {aliases}.", ""]
    return "\n".join(lines)
