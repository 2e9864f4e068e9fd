"""The run folder: its layout (what a run folder holds, nothing inside the data folder) and the readers of its
files. Every file in it is written through atomic.py. `read_jsonl` reads an append-only log (stats.jsonl,
layers.jsonl) that a crash may have cut short in its last line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic
from .atomic import shown
from .errors import WavegenError

def outside_data(data: str | Path, out: str | Path, what: str) -> None:
    """Refuse to write `out` (a folder) inside the data folder `data`: what wavegen writes there would be read
    back as data (and change the data's fingerprint, so the run could never resume)."""
    if not data or not out:
        return
    try:
        d, o = Path(data).expanduser().resolve(), Path(out).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: the reader of the data names it
        return
    if o == d or d in o.parents:
        raise WavegenError(f"{shown(out)}: {what} is inside the data folder {shown(data)}; wavegen never writes "
                           "into a data folder: choose a folder outside it")


def read_jsonl(path: str | Path, check=None) -> list[tuple[str, object]]:
    """The (line, parsed value) pairs of a JSON-lines log, blank lines skipped. A last line without its newline
    that does not parse was cut short by a crash mid-append and is dropped; any other bad line is corruption,
    and so is a row for which `check(row)` returns a reason."""
    path = Path(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")  # a complete file ends with "\n": its last piece is then ""
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            if i == len(lines):  # the unterminated last line: torn by a crash, written again on resume
                break
            raise WavegenError(f"{path}: line {i} is not valid JSON ({str(e)[:100]}); the file is corrupt") from None
        reason = check(row) if check else None
        if reason:
            raise WavegenError(f"{path}: line {i}: {reason}; the file is corrupt")
        out.append((line, row))
    return out


def require_run(run: str | Path) -> Path:
    """`run` as a Path, or a WavegenError when it is not a run folder: the readers of a run start here, so that
    a file or a missing folder given for one is refused before anything is read or written."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise WavegenError(f"{run}: not a run folder (no config.json)")
    return run


def read_json_object(path: Path, what: str) -> dict:
    """A JSON file that holds one object (config.json, data.json, eval.json, analysis.json, a data set's
    description), or a WavegenError naming it."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:  # ValueError: not UTF-8, or not JSON
        raise WavegenError(f"{path}: cannot read {what} ({str(e)[:200]})") from None
    if not isinstance(value, dict):
        raise WavegenError(f"{path}: {what} is not a JSON object")
    return value


def read_eval(run: str | Path) -> dict | None:
    """eval.json ({"step", "checkpoint", "metrics": {name: {"value", "real_vs_real", ...}}}) or None."""
    path = Path(run) / "eval.json"
    if not path.exists():
        return None
    e = read_json_object(path, "the evaluation")
    metrics = e.get("metrics")
    if not isinstance(metrics, dict) or not all(isinstance(m, dict) and "value" in m for m in metrics.values()):
        raise WavegenError(f"{path}: no 'metrics' object of {{name: {{value, real_vs_real, ...}}}}")
    return e


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop rows written after the checkpoint we resume from: they will be written again. A last line torn by a
    crash mid-append goes too; a bad line before it is corruption (WavegenError naming the file and line)."""
    if not path.exists():
        return
    rows = read_jsonl(path)
    for line, row in rows:
        if not has_step(row):
            raise WavegenError(f"{path}: a row without a batch number ('step'), {line[:60]!r}; the file is corrupt")
    keep = [line for line, row in rows if row["step"] <= step]
    atomic.atomic_write(path, lambda f: f.write("".join(line + "\n" for line in keep).encode()))


def _rows(path: Path, check) -> list[dict]:
    if not path.exists():
        return []
    return [row for _, row in read_jsonl(path, check)]  # a last line torn by a crash is dropped


# The keys every batch row of stats.jsonl holds: the readers index them (training/step.py's STAT_KEYS, and epoch).
BATCH_KEYS = ("epoch", "loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D")


def has_step(row) -> bool:
    """Whether a log row is an object with an integer batch number, "step"."""
    return isinstance(row, dict) and _int64(row.get("step"))


def _int64(v) -> bool:
    """An int numpy keeps as one: a larger one makes an array of Python objects, which no reader can compute on."""
    return isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63


def _number(v) -> bool:
    return isinstance(v, float) or _int64(v)


def _short(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


def stats_row_problem(row) -> str | None:
    """Why a row of stats.jsonl cannot be read, or None. A row of no kind RunLog knows (another version's) is
    kept apart, not refused; a row of a known kind must hold numbers, since every reader computes with them."""
    if RunLog.kind(row) == "other":
        return None
    if "loss/G" in row:
        missing = [k for k in BATCH_KEYS if k not in row]
        if missing:
            return f"a batch row without {missing[0]!r}"
    for k, v in row.items():
        if not _number(v):
            return f"{k!r} is {_short(v)}, {'past 64 bits' if isinstance(v, int) else 'not a number'}"
    return None


def layers_checker():
    """A check for the rows of one layers.jsonl: each {"step": int, "<model>/<param>": [three numbers], ...},
    with the layers of the first row (plot_layers draws each layer's line through every row)."""
    first: list = []

    def check(row) -> str | None:
        if not has_step(row):
            return f"a row without a batch number ('step'): {_short(row)}"
        for k, v in row.items():
            if k != "step" and not (isinstance(v, list) and len(v) == 3 and all(_number(x) for x in v)):
                return f"{k!r} is {_short(v)}, not [weight norm, gradient norm, update ratio]"
        if not first:
            first.append(set(row))
        elif set(row) != first[0]:
            return "its layers are not the first row's"
        return None

    return check


def read_stats(run: str | Path) -> list[dict]:
    """All rows of a run's stats.jsonl, of every kind, in the order written (`read_log` sorts them by kind)."""
    return _rows(Path(run) / "stats.jsonl", stats_row_problem)


def read_layers(run: str | Path) -> list[dict]:
    """The rows of a run's layers.jsonl: {"step": s, "G/<param>": [weight norm, grad norm, update ratio], ...}."""
    return _rows(Path(run) / "layers.jsonl", layers_checker())


@dataclass
class RunLog:
    """stats.jsonl by kind of row. Every row has a "step" (the batches done when it was written):
    batches  the per-batch stats: "epoch", "loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", ...
    evals    quality scores during training: "eval/<metric>" for each metric scored
    timings  "time/wall_s": training seconds so far, written at every checkpoint (not deterministic)
    events   what happened to the run: "event/rollback" (with the new "lr/G", "lr/D" and "event/nan": the
             statistics that were not finite) after a NaN; "event/nan" with "event/stop" (why) when it stopped
    other    rows of none of these kinds (written by another version), kept apart so no reader trips on them"""
    batches: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    timings: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    other: list = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[dict]) -> "RunLog":
        log = cls()
        for row in rows:
            log.kind_of(row).append(row)
        return log

    def kind_of(self, row: dict) -> list[dict]:
        """The list a row belongs in."""
        return getattr(self, self.kind(row))

    @staticmethod
    def kind(row) -> str:
        """A row's kind, told by its keys (each kind of row has keys of its own prefix)."""
        if not has_step(row):
            return "other"
        if "loss/G" in row:
            return "batches"
        if any(k.startswith("eval/") for k in row):
            return "evals"
        if any(k.startswith("event/") for k in row):
            return "events"
        if "time/wall_s" in row:
            return "timings"
        return "other"

    def metrics(self) -> list[str]:
        """The metrics scored during training, sorted."""
        return sorted({k[len("eval/"):] for r in self.evals for k in r if k.startswith("eval/")})

    def scores(self, metric: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric's scores during training."""
        rows = [r for r in self.evals if f"eval/{metric}" in r]
        return [r["step"] for r in rows], [r[f"eval/{metric}"] for r in rows]

    def wall_s(self) -> float | None:
        """Training seconds at the last timing row, or None before the first checkpoint."""
        return self.timings[-1]["time/wall_s"] if self.timings else None

    def batches_done(self) -> int:
        return max((r["step"] for r in self.batches), default=0)


def read_log(run: str | Path) -> RunLog:
    return RunLog.from_rows(read_stats(run))
