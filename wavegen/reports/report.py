"""One self-contained HTML page per run: `run/report.html`.

Everything is embedded (figures as PNG and sounds as WAV, both base64 `data:` URIs; a little inline CSS;
no scripts, no links, no external files), so the page can be mailed, archived or opened offline. It shows:

1. the run: name, preset, data, batches trained and speed (from stats.jsonl's `time/wall_s` rows);
2. the progress figure (figures/progress.png, drawn by `wavegen.plot.plot_progress` when missing or older
   than stats.jsonl / analysis.json, given analysis.json's batches to mark) and, when analysis.json exists
   (or plot_progress wrote one), the transition and divergence batches; figures/layers.png when present;
3. at milestones (the untrained generator, the previews nearest the transition and divergence when known,
   the post's batches, the last preview): the sample figure (figures/samples_<batch>.png, drawn when
   missing); for the synthetic Gaussian data the preview's distance to the ideal curve;
4. spectrograms of the first fixed-noise samples at each milestone, for audio data only: on the synthetic
   Gaussian data (a 100-sample bump) a spectrogram has one or two time frames and says nothing the sample
   figure does not, so there the page says it left them out;
5. audio players for the first fixed-noise samples at each milestone: 16-bit WAV at the data's sample rate.
   A clip shorter than CLIP_SECONDS is repeated end to end (whole copies, no fades, no gain change) until it
   lasts at least that long, so that a 100-sample (6 ms) example can be heard; the page says so;
6. the last preview beside real training examples (spectrograms on one colour scale, players), per class for a
   conditional run, where the data can still be read;
7. the metrics of eval.json, when present, and for a conditional run cls_acc per class;
8. the doctor's findings (doctor.json when it is newer than stats.jsonl, else diagnosed now);
9. config.json and data.json.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf

from ..atomic import atomic_write

from ..runfolder import RunLog, read_eval, read_json_object, read_log, require_run
from ..config import Config, load_config
from ..errors import WavegenError
from .plot import POST_STEPS, choose_steps, load_preview, plot_progress, plot_samples, preview_steps

CLIP_SECONDS = 0.5  # clips shorter than this are repeated end to end until they are at least this long
AUDIO_PER_STEP = 4  # fixed-noise samples to play at each milestone
SPECTROGRAMS_PER_STEP = 4  # fixed-noise samples to draw spectrograms of at each milestone
SPECTROGRAM_RANGE_DB = 80.0  # colour range of the spectrograms, below the loudest bin of the whole report
BESIDE_PER_CLASS = 2  # samples and real examples of each class set side by side in a conditional run's report
AUGMENT_TAIL = 100  # batches over which the report averages ADA's r_t

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 12px 24px 40px; background: #fff; }
h1 { font-size: 26px; margin: 12px 0 4px; }
h2 { font-size: 20px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.sub { color: #666; margin: 0 0 10px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { width: 170px; }
img { max-width: 100%; height: auto; display: block; }
img.wide { max-width: 1000px; }
.note { color: #555; font-size: 14px; }
.flag { font-weight: 600; }
.milestone { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; align-items: start;
             border-top: 1px solid #eee; padding-top: 6px; }
.clips { display: grid; grid-template-columns: auto 1fr; gap: 4px 8px; align-items: center; margin: 6px 0; }
.clips audio { width: 100%; height: 32px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
"""


def _optional_int(value, path: Path, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise WavegenError(f"{path}: {key!r} must be a batch number or null, not {value!r}")
    return int(value)


def read_analysis(run: Path) -> dict | None:
    """analysis.json ({"transition": int|null, "divergence": int|null, ...}) or None when there is none."""
    path = run / "analysis.json"
    if not path.exists():
        return None
    a = read_json_object(path, "the analysis")
    for key in ("transition", "divergence"):
        a[key] = _optional_int(a.get(key), path, key)
    return a


# ---------------------------------------------------------------------------------------------- helpers

def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _num(x, digits: int = 4) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return _esc(f"{x:.{digits}g}") if isinstance(x, float) else _esc(x)
    return _esc(x)


def _data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode("ascii")


def _img(png: bytes, alt: str, cls: str = "") -> str:
    return f'<img src="{_data_uri("image/png", png)}" alt="{_esc(alt)}"' + (f' class="{cls}"' if cls else "") + ">"


def _fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _facts(rows: list[tuple[str, str]]) -> str:
    """A two-column table; values are HTML already."""
    return '<table class="facts">' + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _is_gaussian(data: dict) -> bool:
    meta = data.get("meta")
    return isinstance(meta, dict) and meta.get("kind") == "gaussian"


def _wav(clip: np.ndarray, sample_rate: int) -> bytes:
    """A (C, L) clip as 16-bit WAV bytes, repeated end to end to at least CLIP_SECONDS."""
    x = np.nan_to_num(np.asarray(clip, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0).T  # (L, C)
    reps = max(1, math.ceil(CLIP_SECONDS * sample_rate / max(len(x), 1)))
    x = np.clip(np.tile(x, (reps, 1)), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _nearest(available: list[int], step: int) -> int:
    return min(available, key=lambda s: (abs(s - step), s))


def milestones(available: list[int], analysis: dict | None) -> list[tuple[int, list[str]]]:
    """(batch, labels) of the previews the report shows: the first (untrained), the ones nearest the
    transition and divergence when known, the post's batches (or six spread over the run), the last."""
    labels: dict[int, list[str]] = {}
    if not available:
        return []

    def add(step: int, label: str) -> None:
        if label not in labels.setdefault(step, []):
            labels[step].append(label)

    add(available[0], "untrained" if available[0] == 0 else "first preview")
    for s in choose_steps(available, None):
        add(s, "a batch the post shows" if s in POST_STEPS else "")
    for key in ("transition", "divergence"):
        b = (analysis or {}).get(key)
        if b is not None:
            s = _nearest(available, b)
            add(s, key if s == b else f"nearest preview to the {key} (batch {b})")
    add(available[-1], "last")
    return [(s, [x for x in labels[s] if x]) for s in sorted(labels)]


# ---------------------------------------------------------------------------------------------- sections

def _header(run: Path, cfg: dict, data: dict, log: RunLog, analysis: dict | None) -> str:
    walls = log.timings
    last = log.batches[-1] if log.batches else None
    trained = f"{last['step']:,} ({last['epoch']:,} full epochs)" if last else "0 (no training statistics yet)"
    speed = "&ndash;"
    if walls and walls[-1]["time/wall_s"] > 0:
        w = walls[-1]
        speed = f"{w['step'] / w['time/wall_s']:.2f} batches/s ({w['step']:,} batches in {w['time/wall_s']:,.0f} s of training loop)"
    shape = ""
    if data:
        shape = (f"{data.get('n', '?'):,} examples" if isinstance(data.get("n"), int) else "? examples") + \
                f" \u00d7 {data.get('channels', '?')} channel(s) \u00d7 {data.get('length', '?')} samples at {data.get('sample_rate', '?')} Hz"
        if data.get("held_out"):
            shape += f" ({data['held_out']:,} more held out)"
        meta = data.get("meta")
        if _is_gaussian(data):
            shape += "; synthetic Gaussian curve: " + ", ".join(f"{k} {meta[k]}" for k in ("sigma", "amplitude", "noise") if k in meta)
    folder = data.get("folder") or cfg.get("data", "?")
    facts = [("preset", f"<code>{_esc(cfg.get('preset', '?'))}</code>"),
             ("data folder", f"<code>{_esc(folder)}</code>"),
             ("data", _esc(shape) if shape else "&ndash; (no data.json)"),
             ("batches trained", _esc(trained)),
             ("speed", _esc(speed) if speed != "&ndash;" else speed)]
    if cfg.get("init_from"):  # a run that started from another run's weights (--init-from)
        facts.insert(1, ("started from", f"<code>{_esc(cfg['init_from'])}</code> (batch {cfg.get('init_step', '?')})"))
    if cfg.get("augment", "none") != "none":
        facts.append(("augmentation", _esc(augment_fact(cfg, log.batches))))
    if analysis is not None:
        facts.append(("transition", _esc(_batch_text(analysis.get("transition"), "not found"))))
        facts.append(("divergence", _esc(_batch_text(analysis.get("divergence"), "none found"))))
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return (f"<h1>Run {_esc(run.name)}</h1>"
            f'<p class="sub">wavegen run report, written {when} from the run folder <code>{_esc(run)}</code></p>'
            + _facts(facts))


def augment_fact(cfg: dict, rows: list[dict]) -> str:
    """What D saw: the augmentation, its p at the end and D's r_t (the share of reals it scored positive) over the
    last AUGMENT_TAIL batches."""
    ops = ", ".join(cfg.get("augment_ops") or [])
    what = (f"ada ({ops}), r_t held near {cfg.get('ada_target')}" if cfg["augment"] == "ada" else
            f"fixed ({ops}) at p {cfg.get('augment_p')}")
    tail = [r for r in rows[-AUGMENT_TAIL:] if "augment/p" in r]
    if not tail:
        return what
    rt = sum(r["augment/rt"] for r in tail) / len(tail)
    return f"{what}; at the end p {tail[-1]['augment/p']:.3f}, r_t {rt:+.2f} over the last {len(tail)} batches"


def _batch_text(b: int | None, none: str) -> str:
    return f"batch {b:,}" if b is not None else none


def _draw_progress(run: Path, analysis: dict | None) -> None:
    """figures/progress.png, marked with analysis.json's transition and divergence (or found afresh without one)."""
    plot_progress(run, found=analysis)


def _progress(run: Path, log: RunLog, analysis: dict | None) -> str:
    out = ["<h2>Training progress</h2>"]
    png = run / "figures" / "progress.png"
    if not log.batches:
        return out[0] + '<p class="note">No training statistics yet (stats.jsonl has no batch rows): nothing to plot.</p>'
    out.append('<p class="note">The post\'s three panels against batch: G and D loss; D\'s mean logit on the real '
               "and the fake batch; the mean over parameters of each parameter's gradient norm (log scale). "
               "Faint: every batch; bold: a moving average.</p>")
    out.append(_img(png.read_bytes(), "training progress: losses, D logits, gradient norms", "wide"))
    if analysis is None:
        out.append('<p class="note">No analysis.json in this run folder: transition and divergence not marked.</p>')
    else:
        t, d = analysis.get("transition"), analysis.get("divergence")
        text = [f'<span class="flag">Transition: {_esc(_batch_text(t, "not found"))}.</span>',
                f'<span class="flag">Divergence: {_esc(_batch_text(d, "none found"))}.</span>']
        detail = []
        if analysis.get("transition_quality") is not None or analysis.get("transition_margin") is not None:
            quality = (_batch_text(analysis.get("transition_quality"), "not found") if analysis.get("metric")
                       else "no quality score logged")
            detail.append(f"transition from the quality score: {quality}; "
                          f"from D's margin: {_batch_text(analysis.get('transition_margin'), 'not found')}")
        best = analysis.get("best")
        if isinstance(best, dict) and "value" in best and "step" in best:
            detail.append(f"best {analysis.get('metric') or 'score'}: {best['value']:.4g} at batch {best['step']:,}")
        if detail:
            joined = "; ".join(detail)
            text.append(_esc(joined[0].upper() + joined[1:] + "."))
        out.append("<p>" + " ".join(text) + " From analysis.json; where found, they are drawn as vertical lines "
                   "in the figure.</p>")
    layers = run / "figures" / "layers.png"
    if layers.exists():  # drawn by `wavegen plot` where the run logged per-layer statistics
        out.append("<h3>Inside the networks</h3>" + _img(layers.read_bytes(), "per-layer weight and gradient norms", "wide"))
    return "\n".join(out)


def _db(clips: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectrograms of clips (n, L) in dB: (freqs, times, (n, freqs, frames))."""
    from scipy.signal import spectrogram

    clips = np.nan_to_num(clips.astype(np.float64))
    nperseg = int(min(256, max(8, clips.shape[1] // 8)))
    f, t, sxx = spectrogram(clips, fs=sample_rate, nperseg=nperseg, noverlap=nperseg * 3 // 4, axis=-1)
    return f, t, 10 * np.log10(sxx + 1e-20)


def _spectrogram_grid(f, t, db, titles: list[str], cols: int, top: float, suptitle: str) -> bytes:
    """One PNG of spectrograms db (n, freqs, frames), `cols` per row, on the colour scale [top - range, top]."""
    n = len(db)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.1 * rows + 0.5), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        mesh = ax.pcolormesh(t * 1000, f / 1000, db[i], shading="auto", cmap="magma",
                             vmin=top - SPECTROGRAM_RANGE_DB, vmax=top)
        ax.set_title(titles[i], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz", fontsize=8)
    fig.colorbar(mesh, ax=axes, fraction=0.04, pad=0.02, label="dB").ax.tick_params(labelsize=7)
    fig.suptitle(suptitle, fontsize=10)
    return _fig_png(fig)


def _spectrograms(previews: dict[int, np.ndarray], sample_rate: int) -> dict[int, bytes]:
    """One figure per milestone: spectrograms of the first SPECTROGRAMS_PER_STEP samples (channel 1),
    on one colour scale for the whole report (SPECTROGRAM_RANGE_DB below its loudest bin)."""
    specs = {step: _db(x[:SPECTROGRAMS_PER_STEP, 0], sample_rate) for step, x in previews.items()}
    if not specs:
        return {}
    top = max(float(s[2].max()) for s in specs.values())
    return {step: _spectrogram_grid(f, t, db, [f"sample {i + 1}" for i in range(len(db))], 2, top,
                                    f"batch {step}: spectrograms") for step, (f, t, db) in specs.items()}


def _closeness(run: Path) -> tuple[dict[int, dict], float] | None:
    """For the synthetic Gaussian data: per preview, shape score / offset / RMSE to the ideal curve."""
    from .summary import ideal_errors

    try:
        found = ideal_errors(run)
    except Exception:  # a data.json from another version: the report goes on without these numbers
        return None
    if not found:
        return None
    errors, real_score = found
    return {e["step"]: e for e in errors}, real_score


def _samples(run: Path, data: dict, analysis: dict | None) -> str:
    out = ["<h2>Samples at milestones</h2>"]
    available = preview_steps(run)
    chosen = milestones(available, analysis)
    if not chosen:
        return out[0] + '<p class="note">No previews (previews/step_*.npy) in this run folder yet.</p>'
    previews = {s: load_preview(run, s) for s, _ in chosen}  # (n, C, L) each
    sample_rate = data.get("sample_rate")
    gaussian = _is_gaussian(data)
    length = next(iter(previews.values())).shape[-1]

    notes = ["Every milestone shows G's output on the same fixed noise (the run's preview batch): the sample "
             "figure (" + ("red: samples, blue: the ideal curve of the synthetic data" if gaussian else "samples")
             + ") and the first samples to listen to."]
    if sample_rate:
        clip_s = length / sample_rate
        reps = max(1, math.ceil(CLIP_SECONDS * sample_rate / length))
        if reps > 1:
            notes.append(f"Each example is {length} samples ({clip_s * 1000:.1f} ms at {sample_rate} Hz), too short to hear: "
                         f"each player repeats it {reps} times end to end ({reps * clip_s:.2f} s; no fades, no gain change; "
                         f"a repeated {length}-sample shape sounds as a buzz at {sample_rate / length:.0f} Hz and its harmonics).")
        else:
            notes.append(f"Each player plays one example as generated ({clip_s:.2f} s at {sample_rate} Hz).")
        notes.append("Sounds are 16-bit WAV at the data's sample rate, clipped to [-1, 1], not normalised: "
                     "loudness is comparable between milestones.")
    else:
        notes.append("No sample rate known (no data.json): no audio players.")
    specs: dict[int, bytes] = {}
    if gaussian:
        notes.append("No spectrograms: the data is the synthetic Gaussian curve, a single bump of "
                     f"{length} samples, whose spectrogram would have one or two time frames and show nothing "
                     "the sample figure does not.")
    elif sample_rate:
        specs = _spectrograms(previews, sample_rate)
        notes.append(f"Spectrograms of the first {SPECTROGRAMS_PER_STEP} samples (channel 1), one colour scale for "
                     f"the whole page ({SPECTROGRAM_RANGE_DB:.0f} dB below its loudest bin).")
    out.append('<p class="note">' + " ".join(_esc(n) for n in notes) + "</p>")
    close = _closeness(run) if gaussian else None
    if close:
        out.append(f'<p class="note">Shape: mean correlation of the samples with the ideal curve (real data: {close[1]:.3f}); '
                   "offset: mean of sample minus curve; RMSE in units of the data's noise std (real data: 1.00).</p>")

    for step, labels in chosen:
        fig = run / "figures" / f"samples_{step:06d}.png"
        if not fig.exists():
            plot_samples(run, step)
        title = f"Batch {step:,}" + (f" &middot; {_esc(', '.join(labels))}" if labels else "")
        left = _img(fig.read_bytes(), f"samples at batch {step}")
        right = []
        if close and step in close[0]:
            e = close[0][step]
            right.append(f'<p class="note">shape {e["shape"]:.3f}, offset {e["offset"]:+.3f}, RMSE / noise {e["rmse"]:.2f}</p>')
        if sample_rate:
            right.append(_players(previews[step][:AUDIO_PER_STEP], int(sample_rate), "sample", f"batch {step}, "))
        if step in specs:
            right.append(_img(specs[step], f"spectrograms at batch {step}"))
        out.append(f'<h3>{title}</h3><div class="milestone"><div>{left}</div><div>{"".join(right)}</div></div>')
    return "\n".join(out)


def _real_examples(cfg, classes: list[str], per_group: int) -> dict[str, np.ndarray] | str:
    """A few real training examples to set beside the samples, {group: (n, C, L)}: per_group of each class, or
    of the whole set without classes (chosen with a fixed seed). A string says why there are none."""
    from ..data import open_examples

    try:
        examples = open_examples(cfg)
    except (WavegenError, OSError) as e:
        return f"the data ({cfg.data}) cannot be read now ({e})"
    order = np.random.default_rng(0).permutation(examples.n)
    labels = getattr(examples, "labels", None)
    if not classes or labels is None:
        return {"all": examples.get(order[:per_group]).numpy()}
    out = {}
    for k, name in enumerate(classes):
        idx = order[labels[order] == k][:per_group]
        if len(idx):
            out[name] = examples.get(idx).numpy()
    return out


def _players(clips: np.ndarray, sample_rate: int, label: str, title: str = "") -> str:
    """An audio player per clip (n, C, L), each named `label i` (its tooltip prefixed by `title`)."""
    tags = [f'<span>{_esc(label)} {i + 1}</span><audio controls preload="auto" '
            f'src="{_data_uri("audio/wav", _wav(clip, sample_rate))}" title="{_esc(title)}{_esc(label)} {i + 1}">'
            '</audio>' for i, clip in enumerate(clips)]
    return '<div class="clips">' + "".join(tags) + "</div>"


def _beside_real(run: Path, cfg: Config, data: dict) -> str:
    """The last preview beside real examples: spectrograms on one colour scale and players, per class where the
    run is conditional (preview i is class i mod K) and for the whole set otherwise."""
    out = ["<h2>Samples beside real examples</h2>"]
    steps = preview_steps(run)
    sample_rate = data.get("sample_rate")
    if not steps or not sample_rate or _is_gaussian(data):
        why = "no previews yet" if not steps else "no sample rate known" if not sample_rate else \
            "the data is the synthetic Gaussian curve, compared with its ideal curve above"
        return out[0] + f'<p class="note">Left out: {_esc(why)}.</p>'
    classes = list(data.get("classes") or [])
    conditional = bool(cfg.conditional and classes)
    per_group = BESIDE_PER_CLASS if conditional else SPECTROGRAMS_PER_STEP
    real = _real_examples(cfg, classes if conditional else [], per_group)
    if isinstance(real, str):
        return out[0] + f'<p class="note">No real examples beside the samples: {_esc(real)}.</p>'
    step = steps[-1]
    fake = load_preview(run, step)  # (n, C, L)
    groups = {}
    for name, x in real.items():
        idx = np.arange(classes.index(name), len(fake), len(classes))[:per_group] if conditional else \
            np.arange(min(per_group, len(fake)))
        groups[name] = (fake[idx], x)
    out.append(f'<p class="note">Batch {step:,}: the first fixed-noise samples ('
               + ("those asked for each class: preview i is class i mod K" if conditional else "channel 1")
               + ") above real training examples" + (" of the same class" if conditional else "")
               + f", chosen with a fixed seed. One colour scale for the section ({SPECTROGRAM_RANGE_DB:.0f} dB "
               "below its loudest bin); players as above.</p>")
    specs = {name: (_db(g[:, 0], sample_rate), _db(r[:, 0], sample_rate)) for name, (g, r) in groups.items()}
    top = max(max(float(a[2].max()), float(b[2].max())) for a, b in specs.values())
    for name, ((f, t, g_db), (_, _, r_db)) in specs.items():
        titles = [f"sample {i + 1}" for i in range(len(g_db))] + [f"real {i + 1}" for i in range(len(r_db))]
        cols = max(len(g_db), len(r_db))
        png = _spectrogram_grid(f, t, np.concatenate([g_db, r_db]), titles, cols, top,
                                name if conditional else f"batch {step}: samples (top), real (bottom)")
        g, r = groups[name]
        head = f"<h3>Class {_esc(name)}</h3>" if conditional else ""
        out.append(head + f'<div class="milestone"><div>{_img(png, f"spectrograms of {name}")}</div><div>'
                   + _players(g, int(sample_rate), "sample") + _players(r, int(sample_rate), "real") + "</div></div>")
    return "\n".join(out)


def _metrics(run: Path, evaluation: dict | None) -> str:
    out = ["<h2>Metrics</h2>"]
    if evaluation is None:
        return out[0] + '<p class="note">No eval.json in this run folder: no metrics to show.</p>'
    head = [f"checkpoint <code>{_esc(evaluation.get('checkpoint', '?'))}</code>"]
    if evaluation.get("step") is not None:
        head.append(f"batch {_num(evaluation['step'])}")
    if evaluation.get("n") is not None:
        head.append(f"{_num(evaluation['n'])} generated vs {_num(evaluation['n'])} real"
                    + (f" ({_esc(evaluation['real'])})" if evaluation.get("real") else ""))
    if evaluation.get("sample_mode"):
        head.append(f"sample mode <code>{_esc(evaluation['sample_mode'])}</code>")
    out.append(f"<p>From eval.json: {', '.join(head)}. <em>Real vs real</em> is the same metric between two "
               "sets of real data: the value a perfect generator would get.</p>")
    rows = []
    for name, m in evaluation["metrics"].items():
        target = m.get("target")
        if target is not None:
            better = f"closer to {_num(target)}"
        elif "lower_is_better" in m:
            better = "lower" if m["lower_is_better"] else "higher"
        else:
            better = "&ndash;"
        rows.append(f"<tr><td><code>{_esc(name)}</code></td><td class=num>{_num(m.get('value'))}</td>"
                    f"<td class=num>{_num(m.get('real_vs_real'))}</td><td>{better}</td><td>{_esc(m.get('doc', ''))}</td></tr>")
    out.append("<table><tr><th>metric</th><th>generated</th><th>real vs real</th><th>better</th><th>what it measures</th></tr>"
               + "".join(rows) + "</table>")
    per_class = evaluation.get("per_class")
    if isinstance(per_class, dict) and isinstance(per_class.get("generated"), dict):
        real = per_class.get("real_vs_real") if isinstance(per_class.get("real_vs_real"), dict) else {}
        out.append("<h3>cls_acc per class</h3><p class=\"note\">The share of the samples asked for each class that "
                   "the judge assigns to it, beside the same for held-out real examples.</p><table><tr><th>class</th>"
                   "<th>generated</th><th>real vs real</th></tr>" + "".join(
                       f"<tr><td>{_esc(c)}</td><td class=num>{_num(v)}</td><td class=num>{_num(real.get(c))}</td></tr>"
                       for c, v in per_class["generated"].items()) + "</table>")
    return "\n".join(out)


def _settings(cfg: dict, data: dict) -> str:
    def value(v) -> str:
        return f"<code>{_esc(json.dumps(v))}</code>"

    out = ["<h2>Config</h2>", '<p class="note">config.json: every setting of the run.</p>',
           _facts([(k, value(v)) for k, v in cfg.items()])]
    if data:
        out += ['<h3>Data</h3><p class="note">data.json: the data as the run saw it.</p>',
                f"<pre>{_esc(json.dumps(data, indent=2))}</pre>"]
    return "\n".join(out)


def _doctor(run: Path) -> str:
    """The doctor's findings, most serious first (docs/doctor.md)."""
    from ..evaluation.doctor import REPORT_NAME, diagnose, read_report, to_json

    saved, stats = run / REPORT_NAME, run / "stats.jsonl"
    report = read_report(run) if saved.exists() and (
        not stats.exists() or saved.stat().st_mtime >= stats.stat().st_mtime) else None
    if report is None:
        report = to_json(*diagnose(run))
    rows = "".join(f"<tr><td class=\"flag\">{_esc(f.get('code'))}</td><td class=\"num\">{_esc(f.get('batch'))}</td>"
                   f"<td>{_esc(f.get('evidence'))}</td><td><code>{_esc((f.get('remedy') or {}).get('command', ''))}"
                   f"</code><br>{_esc((f.get('remedy') or {}).get('why', ''))}</td></tr>" for f in report["findings"])
    notes = "".join(f"<p class=\"note\">{_esc(n)}</p>" for n in report.get("notes", []))
    return ("<h2>Doctor</h2><p class=\"sub\">What <code>wavegen doctor</code> finds, most serious first "
            "(docs/doctor.md explains each code).</p><table><tr><th>code</th><th>batch</th><th>evidence</th>"
            f"<th>what to try</th></tr>{rows}</table>{notes}")


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write one self-contained HTML page about `run` (default `run/report.html`) and return its path.

    Draws figures/progress.png and figures/samples_<batch>.png where missing (progress.png also where older
    than stats.jsonl or analysis.json). eval.json and analysis.json are optional; a folder without
    config.json, or a config/data/analysis/eval file that cannot be read, raises WavegenError."""
    run = require_run(run)
    config = load_config(run / "config.json")
    cfg = config.to_dict()
    data = read_json_object(run / "data.json", "the data description") if (run / "data.json").exists() else {}
    analysis = read_analysis(run)
    evaluation = read_eval(run)
    try:
        log = read_log(run)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WavegenError(f"{run / 'stats.jsonl'}: cannot read ({e})") from None
    png = run / "figures" / "progress.png"
    inputs = [run / "stats.jsonl", run / "analysis.json"]
    if log.batches and (
            not png.exists() or any(p.exists() and p.stat().st_mtime > png.stat().st_mtime for p in inputs)):
        _draw_progress(run, analysis)
        analysis = read_analysis(run)  # plot_progress may have written analysis.json
    name = run.resolve().name
    body = [_header(run.resolve(), cfg, data, log, analysis),
            _progress(run, log, analysis),
            _samples(run, data, analysis),
            _beside_real(run, config, data),
            _metrics(run, evaluation),
            _doctor(run),
            _settings(cfg, data)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>wavegen run {_esc(name)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")
    path = Path(out) if out is not None else run / "report.html"
    atomic_write(path, lambda f: f.write(page.encode("utf-8")))
    return path
