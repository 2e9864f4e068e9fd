"""The HTML run report (wavegen.report.write_report), checked in the page itself and in headless Chromium.

Chromium is driven through the DevTools protocol over --remote-debugging-pipe (stdlib only: JSON messages
separated by NUL bytes on file descriptors 3 and 4), in real time. `--dump-dom --virtual-time-budget=...`
is not used: virtual time runs timers fast-forward but not the media pipeline, so the budget is spent before
any <audio> has loaded and the page is dumped with its checks still pending.

Chromium must be installed (scripts/install-test-deps.sh does it); without it these tests fail, they do not skip.
"""
import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tiny_config
from wavegen import train
from wavegen.errors import WavegenError
from wavegen.reports.report import CLIP_SECONDS, write_report

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
]

# Runs in the page once it has loaded: text, every <img>, every <audio> (load, play, time advances), and the
# URLs the page fetched. Returns a JSON-able object.
CHECK_JS = r"""
(async () => {
  const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, bad) => setTimeout(() => bad(new Error(what + ': timed out')), ms))]);
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
  const audio = [];
  for (const a of document.querySelectorAll('audio')) {
    const r = {title: a.title};
    try {
      if (a.error) throw new Error('media error ' + a.error.code);
      if (a.readyState < 2) {
        await withTimeout(new Promise((ok, bad) => {
          a.addEventListener('canplay', ok, {once: true});
          a.addEventListener('error', () => bad(new Error('media error ' + (a.error && a.error.code))), {once: true});
          if (a.networkState === HTMLMediaElement.NETWORK_EMPTY) a.load();
        }), 10000, 'load');
      }
      r.readyState = a.readyState;
      r.duration = a.duration;
      await withTimeout(a.play(), 10000, 'play');
      r.played = true;
      await withTimeout(new Promise(ok => {
        const poll = setInterval(() => { if (a.currentTime > 0 || a.ended) { clearInterval(poll); ok(); } }, 10);
      }), 10000, 'currentTime');
      r.currentTime = a.currentTime;
      r.ended = a.ended;
      a.pause();
    } catch (e) {
      r.error = String(e);
    }
    audio.push(r);
  }
  return {title: document.title, text: document.body.innerText, images, audio};
})()
"""


def chromium() -> str:
    exe = os.environ.get("WAVEGEN_CHROMIUM") or shutil.which("chromium")
    if not exe:
        pytest.fail("chromium is not on PATH: these tests open the HTML report in headless Chromium. Install it with "
                    "scripts/install-test-deps.sh (as root), or point WAVEGEN_CHROMIUM at a Chromium binary.", pytrace=False)
    return exe


class Chromium:
    """Headless Chromium driven through the DevTools protocol on --remote-debugging-pipe."""

    def __init__(self, profile: Path, timeout: float = 60):
        self.timeout = timeout
        self.err = profile.with_suffix(".stderr")
        to_chrome_r, self.to_chrome = os.pipe()  # chromium reads commands on its fd 3
        self.from_chrome, from_chrome_w = os.pipe()  # and writes replies and events on its fd 4

        def wire_fds():  # in the child: the pipe ends onto fds 3 and 4 (via fds >= 10, so no dup2 clobbers another)
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, close_fds=False,
                preexec_fn=wire_fds, start_new_session=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_chrome], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited (code {self.proc.poll()}): {self.stderr_tail()}")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def stderr_tail(self) -> str:
        lines = [l for l in self.err.read_text(errors="replace").splitlines() if "dbus" not in l.lower() and "alsa" not in l.lower()]
        return " | ".join(lines[-5:])

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url: str) -> str:
        """Load `url` in the page tab and wait for its load event; returns the DevTools session id."""
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Network.enable", session=session)
        self.requests: list[str] = []
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired")
        self.requests = [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]
        return session

    def evaluate(self, session: str, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=session)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"]["value"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the process group of the browser this test started
            self.proc.wait(timeout=10)
        finally:
            os.close(self.to_chrome)
            os.close(self.from_chrome)


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """Open `page` in headless Chromium and run CHECK_JS there: (its result, the URLs the page requested)."""
    browser = Chromium(tmp_path / "chromium-profile")
    try:
        session = browser.open(page.resolve().as_uri())
        result = browser.evaluate(session, CHECK_JS)
        requests = [u for u in browser.requests if not u.startswith("data:")]
    finally:
        browser.close()
    return result, requests


def assert_renders(result: dict, requests: list[str], page: Path, n_images: int, n_audio: int) -> None:
    assert requests == [page.resolve().as_uri()], f"the page fetched more than itself: {requests}"
    assert len(result["images"]) == n_images
    for img in result["images"]:
        assert img["complete"] and img["width"] > 0 and img["height"] > 0, f"image did not load: {img}"
    assert len(result["audio"]) == n_audio
    for a in result["audio"]:
        assert "error" not in a, f"audio did not play: {a}"
        assert a["readyState"] >= 2 and a["duration"] >= CLIP_SECONDS - 0.01 and a["played"], a
        assert a["currentTime"] > 0 or a["ended"], a


def data_uris(page_text: str, mime: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(rf'src="data:{re.escape(mime)};base64,([A-Za-z0-9+/=]+)"', page_text)]


@pytest.fixture(scope="module")
def run(gauss_data, tmp_path_factory):
    """A tiny real run (previews at batches 0, 10, 20, 30) with hand-written eval.json and analysis.json."""
    run = train(tiny_config(gauss_data, tmp_path_factory.mktemp("report") / "r", batches=30))
    (run / "analysis.json").write_text(json.dumps({"transition": 18, "divergence": None}))
    (run / "eval.json").write_text(json.dumps({"step": 30, "checkpoint": "ckpt_00000030.pt", "metrics": {
        "frechet_spec": {"value": 12.5, "real_vs_real": 0.8, "lower_is_better": True, "target": None,
                         "doc": "Frechet distance between <log-spectrum> features"},
        "c2st_acc": {"value": 0.93, "real_vs_real": 0.51, "lower_is_better": False, "target": 0.5,
                     "doc": "accuracy of a classifier telling generated from real"}}}))
    return run


def test_report_renders_in_chromium(run, tmp_path):
    chromium()  # fail first, with the install hint, when there is no browser
    assert not (run / "figures").exists()  # training draws none: the report draws what it shows
    page = write_report(run)
    assert page == run / "report.html"
    text = page.read_text()
    # self-contained: no scripts, no links, nothing fetched but data: URIs
    assert "<script" not in text and "<link" not in text and "href=" not in text
    assert not re.search(r'src="(?!data:)', text)
    pngs, wavs = data_uris(text, "image/png"), data_uris(text, "audio/wav")
    # progress + one sample figure per milestone: 0 (untrained), 10, 20 (nearest the transition at 18), 30 (last)
    assert len(pngs) == 1 + 4 and all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert len(wavs) == 4 * 4
    x, sr = sf.read(io.BytesIO(wavs[0]))
    assert sr == 16000 and len(x) >= CLIP_SECONDS * sr and len(x) % 100 == 0  # whole repeats of a 100-sample clip
    first = np.load(run / "previews" / "step_00000000.npy")[0, 0]
    assert np.allclose(x[:100], first, atol=1 / 32767 + 1e-6)  # the preview itself, 16-bit
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        "progress.png", "samples_000000.png", "samples_000010.png", "samples_000020.png", "samples_000030.png"]

    result, requests = open_in_chromium(page, tmp_path)
    assert result["title"] == "wavegen run r"
    body = result["text"]
    for needle in ["Run r", "Transition: batch 18", "Divergence: none found", "nearest preview to the transition (batch 18)",
                   "untrained", "frechet_spec", "12.5", "closer to 0.5", "Frechet distance between <log-spectrum> features",
                   "repeats it 80 times", "No spectrograms", "lr_g", "batches trained", "batches/s"]:
        assert needle in body, f"{needle!r} not on the page"
    assert_renders(result, requests, page, n_images=5, n_audio=16)


def test_report_without_optional_files_on_audio_data(run, tmp_path):
    """No eval.json, no analysis.json, data that is not the synthetic curve: spectrograms, no ideal curve."""
    chromium()
    other = tmp_path / "audio_run"
    shutil.copytree(run, other)
    (other / "eval.json").unlink()
    (other / "analysis.json").unlink()
    (other / "report.html").unlink(missing_ok=True)
    data = json.loads((other / "data.json").read_text())
    (other / "data.json").write_text(json.dumps({**data, "meta": None}))
    page = write_report(other, out=tmp_path / "elsewhere" / "page.html")
    assert page == tmp_path / "elsewhere" / "page.html" and not (other / "report.html").exists()
    text = page.read_text()
    assert "No eval.json" in text and "No analysis.json" in text and "spectrograms at batch 30" in text
    result, requests = open_in_chromium(page, tmp_path)
    assert "Spectrograms of the first 4 samples" in result["text"]
    assert "Samples beside real examples" in result["text"]
    # progress + sample figure and spectrogram figure for each of 0, 10, 20, 30, and the last samples beside real
    # examples: one figure, 4 samples and 4 real clips to play
    assert_renders(result, requests, page, n_images=1 + 2 * 4 + 1, n_audio=4 * 4 + 2 * 4)


def test_report_of_a_run_with_no_batches_yet(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r0", batches=0))  # config, data.json, the batch-0 preview only
    text = write_report(run).read_text()
    assert "No training statistics yet" in text and "0 (no training statistics yet)" in text
    assert "Batch 0 &middot; untrained, last" in text and text.count("<audio") == 4


def test_not_a_run_folder(tmp_path):
    with pytest.raises(WavegenError, match="not a run folder") as e:
        write_report(tmp_path)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("name,content,needle", [
    ("analysis.json", "{not json", "cannot read"),
    ("analysis.json", '{"transition": "soon"}', "transition"),
    ("eval.json", '{"step": 3}', "metrics"),
])
def test_bad_optional_file_is_named(run, tmp_path, name, content, needle):
    other = tmp_path / "r"
    shutil.copytree(run, other)
    (other / name).write_text(content)
    with pytest.raises(WavegenError, match=needle) as e:
        write_report(other)
    assert name in str(e.value) and "\n" not in str(e.value)
