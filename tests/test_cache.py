"""Caches of decoded data live in the cache folder, never in the data folder (wavegen/data/cache.py): a read-only
data folder trains on both paths, concurrent builds build once, a killed build is never trusted, `--cache-dir none`
writes nothing, `wavegen cache list / clear`, and the caches older versions left beside the data are still read."""
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tiny_config, write_wav
import wavegen.data.folder as folder_mod
import wavegen.data.prepared as prepared
from wavegen.cli import main
from wavegen.config import make_config
from wavegen.data import GaussianSpec, load_folder, make_gaussian, open_windows, prepare
from wavegen.data.cache import ENV, cache_root, entry
from wavegen.data.folder import CACHE_FILE, CACHE_NAME
from wavegen.data.prepared import PREPARED_PREFIX, decode_prepared
from wavegen.errors import WavegenError
from wavegen.training import train


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder` (hidden ones and folders too, and the folder itself): (size, mtime_ns). A file
    created and removed again still shows, in its folder's mtime."""
    out = {}
    for p in [folder, *folder.rglob("*")]:
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size if not p.is_dir() else 0, st.st_mtime_ns)
    return out


def _sh(*cmd) -> bool:
    return subprocess.run(list(map(str, cmd)), capture_output=True).returncode == 0


@contextmanager
def read_only(folder: Path):
    """`folder` made read-only; yields the path to use. As root, where permissions do not stop writes, a read-only
    bind mount of it; where mounting is not allowed, the folder as it is (the listing check then stands alone)."""
    if os.geteuid() != 0:
        _sh("chmod", "-R", "a-w", folder)
        try:
            yield folder
        finally:
            _sh("chmod", "-R", "u+w", folder)
        return
    mnt = folder.parent / f"{folder.name}-ro"
    mnt.mkdir()
    mounted = _sh("mount", "--bind", folder, mnt)
    if mounted and _sh("mount", "-o", "remount,ro,bind", mnt):
        try:
            yield mnt
        finally:
            _sh("umount", mnt)
            mnt.rmdir()
        return
    if mounted:
        _sh("umount", mnt)
    mnt.rmdir()
    yield folder


def _refuses_writes(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


@pytest.fixture
def gauss(tmp_path) -> Path:
    return make_gaussian(tmp_path / "gauss", GaussianSpec(n=40, seed=2))


def _tones(d: Path, n: int = 4, frames: int = 300) -> Path:
    for i in range(n):
        sub = "low" if i % 2 else "high"
        write_wav(d / sub / f"t{i}.wav", (0.1 * (i + 1) * np.sin(np.arange(frames) / (3 + i))).astype(np.float32),
                  sr=8000, subtype="FLOAT")
    return d


def test_read_only_data_folder_trains_on_both_paths(gauss, tmp_path, capsys):
    before = _listing(gauss)
    with read_only(gauss) as data:
        if os.geteuid() != 0 or data != gauss:
            assert _refuses_writes(data)
        cache = tmp_path / "cache"
        # files used as they are (an .npz in memory), the cache named by --cache-dir
        cfg = tiny_config(data, tmp_path / "run0", batches=2, cache_dir=str(cache))
        train(cfg)
        out = capsys.readouterr().out
        assert f"decoded {data} into the cache {entry(cache, data) / CACHE_FILE} (" in out
        # windows (a memory-mapped cache folder), the cache named by WAVEGEN_CACHE_DIR
        train(tiny_config(data, tmp_path / "run1", preset="dcgan", length=64, ngf=16, ndf=16, batches=2))
        out = capsys.readouterr().out
        assert f"decoded {data} into the cache {entry(cache_root(), data)}{os.sep}prepared-" in out
        # a second run reads both caches: nothing is decoded and nothing is said
        train(tiny_config(data, tmp_path / "run2", batches=1, cache_dir=str(cache)))
        assert "decoded" not in capsys.readouterr().out
    assert _listing(gauss) == before


def test_two_processes_build_one_cache(tmp_path):
    """Started together (a barrier after the imports), two processes load one folder: one builds, the other
    waits on the lock and reads what it built. Each file is decoded once, on both paths."""
    script = r'''
import os, sys, time
from pathlib import Path
import wavegen.data.folder as folder, wavegen.data.prepared as prepared
kind, src, cache, log, ready = sys.argv[1:6]
def slow(real):
    def decode(*a, **k):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(0.1)
        return real(*a, **k)
    return decode
prepared._decode_into, folder._decode = slow(prepared._decode_into), slow(folder._decode)
Path(ready, str(os.getpid())).touch()
deadline = time.time() + 120  # a partner that died on the way must not hang this one
while len(os.listdir(ready)) < 2 and time.time() < deadline:
    time.sleep(0.01)
if kind == "prepare":
    out, built, _ = prepared._prepare(src, None, sample_rate=0, mono=True, formats=prepared.FORMATS, skip_bad=False,
                                      cache_dir=cache)
else:
    s = folder.load_folder(src, cache_dir=cache)
    out, built = s.cache, s.built
print(out, built)
'''
    src = _tones(tmp_path / "src", n=6)
    for kind in ("prepare", "folder"):
        cache, log, ready = tmp_path / f"cache-{kind}", tmp_path / f"{kind}.log", tmp_path / f"ready-{kind}"
        ready.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", script, kind, src, cache, log, ready], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        try:
            results = [p.communicate(timeout=300) for p in procs]
        finally:
            for p in procs:
                p.kill()
        assert all(p.returncode == 0 for p in procs), [err for _, err in results]
        said = sorted(out.split() for out, _ in results)
        assert said[0][0] == said[1][0] and [b for _, b in said] == ["False", "True"], said  # one built, both use it
        pids = log.read_text().split()
        assert len(pids) == 6 and len(set(pids)) == 1  # every file decoded once, by one process


def test_killed_build_leaves_nothing_trusted_and_rebuilds(tmp_path):
    script = r'''
import sys, time
from pathlib import Path
import wavegen.data.prepared as prepared
src, cache, started = sys.argv[1:4]
real = prepared._decode_into
def hang(*a, **k):
    got = real(*a, **k)  # the first file is in the temporary cache folder now
    Path(started).touch()
    time.sleep(600)
prepared._decode_into = hang
prepared.prepare(src, cache_dir=cache)
'''
    src, cache, started = _tones(tmp_path / "src"), tmp_path / "cache", tmp_path / "started"
    p = subprocess.Popen([sys.executable, "-c", script, src, cache, started], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while not started.exists():
            assert p.poll() is None and time.time() < deadline, p.stderr.read() if p.poll() is not None else "timeout"
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    d = entry(cache, src)
    assert [q.name for q in d.glob(".prepared-*.tmp-*")]  # the half-built cache, under its temporary name
    assert not [q for q in d.glob("prepared-*")]  # and nothing a later run would take for a cache
    out = prepare(src, cache_dir=str(cache))
    assert not list(d.glob(".prepared-*.tmp-*"))  # the next builder removed it
    w, ref = open_windows(src, length=100, window="all", cache_dir=str(cache)), decode_prepared(src)
    assert w.folder == out and not w.cache_built
    np.testing.assert_array_equal(np.asarray(w.samples), ref.samples)
    # a temporary .npz left by a killed load_folder is neither read nor left behind
    write_wav(tmp_path / "eq" / "a.wav", np.zeros(50, np.float32))
    stale = entry(cache, tmp_path / "eq") / f".{CACHE_FILE}.tmp-99999.npz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    assert load_folder(tmp_path / "eq", cache_dir=str(cache)).built and not stale.exists()


def test_cache_dir_none_writes_nothing_anywhere(tmp_path, monkeypatch):
    src = _tones(tmp_path / "src")
    write_wav(tmp_path / "eq" / "a.wav", np.ones(50, np.float32) / 4)
    for var in ("HOME", "XDG_CACHE_HOME"):  # where a default cache would go
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.chdir(tmp_path)
    reference = decode_prepared(src)
    before = _listing(tmp_path)
    for how in ("flag", "env"):
        cache_dir = "none" if how == "flag" else None
        monkeypatch.setenv(ENV, "none" if how == "env" else str(tmp_path / "never"))
        s = load_folder(tmp_path / "eq", cache_dir=cache_dir)
        assert s.x.shape == (1, 1, 50) and s.cache is None and not s.built
        w = open_windows(src, length=100, window="all", cache_dir=cache_dir)
        assert w.folder is None and not w.cache_built and isinstance(w.samples, np.ndarray)
        np.testing.assert_array_equal(w.samples, reference.samples)
        assert w.n == 12 and w.classes == ["high", "low"]
        with pytest.raises(WavegenError, match="the cache is turned off") as e:
            prepare(src, cache_dir=cache_dir)
        assert len(str(e.value).splitlines()) == 1
    assert _listing(tmp_path) == before


def test_unwritable_or_full_cache_folder_warns_once_and_runs_from_memory(tmp_path, monkeypatch, capsys):
    src = _tones(tmp_path / "src")
    write_wav(tmp_path / "eq" / "a.wav", np.ones(50, np.float32) / 4)
    (tmp_path / "file").write_text("a file, so no folder can be made under it (root or not)")
    blocked = str(tmp_path / "file" / "cache")
    assert load_folder(tmp_path / "eq", cache_dir=blocked).x.shape == (1, 1, 50)
    w = open_windows(src, length=100, cache_dir=blocked)
    assert w.folder is None and w.n == 12
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(f"{tmp_path / 'file'}" in line and "cannot write the cache" in line and
                                 "decoding into memory" in line for line in err), err

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folder_mod.np, "savez", full)
    monkeypatch.setattr(prepared, "_decode_to_file", full)
    cache = tmp_path / "cache"
    s = load_folder(tmp_path / "eq", cache_dir=str(cache))
    assert s.x.shape == (1, 1, 50) and not s.built
    w = open_windows(src, length=100, cache_dir=str(cache))
    assert w.folder is None and w.n == 12
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("No space left on device" in line for line in err), err
    d = entry(cache, src)
    assert not [q.name for q in d.iterdir() if not q.name.startswith(".") and q.name != "folder.json"]  # no cache
    assert not list(d.glob("*.tmp-*"))  # and no temporaries


def test_cache_list_and_clear(tmp_path, capsys):
    a, b = _tones(tmp_path / "a"), _tones(tmp_path / "b", n=2)
    cache = str(tmp_path / "cache")
    prepare(a, cache_dir=cache)
    load_folder(b, cache_dir=cache)
    prepare(b, cache_dir=cache, sample_rate=16000)
    os.utime(entry(Path(cache), a) / "folder.json", (0, 1_000_000_000))  # a used long ago: listed last
    assert main(["cache", "list", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"caches in {cache}:" and out[2].endswith(str(b)) and out[3].endswith(str(a))
    assert "2001-09-0" in out[3] and out[-1].startswith("2 data folders, ") and "kB" in out[-1]
    # one folder's caches (both of b's prepared option sets and its .npz)
    assert main(["cache", "clear", str(b), "--cache-dir", cache]) == 0
    assert capsys.readouterr().out.startswith("removed the caches of 1 data folder (")
    assert not entry(Path(cache), b).exists() and entry(Path(cache), a).exists()
    assert main(["cache", "clear", str(b), "--cache-dir", cache]) == 0
    assert capsys.readouterr().out.strip() == f"no cache of {b} in {cache}"
    # a cache being built (its lock held) is left alone; the rest goes. WAVEGEN_CACHE_DIR names the folder here.
    prepare(b, cache_dir=cache)
    lock = next(entry(Path(cache), a).glob(".*.lock"))
    with open(lock) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        os.environ[ENV], old = cache, os.environ[ENV]
        try:
            assert main(["cache", "clear"]) == 0
        finally:
            os.environ[ENV] = old
    out = capsys.readouterr().out
    assert out.startswith("removed the caches of 1 data folder (") and f"left the cache of {a}" in out
    assert entry(Path(cache), a).exists() and not entry(Path(cache), b).exists()
    # turned off, there is nothing to list: a one-line error
    assert main(["cache", "list", "--cache-dir", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wavegen: error: ") and len(err.strip().splitlines()) == 1


def test_caches_older_versions_left_beside_the_data_are_read_never_written(tmp_path, monkeypatch, capsys):
    src, eq = _tones(tmp_path / "src"), tmp_path / "eq"
    write_wav(eq / "a.wav", np.ones(50, np.float32) / 4)
    old_cache = tmp_path / "old"  # build them as an older version would have, then move them beside the data
    s = load_folder(eq, cache_dir=str(old_cache))
    shutil.copy(s.cache, eq / CACHE_NAME)
    out = prepare(src, cache_dir=str(old_cache))
    legacy = src / (PREPARED_PREFIX + out.name.removeprefix("prepared-"))
    shutil.copytree(out, legacy)
    shutil.rmtree(old_cache)
    before = {d: _listing(d) for d in (src, eq)}
    cache = tmp_path / "cache"
    with monkeypatch.context() as m:  # read, not decoded
        for name in ("read", "info", "SoundFile"):
            m.setattr(sf, name, lambda *a, **k: pytest.fail("decoded although an old cache is there"))
        again = load_folder(eq, cache_dir=str(cache))
        assert again.x.equal(s.x) and again.cache == eq / CACHE_NAME and not again.built
        w = open_windows(src, length=100, cache_dir=str(cache))
        assert w.folder == legacy and w.n == 12
        assert main(["data", "prepare", str(src), "--cache-dir", str(cache)]) == 0
        assert "already prepared (files unchanged), reusing 4 files" in capsys.readouterr().out
    assert not cache.exists()  # nothing built in the cache folder
    assert {d: _listing(d) for d in (src, eq)} == before  # nor anything written beside the data
    # a changed file makes the old cache stale: rebuilt in the cache folder, the old one left as it was
    write_wav(src / "high" / "t0.wav", np.zeros(300, np.float32), sr=8000, subtype="FLOAT")
    listing = _listing(legacy)
    w = open_windows(src, length=100, cache_dir=str(cache))
    assert w.folder.parent == entry(cache, src) and w.cache_built and _listing(legacy) == listing
    # `cache clear FOLDER` points at the old caches but never deletes in the data folder
    assert main(["cache", "clear", str(src), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"{legacy}: a cache an older wavegen left in the data folder" in out and legacy.exists()


def test_cache_dir_inside_the_data_folder_is_refused(gauss):
    with pytest.raises(WavegenError, match="is inside the data folder") as e:
        make_config("post", data=str(gauss), out="run", cache_dir=str(gauss / "cache"))
    assert len(str(e.value).splitlines()) == 1
    assert make_config("post", data=str(gauss), out="run", cache_dir="none").cache_dir == "none"
