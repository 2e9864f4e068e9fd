"""A sweep's results: which runs are done, each finished run's numbers, the mean and spread over seeds per
setting, and the report (table.md, table.csv, runs.csv, curves.png) written from them."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .. import atomic, checkpoint
from ..errors import WavegenError
from ..evaluation.analysis import analyse_rows
from ..reports.plot import plot_sweep_curves
from ..runfolder import RunLog, read_stats

DONE = "sweep.done"  # marker in a run folder: trained to the end, written after its process exited 0
FIELDS = ("transition_batch", "transition_s", "best", "best_batch", "final", "divergence_batch", "batches_per_s")


# ---- the state of a run ---------------------------------------------------------------------------------------

def reached_end(run_dir: Path) -> bool:
    """Whether the newest checkpoint has reached the run's configured length (batches or epochs)."""
    ckpts = checkpoint.list_ckpts(run_dir)
    if not ckpts or not (run_dir / "config.json").exists():
        return False
    cfg = json.loads((run_dir / "config.json").read_text())
    step = int(checkpoint.PATTERN.match(ckpts[-1].name).group(1))
    if cfg.get("batches") is not None and step >= cfg["batches"]:
        return True
    if cfg.get("epochs") is None:
        return False
    try:
        return checkpoint.load(ckpts[-1])["epoch"] >= cfg["epochs"]
    except WavegenError:
        return False


def run_state(run_dir: Path) -> str:
    """'done', 'partial' (started: resume it) or 'new'."""
    if (run_dir / DONE).exists() or reached_end(run_dir):
        return "done"
    return "partial" if (run_dir / "config.json").exists() else "new"


def ended(run_dir: Path) -> bool:
    """After its process exited 0: whether the run reached its end (or stopped itself on divergence, as asked)."""
    return reached_end(run_dir) or bool(json.loads((run_dir / "config.json").read_text()).get("stop_on_divergence"))



# ---- results ------------------------------------------------------------------------------------------------------

def _at_step(timing: list[tuple[int, float]], step: int | None) -> float | None:
    """Wall-clock seconds at a batch, interpolated between the run's timing rows (0 s at batch 0)."""
    if step is None or not timing:
        return None
    last = dict([(0, 0.0), *timing])  # a step timed twice (periodic and final checkpoint): the last one
    xs = sorted(last)
    return float(np.interp(step, xs, [last[x] for x in xs]))


def run_result(run_dir: Path, rows: list[dict] | None = None) -> dict:
    """One finished run's numbers: transition (batch, seconds), best and final score, divergence, speed."""
    rows = read_stats(run_dir) if rows is None else rows
    cfg = json.loads((run_dir / "config.json").read_text())
    found = analyse_rows(rows, cfg.get("best_metric"))
    log = RunLog.from_rows(rows)
    timing = [(r["step"], r["time/wall_s"]) for r in log.timings]
    scores = log.scores(found["metric"])[1] if found["metric"] else []
    batches = log.batches_done()
    wall = _at_step(timing, batches)
    return {"run": run_dir.name, "seed": cfg.get("seed"), "batches": batches, "metric": found["metric"],
            "transition_batch": found["transition"], "transition_s": _at_step(timing, found["transition"]),
            "best": found["best"]["value"] if found["best"] else None,
            "best_batch": found["best"]["step"] if found["best"] else None,
            "final": scores[-1] if scores else None, "divergence_batch": found["divergence"],
            "batches_per_s": batches / wall if wall else None}


def finished_runs(out: Path) -> list[tuple[str, list[tuple[dict, list[dict]]]]]:
    """Per setting (spec order): (result, stats rows) of each finished run."""
    meta = json.loads((out / "sweep.json").read_text())
    groups: dict[str, list] = {}
    for r in meta["runs"]:
        run_dir = out / "runs" / r["name"]
        groups.setdefault(r["setting"], [])
        if run_state(run_dir) == "done":
            rows = read_stats(run_dir)
            groups[r["setting"]].append((run_result(run_dir, rows), rows))
    return list(groups.items())


def aggregate(setting: str, results: list[dict]) -> dict:
    """Mean, std (over seeds, ddof 1) and count of found values of each field, for one setting."""
    row = {"setting": setting, "seeds": len(results), "metric": next((r["metric"] for r in results if r["metric"]), None)}
    for f in FIELDS:
        vals = [r[f] for r in results if r[f] is not None]
        row[f"{f}_mean"] = float(np.mean(vals)) if vals else None
        row[f"{f}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        row[f"{f}_n"] = len(vals)
    return row


def summarise(out: str | Path) -> list[dict]:
    """One row per setting of the sweep in OUT, from its finished runs (see `aggregate`)."""
    return [aggregate(s, [res for res, _ in runs]) for s, runs in finished_runs(Path(out))]


# ---- the report -------------------------------------------------------------------------------------------------

def _g(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _cell(row: dict, f: str, missing: str = "n/a") -> str:
    n, found = row["seeds"], row[f"{f}_n"]
    if found == 0:
        return missing if n else "-"
    text = _g(row[f"{f}_mean"]) + (f" ± {_g(row[f'{f}_std'])}" if row[f"{f}_std"] is not None else "")
    return text + (f" ({found}/{n})" if found < n else "")


def format_table(rows: list[dict]) -> str:
    """The per-setting table in Markdown, ready to paste into docs."""
    m = next((r["metric"] for r in rows if r["metric"]), "score")
    head = ["setting", "seeds", "transition (batch)", "transition (s)", f"best {m}", "best at batch",
            f"final {m}", "divergence (batch)", "batches/s"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [r["setting"], str(r["seeds"]), _cell(r, "transition_batch", "not found"), _cell(r, "transition_s", "not found"),
                 _cell(r, "best"), _cell(r, "best_batch"), _cell(r, "final"), _cell(r, "divergence_batch", "none"),
                 _cell(r, "batches_per_s")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = ("Mean ± std over seeds (finished runs only); (k/n): found in k of n seeds. Transition and divergence as "
        "`wavegen analyse` finds them (wavegen/evaluation/analysis.py); seconds interpolated from the checkpoints' wall clock; "
        "scores lower is better; batches/s includes scoring.")


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["setting"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_sweep_report(out: str | Path) -> list[dict]:
    """Write OUT/table.md, table.csv, runs.csv and curves.png from the finished runs; returns the table's rows."""
    out = Path(out)
    groups = finished_runs(out)
    rows = [aggregate(s, [res for res, _ in runs]) for s, runs in groups]
    per_run = [{"setting": s, **res} for s, runs in groups for res, _ in runs]
    for name, text in (("table.md", format_table(rows) + "\n\n" + NOTE + "\n"), ("table.csv", _csv(rows)),
                       ("runs.csv", _csv(per_run))):
        atomic.atomic_write(out / name, lambda f, t=text: f.write(t.encode()))
    if per_run:
        plot_sweep_curves(out, groups)
    return rows
