"""The doctor's vocabulary and its checks: each check is one function registered with its code.

A check takes the run's `Evidence` (evidence.py) and returns a `Finding` or None. To add a code: write one function
in the module of its family (training.py, samples.py, data.py) and decorate it with `@check(CODE, SEVERITY, MEANING)`.
Severity orders the findings (most serious first); the meanings are the vocabulary docs/doctor.md explains.
`explains` names the codes whose evidence a finding of this code makes moot: a D that never lived also has flat,
spiky or slow statistics, and advice read from those (smaller rates, longer training) would contradict the cure
of the cause. Such findings are left out of the report and named in a note instead.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Finding:
    code: str
    severity: int  # higher is more serious: the order findings are printed in
    batch: int | None  # where in the run the evidence is (None: the run as a whole, e.g. its data)
    evidence: str  # which statistic, at which batch, against which threshold or reference
    why: str  # why the remedy should help
    flags: dict = field(default_factory=dict)  # config fields to change, with their new values
    command: str = ""  # how to go on: `wavegen train --resume RUN ...` or a new run with the flags
    values: dict = field(default_factory=dict)  # the numbers behind the evidence, for tests and calibration

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"code": d["code"], "severity": d["severity"], "batch": d["batch"], "evidence": d["evidence"],
                "remedy": {"flags": d["flags"], "why": d["why"], "command": d["command"]}, "values": d["values"]}


@dataclass(frozen=True)
class Check:
    code: str
    severity: int
    meaning: str
    fn: Callable
    explains: tuple[str, ...] = ()  # codes that follow from this one: not advised on once this is found


CHECKS: dict[str, Check] = {}
HEALTHY = "healthy"
MEANINGS: dict[str, str] = {HEALTHY: "nothing to fix: no check found a problem"}


def check(code: str, severity: int, meaning: str, explains: tuple[str, ...] = ()):
    """Register `fn(evidence) -> Finding | None` as the check of `code`; `explains`: the codes that follow from
    it (see the module's docstring)."""
    def add(fn: Callable) -> Callable:
        if code in CHECKS or code == HEALTHY:
            raise ValueError(f"doctor code {code!r} registered twice")
        CHECKS[code] = Check(code, severity, meaning, fn, tuple(explains))
        MEANINGS[code] = meaning
        return fn
    return add


def finding(code: str, batch: int | None, evidence: str, why: str, flags: dict | None = None, command: str = "",
            rank: int | None = None, **values) -> Finding:
    """A Finding of a registered code, with that code's severity (or `rank`: a finding of the code that is a cause
    rather than a symptom ranks above its code's usual place)."""
    return Finding(code, CHECKS[code].severity if rank is None else rank, batch, evidence, why, dict(flags or {}), command,
                   {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()})


def without_consequences(found: list[Finding]) -> tuple[list[Finding], list[str]]:
    """`found` (most serious first) without the findings an earlier one explains, and a note naming those."""
    kept, notes = [], []
    for f in found:
        cause = next((k for k in kept if f.code in CHECKS[k.code].explains), None)
        if cause is None:
            kept.append(f)
        else:
            notes.append(f"{f.code} also seen; it follows from {cause.code}, so it has no advice of its own")
    return kept, notes
