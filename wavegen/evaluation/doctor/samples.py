"""Checks on what G makes (its newest preview) against the data: silence, noise, collapse and copies."""
from __future__ import annotations

import numpy as np

from ..metrics.features import pairwise_sq_dists
from .real import COLLAPSE, SILENT_RMS, near_start, rms, still_untrained, variety
from .registry import check, finding
from .remedy import augment_remedy, new_run_command, preset_values, smaller_lr
from .training import CONFIG_CAUSE, FAR

SILENCE = 0.1  # samples quieter than this share of the data's RMS (-20 dB) are silence
MEMORISED = 0.5  # samples nearer their closest training example than this share of a real example's distance copy
MIN_NZ = 8  # a latent this small cannot hold the data's variety
UNTRAINED = 25  # the rank of a symptom G's untrained output already had: after the checks of what kept G there
NOISE = 0.5  # spectral flatness at which samples are noise (white noise's periodogram has e^-0.577 = 0.56) ...
NOISE_FAR = 10.0  # ... when they are also this many times farther from the data than real data is
SCATTERED = 3.0  # ... or flatter than the data and this many times as far apart as real examples (strewn noise)


def usable(ev) -> tuple[np.ndarray, object] | None:
    x, real = ev.samples, ev.compared
    if x is None or real is None or not np.isfinite(x).all() or x.shape[1:] != real.train.shape[1:]:
        return None
    return x, real


@check("silence", 80, "G's output is near zero while the data is not")
def silence(ev):
    got = usable(ev)
    if got is None:
        return None
    x, real = got
    loud, quiet = float(np.median(real.rms)), float(np.median(rms(x)))
    if loud < SILENT_RMS or quiet >= SILENCE * loud:
        return None
    cfg, start = ev.cfg, ev.preview(0)
    flags = {"lr_g": cfg.lr_g / 2, "lr_d": cfg.lr_d / 2}
    if cfg.loss in ("bce", "nonsat", "lsgan") and cfg.arch != "dcgan":
        flags["loss"] = "hinge"
    if cfg.normalise == "none":
        flags["normalise"] = "peak"
    # An untrained G with the DCGAN init is quiet already: silence it never left is a symptom of what kept it there
    # (a dead D, rates too small, too few batches), so it ranks after those checks.
    kept = near_start(x, start, real)
    return finding("silence", ev.sample_step, f"median RMS of G's samples {quiet:.2g} at batch {ev.sample_step}, "
                   f"against {loud:.2g} for the data (threshold {SILENCE:g}x)"
                   + ("; as quiet as its untrained output" if kept else ""),
                   "a G that outputs silence has found a point D cannot score; louder data and gentler steps leave "
                   "it no such point", flags, new_run_command(ev, flags), rank=UNTRAINED if kept else None, rms=quiet,
                   data_rms=loud)


def flatness(x: np.ndarray) -> float:
    """Median spectral flatness (geometric over arithmetic mean of the power spectrum) of the examples x."""
    p = np.abs(np.fft.rfft(x.reshape(len(x), -1), axis=-1)) ** 2 + 1e-20  # (n, F)
    return float(np.median(np.exp(np.log(p).mean(-1)) / p.mean(-1)))


@check("mode_collapse", 65, "G's samples are far less varied than the data")
def mode_collapse(ev):
    got = usable(ev)
    if got is None or len(got[0]) < 4:
        return None
    x, real = got
    if float(np.median(rms(x))) < SILENCE * float(np.median(real.rms)):
        return None  # silent samples are alike too: silence says so
    spread, cfg = variety(x, real), ev.cfg
    if cfg.nz < MIN_NZ:
        return tiny_latent(ev, spread)
    if spread >= COLLAPSE:
        return None
    if still_untrained(x, ev.preview(0), real):  # ev.preview(0): G's untrained output on the same noise
        return None  # as alike as the untrained G's and hardly changed: not trained enough to collapse (too_short)
    flags = {"d_mbstd": 4, "lr_g": cfg.lr_g / 2}
    return finding("mode_collapse", ev.sample_step, f"G's samples at batch {ev.sample_step} are {spread:.2f}x as far "
                   f"apart as real examples (threshold {COLLAPSE})",
                   "minibatch std lets D see a batch's variety, so a G that makes one thing loses", flags,
                   new_run_command(ev, flags), spread=spread)


def tiny_latent(ev, spread: float):
    """mode_collapse caused by the config: a latent of fewer than MIN_NZ numbers cannot hold the data's variety, so
    the samples are alike, or far from the data however varied (G's output noise varies them, but only along what
    the latent cannot reach). Ranked as a cause, before the symptoms it makes (D wins over a G that cannot follow)."""
    cfg, far = ev.cfg, ev.far_ratio
    if spread >= COLLAPSE and (far is None or far < FAR):
        return None
    base = preset_values(cfg)
    flags = {"nz": max(base.nz, MIN_NZ)}
    what = (f"{spread:.2f}x as far apart as real examples (threshold {COLLAPSE})" if spread < COLLAPSE else
            f"{far:.1f}x farther from the data than real data is (threshold {FAR:g})")
    return finding("mode_collapse", ev.sample_step, f"G's latent has {cfg.nz} number(s) (fewer than {MIN_NZ}) and its "
                   f"samples at batch {ev.sample_step} are {what}", "a latent this small cannot hold the data's "
                   "variety; no training makes up for it", flags, new_run_command(ev, flags), rank=CONFIG_CAUSE,
                   spread=spread, far=far)


@check("memorised", 92, "G's samples copy training examples (nearest-neighbour distances against real vs real)")
def memorised(ev):
    got = usable(ev)
    if got is None:
        return None
    x, real = got
    if variety(x, real) < COLLAPSE:
        return None  # samples alike sit near one example: mode_collapse says so
    near = float(np.median(np.sqrt(pairwise_sq_dists(real.feats(x), real.pool_feats).min(1))))
    ratio = near / max(real.ref_nn, 1e-12)
    if ratio >= MEMORISED:
        return None
    cfg = ev.cfg
    flags = {"dropout_d": max(cfg.dropout_d, 0.3), "holdout": 0.1 if cfg.holdout == 0 else cfg.holdout,
             "eval_every": cfg.eval_every or 100, "eval_metrics": ("frechet", "nn_ratio"), "best_metric": "nn_ratio"}
    if cfg.batches:
        flags["batches"] = max(100, cfg.batches // 4)
    flags.update(augment_remedy(ev, flags.get("batches"), real.n_train))  # D unable to learn them teaches no copies
    return finding("memorised", ev.sample_step, f"G's samples sit {near:.3g} from their nearest training example, "
                   f"{ratio:.2f}x the distance between real examples ({real.ref_nn:.3g}; threshold {MEMORISED}x), with "
                   f"{real.n_train} training examples", "with this little data D learns the examples by heart and G "
                   "copies them: stop earlier (best by nn_ratio on held-out data), a noisier D"
                   + (", augmentations of all D sees (ADA)" if "augment" in flags else "") + ", or more data",
                   flags, new_run_command(ev, flags), ratio=ratio)


@check("noise", 50, "G's output is noise without the data's structure")
def noise(ev):
    got = usable(ev)
    if got is None:
        return None
    x, real = got
    flat, flat_real = flatness(x), flatness(real.ref)
    far, spread = ev.far_ratio, variety(x, real)
    scattered = spread >= SCATTERED and flat >= 1.5 * flat_real  # flatter than the data and strewn far beyond it
    if far is None or far < NOISE_FAR or (flat < max(NOISE, 1.5 * flat_real) and not scattered):
        return None
    if near_start(x, ev.preview(0), real):
        return None  # still the untrained G's noise (it makes near-white noise): too_short, d_wins... say why
    cfg = ev.cfg
    flags = smaller_lr(cfg, 0.5)
    if cfg.upsample == "transpose":
        flags["upsample"] = "nearest"
    if cfg.beta1 > 0.5:
        flags["beta1"] = 0.5
    shape = (f"have spectral flatness {flat:.2f} (data {flat_real:.2f}; threshold {NOISE})" if flat >= NOISE else
             f"are {spread:.1f}x as far apart as real examples (threshold {SCATTERED:g}) with spectral flatness "
             f"{flat:.2f}, {flat / max(flat_real, 1e-12):.1f}x the data's (threshold 1.5x)")
    return finding("noise", ev.sample_step, f"G's samples at batch {ev.sample_step} {shape}, and are {far:.0f}x "
                   f"farther from the data than real data is (threshold {NOISE_FAR:g})", "G has not found the data's "
                   "structure; gentler steps and upsampling without checkerboard give it a smoother start", flags,
                   new_run_command(ev, flags), flatness=flat, far=far)
