"""Metrics for the synthetic Gaussian-curve data only (meta["kind"] == "gaussian"): the truth is known.

ideal_rmse: sqrt(mean((x - ideal)^2)) / noise over all samples, where ideal is the noiseless curve. Real data
    gives 1.0 (its residual is the noise); an offset or extra noise raises it; below 1 means the samples are
    smoother than the data (its noise is not reproduced). Target 1.0.

Fits: each example (every channel a separate curve) is fitted with

    f(t) = a exp(-(t - c)^2 / (2 w^2)) + b        t = 0 .. L-1

by a vectorised Levenberg-Marquardt least-squares (all examples at once, ITERS iterations, w fitted as log w
so it stays positive), started from the smoothed peak (c, a), the width at half height (w) and the median (b).
A fit fails when a parameter is not finite, the centre is outside [0, L-1], the width outside [0.5, L], or
the bump is no taller than the rms residual around the fit (|a| <= rms: a bump lost in its own noise); failed
fits are left out of the parameter metrics and counted by fit_failed.

fit_failed: fraction of examples whose fit failed. Lower is better; real data ~0.
fit_centre, fit_width, fit_amplitude, fit_offset: the 1-D Wasserstein distance between the fitted c, w, a or b
    of the samples and those of real set A. It sees both a wrong mean (an offset, a shifted centre) and a wrong
    spread (one repeated curve, extra noise), in the parameter's own units (samples, or the waveform's scale).
    Lower is better; real vs real (fitting noise and finite sets) is the floor. (An error against the true value
    instead would rank one repeated good curve above the real data itself.)
fit_spread: variety. For each of c, w, a, b the std over the samples' fits divided by the std over real set
    A's fits; the value is the geometric mean of the four ratios. Target 1.0: under 1 is less variety than the
    data (mode collapse: ~0 for one repeated curve), over 1 is more (extra noise).
"""
from __future__ import annotations

import hashlib

import numpy as np
import scipy.ndimage
import scipy.stats

from ...data.synthetic import GaussianSpec
from .registry import EvalSets, register

ITERS = 30
PARAMS = {"amplitude": "peak height", "centre": "centre (samples)", "width": "width sigma (samples)",
          "offset": "baseline offset"}  # the columns of a fit, in order: a, c, w, b


def is_gaussian(sets: EvalSets) -> bool:
    m = sets.meta
    return bool(m) and m.get("kind") == "gaussian" and m.get("length") == sets.real.shape[-1]


def spec_of(sets: EvalSets) -> GaussianSpec:
    return GaussianSpec(**{k: v for k, v in sets.meta.items() if k in GaussianSpec.__dataclass_fields__})


def _model(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p (n, 4) = a, c, log w, b -> curve f (n, L) and its Jacobian (n, L, 4)."""
    a, c, logw, b = (p[:, i:i + 1] for i in range(4))
    u = (t[None, :] - c) / np.exp(logw)  # (n, L) distance from the centre in widths
    g = np.exp(-0.5 * u * u)
    jac = np.stack([g, a * g * u / np.exp(logw), a * g * u * u, np.ones_like(g)], axis=2)  # d f / d (a, c, log w, b)
    return a * g + b, jac


def fit_curves(y: np.ndarray) -> np.ndarray:
    """Fit a Gaussian bump plus offset to every row of y (n, L). Returns (n, 4): a, c, w, b; NaN rows failed."""
    n, length = y.shape
    t = np.arange(length, dtype=np.float64)
    y = y.astype(np.float64)
    # initial values from a smoothed copy (a 5-sample moving average), so one noisy sample is not "the peak"
    smooth = scipy.ndimage.uniform_filter1d(y, min(5, length), axis=1, mode="nearest")
    b0 = np.median(y, axis=1)
    peak = np.abs(smooth - b0[:, None]).argmax(1)  # the bump may point down
    a0 = smooth[np.arange(n), peak] - b0
    above = ((smooth - b0[:, None]) / np.where(a0 == 0, 1, a0)[:, None] > 0.5).sum(1)  # samples above half height
    w0 = np.clip(above / 2.355, 1.0, length / 2)  # full width at half maximum = 2.355 w
    p = np.stack([a0, peak.astype(np.float64), np.log(w0), b0], axis=1)  # (n, 4)

    lam = np.full(n, 1e-2)  # per-curve Levenberg-Marquardt damping
    f, jac = _model(p, t)
    sse = ((y - f) ** 2).sum(1)
    for _ in range(ITERS):
        jt = jac.transpose(0, 2, 1)  # (n, 4, L)
        jtj = jt @ jac  # (n, 4, 4)
        jtr = (jt @ (y - f)[:, :, None])[:, :, 0]  # (n, 4)
        # Marquardt's scaling (damp each parameter by its own curvature), with a floor so that a flat curve
        # (a = 0: no gradient for c and w) still gives a solvable system
        damped = jtj + lam[:, None, None] * (np.eye(4) * (np.diagonal(jtj, axis1=1, axis2=2)[:, :, None] + 1e-9))
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(damped, jtr[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:  # an exactly singular system somewhere in the batch: least squares
                step = (np.linalg.pinv(damped) @ jtr[:, :, None])[:, :, 0]
            p_new = p + step
            f_new, jac_new = _model(p_new, t)
            sse_new = ((y - f_new) ** 2).sum(1)
        ok = np.isfinite(sse_new) & (sse_new < sse)  # accept a step only if it lowers the error
        p[ok], f[ok], jac[ok], sse[ok] = p_new[ok], f_new[ok], jac_new[ok], sse_new[ok]
        lam = np.where(ok, lam / 3, lam * 4)

    out = p.copy()
    with np.errstate(over="ignore"):
        out[:, 2] = np.exp(p[:, 2])  # log w -> w
    rms = np.sqrt(sse / length)  # the residual around the fit
    failed = (~np.isfinite(out).all(1) | (out[:, 1] < 0) | (out[:, 1] > length - 1) | (out[:, 2] < 0.5)
              | (out[:, 2] > length) | (np.abs(out[:, 0]) <= rms))  # a "bump" no taller than the noise is noise
    out[failed] = np.nan
    return out


def fits(x: np.ndarray, sets: EvalSets) -> np.ndarray:
    """fit_curves of (n, C, L) examples, every channel a curve: (n*C, 4). Cached: for the sets' own arrays,
    and for the last generated samples by content (six metrics here fit the same samples)."""
    run = lambda: fit_curves(x.reshape(-1, x.shape[-1]))  # noqa: E731
    name = sets.own(x)
    if name is not None:
        return sets.cached(("gaussian_fits", name), run)
    digest = (x.shape, x.dtype.str, hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest())
    last = sets.cache.get("gaussian_fits_samples")
    if last is None or last[0] != digest:  # one slot: evaluating many generators does not pile up fits
        last = sets.cache["gaussian_fits_samples"] = (digest, run())
    return last[1]


@register("ideal_rmse", lower_is_better=False, target=1.0, ratio=True, applies=is_gaussian)
def ideal_rmse(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """RMSE of the samples to the noiseless curve, in units of the data's noise std; real data gives ~1."""
    spec = spec_of(sets)
    err = samples.astype(np.float64) - spec.ideal()  # (n, C, L)
    return float(np.sqrt((err ** 2).mean()) / max(spec.noise, 1e-12))


@register("fit_failed", lower_is_better=True, applies=is_gaussian)
def fit_failed(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Fraction of samples where a Gaussian-bump fit fails (no bump in range, or lost in noise); real data ~0."""
    return float(np.isnan(fits(samples, sets)[:, 0]).mean())


def _param_distance(i: int):
    """The metric fn for parameter column i: Wasserstein-1 between the samples' and real set A's fits that
    did not fail."""
    def fn(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
        p, ref = (f[:, i][np.isfinite(f[:, i])] for f in (fits(samples, sets), fits(sets.real, sets)))
        return float(scipy.stats.wasserstein_distance(p, ref)) if len(p) and len(ref) else float("nan")
    return fn


for _i, (_name, _what) in enumerate(PARAMS.items()):  # fit_amplitude, fit_centre, fit_width, fit_offset
    register(f"fit_{_name}", lower_is_better=True, applies=is_gaussian,
             doc=f"Wasserstein distance between the fitted {_what} of the samples and of real data; lower is better, real vs real is the floor.")(_param_distance(_i))


@register("fit_spread", lower_is_better=False, target=1.0, ratio=True, applies=is_gaussian)
def fit_spread(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Geometric mean over (a, c, w, b) of the fitted parameters' std, samples over real set A; ~1 ideal, ~0 = mode collapse."""
    def spread(p):  # (n, 4) -> (4,) std over the successful fits
        p = p[np.isfinite(p).all(1)]
        return p.std(0) if len(p) > 1 else np.full(4, np.nan)
    ratio = spread(fits(samples, sets)) / np.maximum(spread(fits(sets.real, sets)), 1e-12)
    with np.errstate(divide="ignore"):
        return float(np.exp(np.log(ratio).mean()))
