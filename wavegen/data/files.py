"""Finding the audio files of a folder and checking each before anything trains.

Every format libsndfile reads loads by default (AUDIO_FORMATS); audio of other extensions is named as skipped,
and other files (not audio) are counted.

Every bad file is reported, together, in one error whose first line names a bad file and its problem (the first
MAX_LISTED by name): files that cannot be opened, are empty, are not audio, use an encoding libsndfile cannot
decode, are truncated, or hold NaN/Inf. With skip_bad the readers leave them out and list them instead.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..atomic import shown
from ..errors import WavegenError

MAX_LISTED = 10  # bad files named in an error message; the rest are counted
HEADER_BYTES = 512  # read from the start of every file to check a wav's header
MAX_RATE = 1_000_000  # Hz: above the 768 kHz of the fastest audio interfaces
PCM_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
             "DOUBLE": 8}  # bytes per sample of the uncompressed encodings
# A bound on any compressed encoding: FLAC's smallest frame (a constant subframe, ~10 bytes) codes up to 65,535
# samples, Vorbis and Opus a few thousand per one- or two-byte packet, MP3 1,152 per frame of 24 bytes or more.
COMPRESSED_FRAMES_PER_BYTE = 8192
UNKNOWN_FRAMES = 2**63 - 1  # what libsndfile reports for a stream that did not record its length (a FLAC's 0)


# Extensions loaded by default (formats ()): every container libsndfile reads here (soundfile.available_formats(),
# libsndfile 1.2: mp3 and opus included) that holds recorded audio; .raw (no header) and .mat (any matrix) are not.
AUDIO_FORMATS = ("wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif", "aifc", "caf", "w64", "rf64",
                 "au", "snd")
# Files with these extensions are audio that the formats loaded leave out, and are named as skipped: the
# containers libsndfile reads but that are not in the default formats, and audio it cannot decode at all.
OTHER_READABLE = ("voc", "sph", "nist", "ircam", "sf", "paf", "pvf", "xi", "sds", "sd2", "htk", "avr", "svx", "8svx",
                  "mpc")
UNREADABLE = ("m4a", "m4b", "aac", "wma", "alac", "ape", "wv", "amr", "mka", "mp2", "ac3", "dts", "tta", "dsf", "dff")


@dataclass
class Found:
    """What a walk of a data folder found."""
    files: list[Path]  # the audio files to load (sorted)
    fingerprint: str  # of their names, sizes and modification times: keys the cache
    unloaded: list[tuple[str, str]] = field(default_factory=list)  # (name, reason): audio of an extension not loaded
    ignored: int = 0  # other files (not audio: .xml, .txt, ...)


def scan(folder: Path, formats: tuple[str, ...]) -> Found:
    """The audio files under `folder` with an extension in `formats`, their fingerprint, and the files left out.
    One os.scandir walk: for 100,000 files it is several times faster than rglob plus a stat per file, and it is
    all a cached load costs besides reading the cache. Anything else with an audio extension is listed too (a
    broken or looping link, a FIFO, a socket, a device), so that the load reports it as bad; a folder reached
    twice (a link to a folder above it) is walked once."""
    exts = {"." + f.lower().lstrip(".") for f in formats or AUDIO_FORMATS}
    found: list[tuple[str, int, int]] = []  # (path relative to folder, size, mtime_ns)
    unloaded, ignored = [], 0
    walked: set[tuple[int, int]] = set()  # (device, inode) of the folders walked
    stack = [""]
    while stack:
        rel = stack.pop()
        for e in _entries(folder, rel, walked):
            name = f"{rel}/{e.name}" if rel else e.name
            ext = os.path.splitext(e.name)[1].lower()
            if _is_dir(e):
                stack.append(name)
            elif ext in exts:
                try:
                    st = e.stat()
                except OSError:  # a broken or looping link: its own stat still fingerprints it
                    st = e.stat(follow_symlinks=False)
                found.append((name, st.st_size, st.st_mtime_ns))
            elif ext[1:] in UNREADABLE:
                unloaded.append((name, f"libsndfile cannot decode {ext}: convert it to flac or wav"))
            elif ext[1:] in (*AUDIO_FORMATS, *OTHER_READABLE):
                unloaded.append((name, f"{ext} is not among --formats"))
            else:
                ignored += 1
    found.sort()
    h = hashlib.sha1()
    for name, size, mtime in found:
        h.update(f"{name}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))  # names need not be UTF-8
    return Found([folder / name for name, _, _ in found], h.hexdigest(), sorted(unloaded), ignored)


def no_audio(folder: Path, found: Found, formats: tuple[str, ...]) -> WavegenError:
    """The error for a folder without a file to load: what it holds instead, when that is audio."""
    listed = ", ".join(formats) if formats and tuple(formats) != AUDIO_FORMATS else "any format libsndfile reads"
    why = describe_skipped(found.unloaded, found.ignored)
    return WavegenError(f"{shown(folder)}: no audio files ({listed}) found" + (f"; {why}" if why else ""))


def _entries(folder: Path, rel: str, walked: set[tuple[int, int]]) -> list[os.DirEntry]:
    """The entries of the folder `rel` under `folder`, or none when it was walked already (through a link)."""
    path = folder / rel
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) in walked:
            return []
        walked.add((st.st_dev, st.st_ino))
        with os.scandir(path) as it:
            return list(it)
    except OSError as e:
        raise WavegenError(f"{shown(path)}: cannot read this folder ({e.strerror or e})") from None


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir()
    except OSError:  # a link that loops back on itself: a file like any other link, reported if it has an audio name
        return False


# Decoders that print their own warnings on stderr (libmpg123: "Xing stream size off by more than 1%" for a cut
# mp3); what is wrong with the file is reported in wavegen's own words instead
NOISY_DECODERS = (".mp3",)


@contextmanager
def quiet_decoder(path: Path):
    """Around the opening and decoding of `path`: stderr (fd 2, where C libraries write) goes to /dev/null while
    a NOISY_DECODERS file is read. Data is read before training starts, when nothing else writes there."""
    if os.path.splitext(os.fsdecode(path))[1].lower() not in NOISY_DECODERS:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def sf_path(path: Path) -> bytes:
    """A path as soundfile takes it whatever its name: the file system's bytes (a str name that is not UTF-8
    fails in soundfile's own encoding of it)."""
    return os.fsencode(path)


# Checking files. Every problem becomes a (file, reason) pair; a folder's pairs are reported together, so one
# run of the command shows everything to fix. audio.prepare uses the same checks and the same message.

NONFINITE = "holds NaN or Inf samples"


def class_labels(names: list[str]) -> tuple[list[str], np.ndarray]:
    """The classes of files named relative to their data folder (the first-level sub-folders, sorted) and each
    file's class number, -1 for a file at the top level."""
    folders = [Path(name).parts[0] if len(Path(name).parts) > 1 else None for name in names]
    classes = sorted({c for c in folders if c is not None})
    return classes, np.array([classes.index(c) if c is not None else -1 for c in folders], np.int64)


def probe(path: Path) -> tuple["sf._SoundFileInfo | None", str | None]:
    """Open `path` and read its header: (info, None) for a file soundfile can decode, else (None, reason).
    This catches what shows before decoding: a file that cannot be opened (a broken link, no permission), an
    empty file, one that is not audio, an encoding libsndfile cannot decode, a truncated wav, and a header that
    claims more frames than the file's size allows (nothing is allocated from such a claim)."""
    try:
        special = _special(os.stat(path).st_mode)  # a socket cannot even be opened; a FIFO would block the read
        if special:
            return None, f"cannot read: {special}, not a file"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO swapped in meanwhile: no block
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None, "cannot read: not a regular file"
            head = f.read(HEADER_BYTES)  # a wav's fmt and data chunk headers are nearly always in here
            size = os.fstat(f.fileno()).st_size
            short = _wav_shortfall(f, head, size) if head[:4] == b"RIFF" and head[8:12] == b"WAVE" else None
    except FileNotFoundError:
        if os.path.islink(path):
            return None, f"cannot read: broken symbolic link (to {os.readlink(path)})"
        return None, "cannot read: file not found (removed while loading?)"
    except OSError as e:
        return None, f"cannot read: {e.strerror or type(e).__name__}"
    if size == 0:
        return None, "cannot read: empty file (0 bytes)"
    try:
        with quiet_decoder(path):
            info = sf.info(sf_path(path))
    except Exception as e:  # soundfile raises several types for broken files
        if short:  # a wav cut inside its header: say that, not libsndfile's guess at what is missing
            return None, short
        msg = libsndfile_message(e)
        if "not recognised" in msg.lower():
            return None, f"cannot read: not audio, or a format libsndfile does not know ({msg})"
        return None, f"cannot decode ({msg})"
    if short:
        return None, short
    if info.frames <= 0:
        return None, "holds no samples"
    if not 0 < info.samplerate <= MAX_RATE:  # resampling designs its filter from the rate: a lying one must not
        return None, f"damaged: header says {info.samplerate} Hz, past the {MAX_RATE:,} Hz any audio is recorded at"
    if info.frames > frame_bound(info, size):
        if info.frames == UNKNOWN_FRAMES:
            return None, "its header leaves its length unknown (written as a stream); re-encode it"
        return None, (f"damaged: header promises {info.frames} frames, more than a file of {size} bytes can hold "
                      f"(at most {frame_bound(info, size)})")
    return info, None


def _special(mode: int) -> str | None:
    """What a file that is not a regular one is (a FIFO, a socket, a device), or None."""
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))
    return None if stat.S_ISREG(mode) else next((what for test, what in kinds if test(mode)), "a special file")


def frame_bound(info, size: int) -> int:
    """The most frames a file of `size` bytes in the encoding `info` describes can hold: exact for PCM, and for a
    compressed encoding the frames at COMPRESSED_FRAMES_PER_BYTE. A header that claims more is lying; nothing
    is ever sized by more than this."""
    width = PCM_BYTES.get(info.subtype)
    if width is None or info.format == "FLAC":  # a FLAC's subtype (PCM_16, ...) is its bit depth, not its coding
        return size * COMPRESSED_FRAMES_PER_BYTE
    return size // (width * max(1, info.channels))


def _wav_shortfall(f, head: bytes, size: int) -> str | None:
    """The reason a wav is truncated (its data chunk promises more bytes than the file holds), or None.
    libsndfile quietly reads what is there and sf.info reports that shorter length, so the header is checked
    here. After the 12-byte RIFF header come chunks: id, u32 size, payload padded to an even length. Every read
    is checked for length: a file cut anywhere in its header, or one that shrinks while we read, is a reason,
    never a struct.error."""
    pos, align = 12, 1  # align: bytes per frame, from the fmt chunk

    def read(at: int, n: int) -> bytes:  # from `head`, or from the file past it (after a large chunk)
        if at + n <= len(head):
            return head[at:at + n]
        f.seek(at)
        return f.read(n)

    while pos + 8 <= size:
        chunk = read(pos, 8)
        if len(chunk) < 8:  # the file shrank since its size was taken
            return f"truncated: file ends inside a chunk header at byte {pos}"
        cid, n = struct.unpack("<4sI", chunk)
        if cid == b"fmt " and n >= 14:
            field = read(pos + 20, 2)  # nBlockAlign, at offset 12 of the fmt payload
            if len(field) < 2:
                return f"truncated: file ends inside its fmt chunk ({size} bytes)"
            align = max(1, struct.unpack("<H", field)[0])
        elif cid == b"data":
            held = size - pos - 8
            if n in (0, 0xFFFFFFFF) or n <= held:  # 0 or all ones: written by a stream that did not know its length
                return None
            return f"truncated: header promises {n // align} frames, file holds {held // align}"
        pos += 8 + n + (n & 1)
    return None


def libsndfile_message(e: Exception) -> str:
    """The first line of an error, without soundfile's "Error opening 'PATH': " (the report names the file)."""
    text = str(e).strip()
    msg = text.splitlines()[0] if text else type(e).__name__
    return re.sub(r"^Error opening (b?'.*?'|b?\".*?\"): ", "", msg)


def short_read(promised: int, got: int) -> str | None:
    """The reason for a decode that stopped early (an mp3 or ogg cut short, a damaged flac), or None."""
    return f"truncated or damaged: header says {promised} frames, decoded {got}" if got < promised else None


def bad_files_error(folder: Path, bad: list[tuple[str, str]], n_files: int) -> WavegenError:
    """One error for all the bad files of a folder. Its first line names the first bad file and its problem (and
    is the whole message when that file is the only bad one); below it, up to MAX_LISTED files in all as
    `path: reason`, the count of the rest, and a hint."""
    (first, reason), rest = bad[0], bad[1:]
    every = len(bad) == n_files
    hint = "no file is usable: fix or remove them" if every else "pass --skip-bad to train on the rest"
    if not rest:
        where = f"the only audio file in {folder}" if every else hint
        return WavegenError(f"{shown(folder / first)}: {reason} ({where})")
    count = f"all {n_files} audio files" if every else f"{len(bad)} of {n_files} audio files"
    lines = [f"{shown(folder / first)}: {reason} (and {len(rest)} more bad file{'s' if len(rest) != 1 else ''}: "
             f"{count} in {shown(folder)} are bad)"]
    lines += [f"  {shown(folder / name)}: {why}" for name, why in rest[:MAX_LISTED - 1]]
    if len(bad) > MAX_LISTED:
        lines.append(f"  ... and {len(bad) - MAX_LISTED} more")
    return WavegenError("\n".join(lines + [hint]))


def settle_bad(folder: Path, bad: list[tuple[str, str]], n_files: int, skip_bad: bool) -> None:
    """Raise the error for `bad` files unless skip_bad (and some file is good) lets the caller leave them out."""
    if bad and (not skip_bad or len(bad) == n_files):
        raise bad_files_error(folder, bad, n_files)


SKIPPED_NAMED = 6  # files named in the one line that says what was skipped; the rest are counted
REASON_CHARS = 80  # of each reason in that line


def describe_skipped(skipped: list[tuple[str, str]], ignored: int = 0) -> str:
    """One line saying which files were left out and why, grouped by reason (SKIPPED_NAMED files by name at most),
    and how many other files (not audio) were ignored; "" when none were."""
    groups: dict[str, list[str]] = {}
    for name, reason in skipped:
        groups.setdefault(reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS - 3] + "...", []).append(name)
    parts, named = [], 0
    for reason, names in groups.items():
        if named >= SKIPPED_NAMED:
            break
        take = names[:SKIPPED_NAMED - named]
        named += len(take)
        more = f" and {len(names) - len(take)} more" if len(names) > len(take) else ""
        parts.append(f"{shown(names[0])} ({reason})" if len(names) == 1 else
                     f"{reason} ({len(names)}): {', '.join(shown(n) for n in take)}{more}")
    rest = len(skipped) - sum(len(names) for names in list(groups.values())[:len(parts)])
    if rest:
        parts.append(f"{rest} more for other reasons")
    line = f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: " + "; ".join(parts) if skipped else ""
    if ignored:
        other = f"ignored {ignored} other file{'s' if ignored != 1 else ''} (not audio)"
        line = f"{line}; {other}" if line else other
    return line
