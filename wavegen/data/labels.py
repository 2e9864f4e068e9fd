"""A file's class, as users keep them: its first-level sub-folder (the default), the first match of a regular
expression in its path (`classes_from_names`: '(?i)kick|snare|hat' gives `kick` for EE_Kick_Hard_2.flac), or its
row in a CSV table of path,class (`labels`).

Files no rule gives a class are refused, named, unless `unlabelled` is "skip": then they are left out and named as
skipped. With the sub-folder rule, files at the top level are refused only by a run that uses the classes (a
conditional G, balanced batches); others train on them, as they always did.
"""
from __future__ import annotations

import csv
import hashlib
import io
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..atomic import shown
from ..errors import WavegenError
from .prepared import Prepared

NO_CLASS = "no class rule matches"  # the reason a file left out by unlabelled "skip" is named with
NAMED = 3  # files named in the error that refuses unlabelled files
HEADER_PATHS = ("path", "file", "filename", "name")  # a first row with one of these (or HEADER_CLASSES) is a header
HEADER_CLASSES = ("class", "label", "category")


@dataclass(frozen=True)
class LabelRule:
    """Which rule gives a file its class, and what happens to files it gives none."""
    names: str = ""  # a regular expression searched in each file's path (classes_from_names)
    table: str = ""  # a CSV file of path,class rows (labels)
    unlabelled: str = "refuse"  # or "skip"

    @classmethod
    def of_config(cls, cfg) -> "LabelRule":
        return cls(cfg.classes_from_names, cfg.labels, cfg.unlabelled)

    @property
    def explicit(self) -> bool:
        """Whether the user named a rule (the sub-folders are the rule otherwise)."""
        return bool(self.names or self.table)

    def flag(self) -> str:
        """The rule as the user gave it, for messages."""
        if self.names:
            return f"--classes-from-names {self.names!r}"
        return f"--labels {self.table}" if self.table else "class sub-folders"

    def key(self) -> dict:
        """What a cached judge depends on: {} for sub-folders (as judges fitted before the other rules), the
        expression, or the table's contents."""
        if self.names:
            return {"classes_from_names": self.names, "unlabelled": self.unlabelled}
        if self.table:
            return {"labels": hashlib.sha1(_read_bytes(Path(self.table))).hexdigest(), "unlabelled": self.unlabelled}
        return {}


@dataclass
class Labelled:
    """The classes of a list of files, and which of them are used."""
    classes: list[str]  # sorted
    labels: np.ndarray  # (F,) int64 class numbers, -1 for a file without one
    keep: np.ndarray  # (F,) bool: the files used
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (file, NO_CLASS) of the files skipped
    notes: list[str] = field(default_factory=list)  # lines worth saying (table rows that name no file)


def label_files(folder: str | Path, names: list[str], rule: LabelRule, need: bool = False) -> Labelled:
    """The classes of the files `names` (relative to `folder`) by `rule`. `need`: the caller uses the classes, so
    that files without one are refused (or skipped) under the sub-folder rule too."""
    notes = []
    if rule.names:
        found = _from_names(names, rule.names)
    elif rule.table:
        found, notes = _from_table(names, Path(rule.table))
    else:
        found = [Path(n).parts[0] if len(Path(n).parts) > 1 else None for n in names]
    for c in {c for c in found if c is not None}:
        _check_class(c, rule)
    classes = sorted({c for c in found if c is not None})
    labels = np.array([classes.index(c) if c is not None else -1 for c in found], np.int64)
    keep = np.ones(len(names), bool)
    missing = [n for n, c in zip(names, found) if c is None]
    if rule.explicit and not classes:
        raise WavegenError(f"{shown(folder)}: no file gets a class from {rule.flag()}"
                           + (f" (paths in {rule.table} are relative to {shown(folder)})" if rule.table else ""))
    left_out = []
    if missing and classes:
        if rule.unlabelled == "skip":
            keep = labels >= 0
            left_out = [(n, NO_CLASS) for n in missing]
        elif rule.explicit or need:
            raise _refused(folder, missing, len(names), rule)
    return Labelled(classes, labels, keep, left_out, notes)


def relabel(data: Prepared, folder: str | Path, rule: LabelRule, need: bool = False) -> Prepared:
    """`data` with its files' classes by `rule`, less the files it leaves out."""
    lab = label_files(folder, data.files, rule, need)
    k = lab.keep
    meta = {**data.meta, "classes": lab.classes}
    files = [f for f, kept in zip(data.files, k) if kept]
    return replace(data, meta=meta, start=data.start[k], length=data.length[k], label=lab.labels[k], files=files,
                   left_out=[*data.left_out, *lab.left_out], notes=[*data.notes, *lab.notes])


def _from_names(names: list[str], pattern: str) -> list[str | None]:
    """The class of each name: the first match of `pattern`, lower-cased; its first named group that matched,
    else its first capturing group that matched, else the whole match."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise WavegenError(f"--classes-from-names {pattern!r}: not a regular expression ({e})") from None
    out = []
    for name in names:
        m = rx.search(Path(name).as_posix())
        text = None
        if m:
            text = next((v for v in m.groupdict().values() if v), None) or next((v for v in m.groups() if v), None)
            text = (text or m.group(0)).strip().lower()
        out.append(text or None)
    return out


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise WavegenError(f"{shown(path)}: cannot read the labels ({e.strerror or e})") from None


def _from_table(names: list[str], path: Path) -> tuple[list[str | None], list[str]]:
    """The class of each name from the CSV `path` (rows path,class), and a note on rows that name no file."""
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise WavegenError(f"{shown(path)}: not a UTF-8 text file (byte {e.start}); save it as UTF-8 CSV") from None
    table: dict[str, tuple[str, int]] = {}  # path -> (class, line)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise WavegenError(f"{shown(path)} line {line}: expected path,class, got {row[0][:60]!r}")
            where, klass = _normal(row[0]), row[1].strip()
            if not table and (where.lower() in HEADER_PATHS or klass.lower() in HEADER_CLASSES):
                continue  # the header row
            if not where or not klass:
                raise WavegenError(f"{shown(path)} line {line}: an empty {'path' if not where else 'class'}")
            if where in table and table[where][0] != klass:
                raise WavegenError(f"{shown(path)} line {line}: {where} is {klass!r} here but {table[where][0]!r} "
                                   f"on line {table[where][1]}")
            table[where] = (klass, line)
    except csv.Error as e:
        raise WavegenError(f"{shown(path)} line {reader.line_num}: not CSV ({e})") from None
    found = [table.get(Path(n).as_posix(), (None, 0))[0] for n in names]
    unused = len(set(table) - {Path(n).as_posix() for n in names})
    notes = [f"{shown(path)}: {unused} of its {len(table)} rows name no audio file loaded"] if unused else []
    return found, notes


def _normal(where: str) -> str:
    """A path from the table as the walk names files: forward slashes, no leading ./"""
    where = where.strip().replace("\\", "/")
    return posixpath.normpath(where) if where else ""


def _check_class(name: str, rule: LabelRule) -> None:
    """A class names a folder (`generate --per-class` writes OUT/<class>/): no separators, not . or .."""
    if name in (".", "..") or any(c in name for c in "/\\\0"):
        raise WavegenError(f"{rule.flag()}: class {name!r} cannot name a folder (generate --per-class writes one per "
                           "class); choose classes without / or \\")


def _refused(folder, missing: list[str], n: int, rule: LabelRule) -> WavegenError:
    named = ", ".join(shown(m) for m in missing[:NAMED]) + (f" and {len(missing) - NAMED} more"
                                                           if len(missing) > NAMED else "")
    how = rule.flag() if rule.explicit else "no class sub-folder: they lie at the top level"
    return WavegenError(f"{shown(folder)}: {len(missing)} of {n} audio files have no class ({how}): {named}; "
                        "pass --unlabelled skip to leave them out")
