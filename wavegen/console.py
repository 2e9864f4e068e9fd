"""The command's console and signals: what a closed pipe, a full disk under stdout, Ctrl-C or SIGTERM do.

- Output: stdout and stderr are wrapped so that a failed write (the reader of a pipe gone, `> /dev/full`) drops
  the rest of the console output instead of raising. A training goes on and keeps its run; a short command ends
  as it would have, silently after a closed pipe (as Unix tools do), with one line on stderr after any other
  failure, since its output is then incomplete. Text that cannot be encoded (file names that are not UTF-8, in
  any locale) is printed with backslash escapes, never a UnicodeEncodeError.
- Signals: SIGTERM is treated as Ctrl-C (the training loop has its own handlers: stop at the batch's end). A
  second one of either while the first is handled ends the process at once with `wavegen: interrupted` and
  status 130, wherever it lands (in a checkpoint write, a cleanup, torch's own code): every file is written
  atomically, so this loses nothing that was written, and the kernel releases the run's lock.
"""
from __future__ import annotations

import errno
import os
import signal
import sys

INTERRUPTED = 130  # 128 + SIGINT: the status a shell shows for Ctrl-C


def stop_now() -> None:
    """End the process at once: one line and status 130, with no Python unwinding (no finally, no flushing)."""
    try:
        os.write(2, b"wavegen: interrupted\n")
    except OSError:
        pass
    os._exit(INTERRUPTED)


class Output:
    """A text stream (sys.stdout, sys.stderr) whose first failed write drops everything after it."""

    def __init__(self, stream):
        self.stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                try:
                    self.stream.write(text)
                except UnicodeEncodeError:  # a name that is not UTF-8, or a locale that cannot show it
                    enc = getattr(self.stream, "encoding", None) or "utf-8"
                    self.stream.write(text.encode(enc, "backslashreplace").decode(enc))
            except OSError as e:
                self._drop(e)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as e:
                self._drop(e)

    def _drop(self, e: OSError) -> None:
        """Stop writing, and point the descriptor at /dev/null so that no later flush (the interpreter's own at
        exit) meets the failure again."""
        self.error = e
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture): nothing to redirect
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Session:
    """The console of one command: `with Session() as s:` wraps stdout and stderr and handles SIGTERM and a
    second Ctrl-C; afterwards `s.status(code, ...)` is the exit status, with the failure of stdout reported."""

    def __init__(self):
        self.interrupted = False
        self.out = self.err = None
        self._old: dict = {}

    def _signal(self, signum, frame) -> None:
        if self.interrupted:
            stop_now()
        self.interrupted = True
        raise KeyboardInterrupt

    def __enter__(self) -> "Session":
        self._streams = sys.stdout, sys.stderr
        self.out, self.err = Output(sys.stdout), Output(sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._signal)
        except ValueError:  # not the main thread (a test calling main in a thread): signals stay as they are
            pass
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self.out.flush()
        self.err.flush()
        sys.stdout, sys.stderr = self._streams

    def status(self, code: int, work_kept: bool = False) -> int:
        """The exit status: `code`, or after a failure of stdout other than a closed pipe, one line and 2 (the
        output is incomplete), unless `work_kept` (a training: its run is whole, only the console was lost)."""
        e = self.out.error
        if e is None or e.errno == errno.EPIPE:
            return code
        what = "the console output was dropped" if work_kept else "the output is incomplete"
        print(f"wavegen: error: standard output: {e.strerror or e}; {what}", file=sys.stderr)
        return code if work_kept else code or 2
