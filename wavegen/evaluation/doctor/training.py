"""Checks on the training statistics: NaN, the balance of G and D, stability, divergence and whether the run
was long enough. Thresholds were calibrated on runs broken on purpose (docs/doctor.md, bench/doctor_eval.py)."""
from __future__ import annotations

import math

import numpy as np

from .real import COLLAPSE, MOVED, moved, still_untrained, variety
from .registry import check, finding
from .remedy import FAR_ABOVE, augment_remedy, new_run_command, preset_values, resume_command, smaller_lr

# D's mean output on real minus on fake at which D has won: its outputs saturate (logits for bce and nonsat:
# sigmoid(+-2.5) is 0.92 / 0.08; hinge's margin is 1 on each side; lsgan's targets are 1 and 0).
SATURATED = {"bce": 5.0, "nonsat": 5.0, "hinge": 2.0, "lsgan": 0.8}
CHANCE = {"bce": 0.3, "nonsat": 0.3, "hinge": 0.2, "lsgan": 0.08, "wgan-gp": 0.0}  # ... at which it tells nothing
FAR = 3.0  # samples this many times farther from the data than real data is: "still far from the data"
SPIKE = 10.0  # a gradient norm this many times its running median is a spike
SPIKES = 0.02  # share of the second half's batches with a spike at which the run is unstable
SWING = 1.0  # std of the smoothed margin over the second half, in units of SATURATED, at which it oscillates
DIVERGE = 2.0  # quality at the end this many times worse (badness) than at its best: diverged
IMPROVING = 0.15  # relative gain in badness over the last half of the scores that means: still improving
STUCK_UPDATE = 1e-5  # median per-layer update ratio (|dW| / |W| per batch) of G under which it barely moves
STEADY = 0.6  # share of the second half's batches with a saturated margin at which D has won (not swung there)
LEFT_START = 0.6  # a quality curve at this share of its first value has left the garbage phase
HUGE_LR = FAR_ABOVE  # a learning rate this many times its preset's blows weights up (smaller_lr gives the preset's)
CONFIG_CAUSE = 84  # the rank of a finding whose cause is a setting (below dead_d's and the data's, above symptoms)
MAX_MORE = 4  # too_short proposes at most this many times the batches done
EXPLODED = 1e6  # D's margin this large has blown up: every loss saturates below 5, and squares of 1e19 overflow float32


def improving(ev) -> tuple[bool, float, float] | None:
    """(still improving at the end, relative gain over the last half of the quality curve, log-slope per batch)."""
    s = ev.scores
    if s is None or len(s.steps) < 3:
        return None
    half = s.badness[len(s.badness) // 2:]
    first, last = np.median(half[:max(1, len(half) // 2)]), np.median(half[-max(1, len(half) // 3):])
    gain = 1 - last / max(first, 1e-12)
    if s.floor is not None and first - last <= s.floor:
        return False, float(gain), 0.0  # a gain within the score's own sampling noise is no gain
    best_late = int(np.argmin(s.badness)) >= len(s.badness) * 0.6
    logs = np.log(np.maximum(half, 1e-12))
    slope = float(np.polyfit(s.steps[len(s.badness) // 2:], logs, 1)[0]) if len(half) >= 2 else 0.0
    return bool(gain > IMPROVING and best_late), float(gain), slope


def nan_events(ev) -> list[dict]:
    """Rows of stats.jsonl that tell of a NaN: rollbacks, and the stop of a run with on_nan stop or out of
    rollbacks."""
    return [e for e in ev.stats.events if "event/rollback" in e or "event/nan" in e]


def nonfinite_output(ev) -> tuple[str, int] | None:
    """(what, batch) where G's newest preview or the newest checkpoint holds NaN or Inf, for runs written before
    the trainer logged its NaNs (the checkpoint is read only when the run ended before its batches)."""
    steps = ev.preview_steps
    x = ev.preview(steps[-1]) if steps else None
    if x is not None and not np.isfinite(x).all():
        return f"G's preview at batch {steps[-1]} holds NaN or Inf", steps[-1]
    want = ev.cfg.batches
    if want is None or ev.batches >= want:
        return None
    from ...checkpoint import list_ckpts, load

    ckpts = list_ckpts(ev.run)
    if not ckpts:
        return None
    try:
        state = load(ckpts[-1])
    except Exception:  # noqa: BLE001  (an unreadable checkpoint is not evidence of a NaN)
        return None
    for name in ("G", "D"):
        weights = state.get(name) if isinstance(state.get(name), dict) else {}
        if any(hasattr(t, "isfinite") and not bool(t.isfinite().all()) for t in weights.values()):
            return f"{name}'s weights in {ckpts[-1].name} hold NaN or Inf", ev.batches
    return None


def exploded(ev) -> tuple[str, int] | None:
    """(what, batch) where D's outputs grew past EXPLODED at the end of the run: finite only because its loss is
    linear in them (hinge, wgan), or not yet squared past float32's range (lsgan)."""
    if not len(ev.stats.steps):
        return None
    size = float(np.median(np.abs(ev.tail(ev.margin))))
    if size < EXPLODED:
        return None
    first = int(ev.stats.steps[np.argmax(np.abs(ev.margin) >= EXPLODED)])
    return (f"D's outputs blew up: its margin (D/real - D/fake) is {size:.3g} over the last "
            f"{len(ev.tail(ev.margin))} batches, past {EXPLODED:g} first at batch {first}: weights on their way to "
            "overflow"), first


@check("nan", 100, "a loss or gradient turned NaN or Inf (or D's outputs blew up on the way there): the run went back "
       "to a checkpoint, or stopped", explains=("unstable", "too_short"))
def nan(ev):
    events = nan_events(ev)
    bad = ~np.isfinite(np.stack(list(ev.stats.cols.values()))).all(0) if len(ev.stats.steps) else np.zeros(0, bool)
    other = None if events or bad.any() else nonfinite_output(ev) or exploded(ev)
    if not events and not bad.any() and other is None:
        return None
    cfg = ev.cfg
    rollbacks = sum("event/rollback" in e for e in events)
    stopped = next((e for e in events if "event/stop" in e), None)
    if events:
        first = int(events[0]["step"])
        keys = sorted({k for e in events for k in str(e.get("event/nan", "")).split(", ") if k})
        what = (f"{rollbacks} rollback(s) after a NaN or Inf, the first after batch {first}"
                + (f"; stopped at batch {stopped['step']} of {cfg.batches} ({stopped['event/stop']})" if stopped else "")
                + (f"; not finite: {', '.join(keys)}" if keys else ""))
    elif bad.any():
        first = int(ev.stats.steps[np.argmax(bad)])
        what = f"batch rows with NaN or Inf from batch {first}"
    else:
        what, first = other
    flags = smaller_lr(cfg, 1 / 4)
    if cfg.beta1 > 0.5:
        flags["beta1"] = 0.5
    return finding("nan", first, f"{what}; learning rates lr_g {cfg.lr_g:.3g}, lr_d {cfg.lr_d:.3g}",
                   "steps too large for the loss: smaller learning rates keep the weights and D's outputs finite",
                   flags, new_run_command(ev, flags), rollbacks=rollbacks, stopped=stopped is not None)


DEAD_MARGIN = 1e-6  # D/real and D/fake this close (relative to their size) are the same output
DEAD_GRAD = 1e-8  # G's gradient norm under this: G gets nothing from D
DEAD_SHARE = 0.9  # share of the batch rows where both hold
# A D that never lived leaves every statistic flat or noisy and G untaught: what is read from them follows from it.
DEAD_D_EXPLAINS = ("unstable", "too_short", "d_wins", "g_wins", "mode_collapse", "noise", "silence", "divergence")


@check("dead_d", 85, "D outputs the same for real and fake from the start and G's gradient vanishes",
       explains=DEAD_D_EXPLAINS)
def dead_d(ev):
    st = ev.stats
    if len(st.steps) < 10:
        return None
    same = np.abs(ev.margin) <= DEAD_MARGIN * np.maximum(1.0, np.abs(st["D/real"]))
    dead = same & (st["grad_norm/G"] < DEAD_GRAD)
    share = float(dead.mean())
    if share < DEAD_SHARE or not dead[:10].all():
        return None
    cfg = ev.cfg
    flags = {"init": "default"} if cfg.init == "dcgan" else {"layers": max(1, (cfg.layers or 6) - 2)}
    why = ("N(0, 0.02) weights shrink the signal at every layer of a deep D until its output is its bias alone; "
           "PyTorch's default init keeps it alive" if cfg.init == "dcgan" else
           "a shallower D keeps the signal from vanishing before its output")
    return finding("dead_d", int(st.steps[0]), f"D/real equals D/fake and G's gradient norm is under {DEAD_GRAD:g} "
                   f"(median {float(np.median(st['grad_norm/G'])):.2g}) in {share:.0%} of the batch rows, from "
                   f"batch {int(st.steps[0])} (threshold {DEAD_SHARE:.0%})", why, flags, new_run_command(ev, flags),
                   share=share, grad_g=float(np.median(st["grad_norm/G"])))


@check("d_wins", 69, "D separates real from fake with a saturated margin and G's gradient vanishes",
       explains=("too_short",))
def d_wins(ev):
    cfg, limit = ev.cfg, SATURATED.get(ev.cfg.loss)
    if limit is None or len(ev.stats.steps) < 2 * 20:
        return None
    margin = float(np.median(ev.tail(ev.margin)))
    steady = float((ev.tail(ev.margin, 0.5) >= limit).mean())
    if margin < limit or steady < STEADY:
        return None  # saturated now and then: a margin that swings is unstable's
    trend = improving(ev)
    if trend is not None and trend[0] and margin < 2 * limit:
        return None  # D is ahead but G still gains: too_short says so
    flags: dict = {"d_steps": 1} if cfg.d_steps > 1 else {}
    if cfg.lr_d > cfg.lr_g:
        flags["lr_d"] = cfg.lr_g
    elif not flags:  # no setting favours D: on a small data set it has learned the examples
        flags = augment_remedy(ev) or {"lr_d": smaller_lr(cfg, 1 / 4)["lr_d"]}
    if cfg.loss == "bce" and cfg.label_noise < 0.2:
        flags["label_noise"] = 0.2
    why = (f"with {ev.data.get('n')} training examples D can tell them apart by heart; augmenting what it sees, real "
           "and fake alike, as often as it needs (ADA) keeps it off saturation without teaching G the augmentations"
           if "augment" in flags else
           "a slower or noisier D keeps its outputs off saturation, so G's loss has a gradient again")
    return finding("d_wins", ev.batches, f"D's margin (D/real - D/fake) {margin:.2f} over the last "
                   f"{len(ev.tail(ev.margin))} batches, at or above {limit} where a {cfg.loss} D saturates", why,
                   flags, new_run_command(ev, flags), margin=margin, threshold=limit)


@check("g_wins", 66, "D no longer tells real from fake while the samples are still far from the data",
       explains=("too_short",))
def g_wins(ev):
    cfg = ev.cfg
    limit = CHANCE[cfg.loss]
    if len(ev.stats.steps) < 20:
        return None
    margin = float(np.median(ev.tail(ev.margin)))
    if margin > limit:
        return None
    update = ev.g_update_ratio
    if update is not None and update < STUCK_UPDATE:
        return None  # D at chance because nothing learns: too_short says so
    far = ev.far_ratio
    if far is None or far < FAR:
        return None
    flags = {"lr_d": cfg.lr_d * 2} if cfg.d_steps > 1 or cfg.lr_d >= cfg.lr_g else {"lr_d": cfg.lr_g}
    if cfg.dropout_d > 0.3:
        flags["dropout_d"] = 0.2
    return finding("g_wins", ev.batches, f"D's margin {margin:.3f} over the last {len(ev.tail(ev.margin))} batches "
                   f"(at or below {limit}: no better than chance) while the samples are {far:.1f}x farther from the "
                   f"data than real data is (threshold {FAR})",
                   "D has stopped teaching G; a stronger D gives G something to follow again",
                   flags, new_run_command(ev, flags), margin=margin, far=far)


def spike_share(ev) -> float:
    """Share of the second half's batches whose gradient norm spikes while D is not saturated: a saturated D's
    gradients jump as its logits cross the flat part of the loss, which is d_wins, not instability."""
    half = len(ev.stats.steps) // 2
    limit = SATURATED.get(ev.cfg.loss, np.inf)
    calm = np.abs(ev.smoothed_margin[half:]) < limit
    shares = []
    for key in ("grad_norm/G", "grad_norm/D"):
        x = ev.stats[key]
        med = running_median(x, ev.w)
        spikes = (x[half:] > SPIKE * np.maximum(med[half:], 1e-12)) & (x[half:] > DEAD_GRAD)  # not a dead D's jitter
        shares.append(float((spikes & calm).mean()))
    return max(shares)


def running_median(x: np.ndarray, n: int) -> np.ndarray:
    """A trailing median over blocks of n (cheap on 100,000 rows: one median per block)."""
    k = max(1, len(x) // n)
    blocks = np.array([np.median(b) for b in np.array_split(x, k)])
    return np.repeat(blocks, [len(b) for b in np.array_split(x, k)])


def steps_too_large(ev):
    """unstable as a cause: a learning rate over HUGE_LR x its preset's, and a run that shows it (samples far from the
    data, or G's weights frozen: steps that large grow the weights until a step is nothing beside them). What it
    shows (D saturated, samples alike or clipped) are its symptoms, so it ranks above their checks."""
    cfg, base, update = ev.cfg, preset_values(ev.cfg), ev.g_update_ratio
    over = max(cfg.lr_g / base.lr_g, cfg.lr_d / base.lr_d)
    if over < HUGE_LR:
        return None
    far = ev.far_ratio
    frozen = update is not None and update < STUCK_UPDATE
    if not frozen and (far is None or far < FAR):
        return None
    flags = {"lr_g": min(cfg.lr_g, base.lr_g), "lr_d": min(cfg.lr_d, base.lr_d)}
    what = (f"G's median per-layer update ratio is {update:.2g} per batch (under {STUCK_UPDATE:g}): its weights blew "
            "up and froze" if frozen else f"the samples are {far:.1f}x farther from the data than real data is "
            f"(threshold {FAR:g})")
    return finding("unstable", ev.batches, f"learning rates lr_g {cfg.lr_g:.3g}, lr_d {cfg.lr_d:.3g}: up to "
                   f"{over:.0f}x the preset's (threshold {HUGE_LR}x); {what}", "steps this large throw the weights "
                   "about faster than either player can follow; the preset's rates were measured to train",
                   flags, new_run_command(ev, flags), rank=CONFIG_CAUSE, over=over,
                   update_ratio=update if update is not None else float("nan"))


@check("unstable", 68, "losses, logits or gradient norms oscillate or spike", explains=("too_short",))
def unstable(ev):
    cfg = ev.cfg
    large = steps_too_large(ev)
    if large is not None:
        return large
    if len(ev.stats.steps) < 100:
        return None
    spikes = spike_share(ev)
    half = len(ev.margin) // 2
    scale = SATURATED.get(cfg.loss, max(1.0, float(np.median(np.abs(ev.margin)))))
    swing = float(np.std(ev.smoothed_margin[half:])) / scale
    if spikes < SPIKES and swing < SWING:
        return None
    flags = smaller_lr(cfg, 1 / 2)
    if cfg.beta1 > 0.5:
        flags["beta1"] = 0.5
    what = (f"{spikes:.1%} of the second half's batches have a gradient norm over {SPIKE:g}x its running median "
            f"(threshold {SPIKES:.0%})" if spikes >= SPIKES else
            f"D's smoothed margin swings with std {swing * scale:.2f} over the second half ({swing:.2f}x the "
            f"saturated margin {scale:g}; threshold {SWING})")
    return finding("unstable", ev.batches, what, "smaller steps (and Adam's beta1 0.5) damp the oscillation",
                   flags, new_run_command(ev, flags), spikes=spikes, swing=swing)


def worse_than_start(ev):
    """A run started from another run's G (--init-from) whose previews over the second half of the run sit farther
    from the data than its start: its best was its start, which no score logged. (start distance, the second
    half's median distance) or None. The median, since one preview's distance from few samples is noisy."""
    real, start = ev.compared if ev.cfg.init_from else None, ev.preview(0)
    if real is None or start is None or not np.isfinite(start).all() or start.shape[1:] != real.train.shape[1:]:
        return None
    late = [ev.preview(s) for s in ev.preview_steps if s > ev.batches / 2]
    late = [x for x in late if x is not None and x.shape == start.shape and np.isfinite(x).all()]
    if not late:
        return None
    a, b = real.distance(start), float(np.median([real.distance(x) for x in late]))
    return (a, b) if b >= DIVERGE * max(a, real.floor(len(start))) else None


def diverged_from_start(ev):
    a, b = worse_than_start(ev)
    cfg, base = ev.cfg, preset_values(ev.cfg)
    # going on from a G that was good: the preset's proven steps at most
    flags = {"lr_g": min(cfg.lr_g / 4, base.lr_g), "lr_d": min(cfg.lr_d / 4, base.lr_d), "stop_on_divergence": True}
    if cfg.beta1 > base.beta1:
        flags["beta1"] = base.beta1
    return finding("divergence", 0, f"started from {cfg.init_from} at preview distance {a:.3g}; over the second half "
                   f"of the run its previews sat at {b:.3g} (median), {b / max(a, 1e-12):.1f}x worse (threshold "
                   f"{DIVERGE}x the start or real data's distance)",
                   "the G it started from was better than any it made: keep that one, or go on from it with smaller "
                   "steps", flags, new_run_command(ev, flags), best_step=0, worse=b / max(a, 1e-12))


@check("divergence", 70, "quality got worse after its best: stop there, or train again with a remedy",
       explains=("too_short",))
def divergence(ev):
    if ev.cfg.init_from and worse_than_start(ev) is not None:
        return diverged_from_start(ev)
    s = ev.scores
    if s is None or len(s.steps) < 4:
        return None
    best = int(np.argmin(s.badness))
    end = float(np.median(s.badness[-2:]))
    found = ev.analysis.get("divergence")  # fell back over halfway (log scale) from its best to the garbage phase
    if found is None or best >= len(s.badness) - 2 or end < DIVERGE * max(s.badness[best], 1e-12):
        return None
    at = int(found)
    cfg = ev.cfg
    flags = {"lr_g": cfg.lr_g / 2, "lr_d": cfg.lr_d / 2, "stop_on_divergence": True}
    if not cfg.eval_every:
        flags["eval_every"] = max(10, int(s.steps[1] - s.steps[0]))
    cmd = f"wavegen generate {ev.run} --best --n 100 --out samples/  (best.pt); or a new run: " \
        if (ev.run / "checkpoints" / "best.pt").exists() else ""
    return finding("divergence", at, f"{s.name} {end:.4g} at the end, {end / max(s.badness[best], 1e-12):.1f}x worse "
                   f"than its best {s.badness[best]:.4g} at batch {int(s.steps[best])} (threshold {DIVERGE}x)",
                   "the run was best at that batch: keep that one, and let a new run stop itself where it drifts",
                   flags, cmd + new_run_command(ev, flags), best_step=int(s.steps[best]),
                   worse=end / max(float(s.badness[best]), 1e-12))


@check("too_short", 30, "still improving at the end (or barely moving): train longer, or faster")
def too_short(ev):
    cfg, done = ev.cfg, ev.batches
    if done == 0:
        return None
    update, base = ev.g_update_ratio, preset_values(cfg)
    if update is not None and update < STUCK_UPDATE and cfg.lr_g < HUGE_LR * base.lr_g:  # else: steps_too_large
        flags = {"lr_g": max(cfg.lr_g * 10, base.lr_g), "lr_d": max(cfg.lr_d * 10, base.lr_d)}
        return finding("too_short", done, f"G's median per-layer update ratio {update:.2g} per batch (under "
                       f"{STUCK_UPDATE:g}): at this rate it would take {1 / max(update, 1e-12):.3g} batches to change "
                       "its weights once over", "learning rates this small barely move the weights",
                       flags, new_run_command(ev, flags), update_ratio=update)
    trend = improving(ev)
    if trend is None or not trend[0]:
        return garbage_phase(ev) or untrained_output(ev)
    _, gain, slope = trend
    s = ev.scores
    target = math.log(max(s.floor if s.floor else float(s.badness.min()) / 2, 1e-12))
    need = (target - math.log(max(float(s.badness[-1]), 1e-12))) / slope if slope < 0 else done
    more = int(min(MAX_MORE * done, max(done // 2, need)))
    total = done + more
    flags = {"batches": total}
    return finding("too_short", done, f"{s.name} improved {gain:.0%} over the last half of the run and is best at "
                   f"its end (threshold {IMPROVING:.0%}); at its rate the run needs about {more} more batches",
                   "the run has not finished learning; resuming it goes on from its newest checkpoint",
                   flags, resume_command(ev, total), gain=gain, more=more)


def garbage_phase(ev):
    """too_short before the transition: samples still far from the data, no transition found, and neither player
    has won (d_wins and g_wins say when one has)."""
    far = ev.far_ratio
    if far is None or far < FAR or ev.analysis.get("transition") is not None or left_start(ev):
        return None
    total = 4 * ev.batches
    return finding("too_short", ev.batches, f"the samples are {far:.0f}x farther from the data than real data is "
                   f"(threshold {FAR:g}) and no transition was found (analysis: D's margin never fell below half its "
                   "peak, no score halved its way to its best)",
                   "the post's runs spend their first hundreds of batches in a garbage phase before the transition; "
                   "this one has not reached it", {"batches": total}, resume_command(ev, total), far=far)


def left_start(ev) -> bool:
    """Whether the quality curve (from G's untrained output where no score was logged) fell to LEFT_START of its first
    value and then stopped improving: G made its transition and has settled, however far from the data."""
    s, trend = ev.scores, improving(ev)
    return s is not None and float(s.badness.min()) <= LEFT_START * float(s.badness[0]) and not (trend and trend[0])


def untrained_output(ev):
    """too_short where G's samples are still as alike as its untrained output and hardly moved from it (mode_collapse
    leaves these here: too little training to tell a collapse)."""
    real, x = ev.compared, ev.samples
    if real is None or x is None or not np.isfinite(x).all() or x.shape[1:] != real.train.shape[1:]:
        return None
    spread = variety(x, real)
    if spread >= COLLAPSE or not still_untrained(x, ev.preview(0), real):
        return None
    total = 4 * ev.batches
    away = moved(x, ev.preview(0), real)
    return finding("too_short", ev.batches, f"G's samples are {spread:.2f}x as far apart as real examples (under "
                   f"{COLLAPSE}) and still as alike as its untrained output at batch 0, {away:.2f} real spreads from "
                   f"it (under {MOVED:g})", "G has barely left its start; too little training to "
                   "tell whether it collapses", {"batches": total}, resume_command(ev, total), spread=spread)
