"""`wavegen doctor RUN`: what is wrong with a run, and what to try.

    findings = diagnose("runs/mine")          # [Finding], most serious first; [healthy] when nothing is found
    print(describe(findings))
    doctor("runs/mine")                       # the same, written to runs/mine/doctor.json unless it is training

Each code of the vocabulary is one check function, registered in the module of its family (training.py: the
statistics; samples.py: G's output against the data; data.py: the data itself) with `registry.check`. Read-only:
the run's files are only read, and doctor.json is written only into a run that is not being trained (live.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from ...atomic import write_json
from . import data, samples, training  # noqa: F401  (importing registers their checks)
from .evidence import Evidence
from .live import is_live
from .registry import CHECKS, HEALTHY, MEANINGS, Finding, without_consequences

REPORT_NAME = "doctor.json"


def diagnose(run: str | Path, codes: list[str] | None = None) -> tuple[list[Finding], list[str]]:
    """(findings most serious first, notes on what could not be checked). `codes`: only these checks."""
    ev = Evidence(run)
    found = []
    for code, c in CHECKS.items():
        if codes is None or code in codes:
            f = c.fn(ev)
            if f is not None:
                found.append(f)
    found.sort(key=lambda f: -f.severity)
    found, moot = without_consequences(found)
    if not found:
        found = [Finding(HEALTHY, 0, ev.batches, healthy_evidence(ev), "nothing to change")]
    return found, ev.notes + moot


def healthy_evidence(ev: Evidence) -> str:
    s = ev.scores
    if s is None:
        return f"{ev.batches} batches; no check found a problem"
    return f"{ev.batches} batches; best {s.name} {float(s.badness.min()):.4g}; no check found a problem"


def to_json(findings: list[Finding], notes: list[str]) -> dict:
    return {"findings": [f.to_dict() for f in findings], "notes": notes}


def doctor(run: str | Path, write: bool = True, live: bool | None = None) -> tuple[list[Finding], list[str], bool]:
    """Diagnose `run`; write run/doctor.json when `write` and the run is not being trained. `live`: whether it is
    (None: told from its files). Returns (findings, notes, written)."""
    run = Path(run)
    findings, notes = diagnose(run)
    live = is_live(run) if live is None else live
    written = write and not live
    if written:
        write_json(run / REPORT_NAME, to_json(findings, notes))
    return findings, notes, written


def describe(findings: list[Finding], notes: list[str] = ()) -> str:
    """The findings as the console shows them, most serious first."""
    lines = []
    for f in findings:
        at = f" (batch {f.batch})" if f.batch is not None else ""
        lines.append(f"{f.code}{at}: {MEANINGS[f.code]}")
        lines.append(f"  evidence: {f.evidence}")
        if f.code != HEALTHY:
            if f.flags:
                lines.append("  try: " + " ".join(f"--{k.replace('_', '-')} {fmt(v)}" for k, v in f.flags.items()))
            lines.append(f"  why: {f.why}")
            if f.command:
                lines.append(f"  run: {f.command}")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (tuple, list)):
        return ",".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


def one_line(findings: list[Finding]) -> str | None:
    """The line `wavegen train` ends with when the doctor finds something (None when healthy)."""
    if not findings or findings[0].code == HEALTHY:
        return None
    f = findings[0]
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"doctor: {f.code}{more}: {f.evidence}. `wavegen doctor {'{run}'}` says what to try"


def read_report(run: str | Path) -> dict | None:
    """run/doctor.json, or None when there is none or it cannot be read."""
    path = Path(run) / REPORT_NAME
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("findings"), list) else None


__all__ = ["REPORT_NAME", "CHECKS", "HEALTHY", "MEANINGS", "Finding", "diagnose", "doctor", "describe", "one_line", "to_json",
           "read_report", "is_live"]
