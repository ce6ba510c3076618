"""The browser console in headless Chromium against the real stack, the microphone faked from espeak speech.

Chromium's fake capture device plays a two-voice WAV as the microphone (``--use-file-for-fake-audio-capture``);
the page captures it in its AudioWorklet, streams it live and shows the enhanced transcript with speakers.
Every test fails on a JavaScript error in the browser's console log. Screenshots go to the test's folder, or to
``TANDEM_SCREENSHOT_DIR`` when set (``docs/images`` for the README's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import websockets.sync.client
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from benchmarks.speech import SAMPLE_RATE, word_error_rate
from clients.stream_client import stream_url
from launchers.chromium import ChromiumMissingError, console_errors, open_chromium
from launchers.serve_process import ServeProcess
from tests.auth_helpers import create_key
from tests.stack_fixtures import server_with_worker, start_server

ENHANCEMENT_TIMEOUT_S = 600
LINE_WITH_SPEAKER = re.compile(r"^(SPEAKER_\d\d|[A-Z][\w.' -]*): \S")
Browser = Callable[..., webdriver.Chrome]


@pytest.fixture(scope="module")
def console_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    with server_with_worker(tmp_path_factory.mktemp("console"), triton.endpoints) as server:
        yield server


@pytest.fixture(scope="module")
def microphone_wav(speech, tmp_path_factory) -> Path:
    """The four-line two-voice conversation with a second of silence either side, as the fake microphone."""
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    path = tmp_path_factory.mktemp("microphone") / "two_voices.wav"
    soundfile.write(path, np.concatenate([silence, speech.audio, silence]), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TANDEM_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Opens headless Chromium (with ``microphone`` as its fake capture device); after the test, its console
    log must hold no error."""
    opened: list[webdriver.Chrome] = []

    def open_browser(microphone: Path | None = None) -> webdriver.Chrome:
        try:
            opened.append(open_chromium(microphone, download_dir=tmp_path / "downloads"))
        except ChromiumMissingError as exc:
            pytest.skip(str(exc))
        return opened[-1]

    yield open_browser
    try:
        for driver in opened:
            errors = console_errors(driver)
            assert not errors, f"JavaScript errors in the console log: {errors}"
    finally:
        for driver in opened:
            driver.quit()


def _wait(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], timeout_s: float = 60):
    return WebDriverWait(driver, timeout_s, poll_frequency=0.5).until(condition)


def _texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _enhanced_lines(panel: WebElement) -> list[WebElement]:
    return panel.find_elements(By.CSS_SELECTOR, ".enhanced-transcript .segment")


def _wait_until_done(driver: webdriver.Chrome, panel_id: str) -> WebElement:
    panel = driver.find_element(By.ID, panel_id)
    _wait(driver, lambda _: re.match("(Done|Failed)", panel.find_element(By.CLASS_NAME, "result-status").text),
          ENHANCEMENT_TIMEOUT_S)
    assert panel.find_element(By.CLASS_NAME, "result-status").text.startswith("Done"), panel.text
    return panel


def _assert_two_speakers(panel: WebElement) -> list[str]:
    """Every enhanced line starts with its speaker's label or name; two speakers alternate. Returns the labels."""
    lines = [line.text for line in _enhanced_lines(panel)]
    assert lines and all(LINE_WITH_SPEAKER.match(line) for line in lines), lines
    labels = [line.split(":", 1)[0] for line in lines]
    assert len(set(labels)) == 2 and labels[0] != labels[1], lines
    return labels


def test_live_from_the_microphone_then_the_enhanced_transcript_with_speakers(
    browser, console_server, microphone_wav, speech, screenshots
) -> None:
    driver = browser(microphone_wav)
    seconds = round(len(speech.audio) / SAMPLE_RATE) + 3
    driver.get(f"{console_server.http_url}/?live=1&seconds={seconds}")

    # Live text appears while the speech goes on: a partial (its uncommitted words tentative), then finals with
    # times, before the session has ended.
    _wait(driver, lambda d: d.find_element(By.ID, "live-partial").text.strip(), timeout_s=seconds + 30)
    assert driver.find_elements(By.CSS_SELECTOR, "#live-partial .tentative")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#live-transcript .segment"), timeout_s=seconds + 30)
    assert "ended" not in driver.find_element(By.ID, "live-status").text
    assert driver.find_element(By.ID, "stop").is_enabled()
    assert re.search(r"\d:\d\d\.\d–\d:\d\d\.\d$", _texts(driver, "#live-transcript .segment")[0])

    panel = _wait_until_done(driver, "live-result")
    live_text = " ".join(_texts(driver, "#live-transcript .segment .text"))
    assert word_error_rate(speech.text, live_text) <= 0.2, live_text
    assert "ended" in driver.find_element(By.ID, "live-status").text
    labels = _assert_two_speakers(panel)
    assert labels == [labels[0], labels[1]] * 2  # the conversation's lines alternate voices
    speaker_ids = [line.get_attribute("data-speaker") for line in _enhanced_lines(panel)]
    assert speaker_ids == ["SPEAKER_00", "SPEAKER_01"] * 2  # the ids stay on the lines where names are shown
    enhanced_text = " ".join(_texts(driver, "#live-result .enhanced-transcript .text"))
    assert word_error_rate(speech.text, enhanced_text) <= 0.1, enhanced_text
    driver.save_screenshot(str(screenshots / "console-live.png"))

    # The recording plays; a line clicked seeks it to the line's start.
    audio = panel.find_element(By.TAG_NAME, "audio")
    _wait(driver, lambda d: d.execute_script("return arguments[0].readyState >= 1", audio))
    assert driver.execute_script("return arguments[0].duration", audio) == pytest.approx(seconds, abs=2.5)
    third = _enhanced_lines(panel)[2]
    third.click()
    start = float(third.get_attribute("data-start"))
    _wait(driver, lambda d: abs(d.execute_script("return arguments[0].currentTime", audio) - start) < 1.0)


def test_stop_ends_the_session_from_the_keyboard(browser, console_server, microphone_wav) -> None:
    driver = browser(microphone_wav)
    driver.get(f"{console_server.http_url}/?live=1")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#live-transcript .segment"), timeout_s=60)
    stop = driver.find_element(By.ID, "stop")
    assert stop.text == "Stop" and stop.is_displayed()
    assert driver.switch_to.active_element == stop  # focused when recording starts
    stop.send_keys(Keys.ENTER)
    _wait(driver, lambda d: "ended" in d.find_element(By.ID, "live-status").text)
    assert not stop.is_enabled()
    _wait(driver, lambda d: "Enhancing" in d.find_element(By.ID, "live-result").text
          or "Done" in d.find_element(By.ID, "live-result").text)


def test_upload_a_file_follow_its_progress_export_it_and_find_it_in_history(
    browser, console_server, microphone_wav, screenshots, tmp_path
) -> None:
    driver = browser()
    driver.get(f"{console_server.http_url}/#upload")
    driver.find_element(By.ID, "upload-file").send_keys(str(microphone_wav))
    assert "two_voices.wav" in driver.find_element(By.ID, "drop-zone").text
    driver.find_element(By.ID, "upload-submit").click()

    _wait(driver, lambda d: "#job/" in d.current_url)
    job_id = driver.current_url.rsplit("/", 1)[1]
    panel = _wait_until_done(driver, "detail-result")
    _assert_two_speakers(panel)
    assert panel.find_element(By.TAG_NAME, "audio").is_displayed()  # the file it was made from
    driver.save_screenshot(str(screenshots / "console-upload.png"))

    panel.find_element(By.CSS_SELECTOR, ".exports button[data-format=srt]").click()
    exported = tmp_path / "downloads" / f"{job_id}.srt"
    _wait(driver, lambda _: exported.exists() and exported.stat().st_size > 0)
    assert exported.read_text().startswith("1\n") and "SPEAKER_00" in exported.read_text()

    driver.find_element(By.LINK_TEXT, "History").click()
    job_link = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#history-jobs a[href='#job/{job_id}']"))
    assert "completed" in job_link[0].text
    job_link[0].click()
    _assert_two_speakers(_wait_until_done(driver, "detail-result"))


def test_a_session_from_history_shows_its_live_text_audio_and_enhancement(
    browser, console_server, microphone_wav
) -> None:
    driver = browser(microphone_wav)
    driver.get(f"{console_server.http_url}/?live=1&seconds=5")  # the first line only
    _wait(driver, lambda d: "Done" in d.find_element(By.ID, "live-result").text, ENHANCEMENT_TIMEOUT_S)
    session_id = re.search(r"sess_\w+", driver.find_element(By.ID, "live-status").text).group()

    driver.get(f"{console_server.http_url}/#history")
    selector = f"#history-sessions a[href='#session/{session_id}']"
    link = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, selector))
    link[0].send_keys(Keys.ENTER)
    panel = _wait_until_done(driver, "detail-result")
    assert "hello everyone" in _words(driver.find_element(By.ID, "detail-live-text").text)
    first_line = _enhanced_lines(panel)[0].text
    assert LINE_WITH_SPEAKER.match(first_line) and "hello everyone" in _words(first_line), first_line
    assert panel.find_element(By.TAG_NAME, "audio").is_displayed()


def test_a_file_that_is_not_audio_is_refused_plainly(browser, console_server, tmp_path) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are meeting notes, not a recording\n" * 20)
    driver = browser()
    driver.get(f"{console_server.http_url}/#upload")
    driver.find_element(By.ID, "upload-file").send_keys(str(not_audio))
    driver.find_element(By.ID, "upload-submit").click()
    notice = driver.find_element(By.ID, "notice")
    _wait(driver, lambda _: notice.is_displayed())
    assert notice.text.startswith("Error — invalid_audio: "), notice.text
    assert driver.current_url.endswith("#upload") and driver.find_element(By.ID, "upload-submit").is_enabled()
    unexpected = [entry for entry in console_errors(driver) if "status of 422" not in entry["message"]]
    assert not unexpected  # the refused request itself is logged as a failed resource: expected here


_WORKLET_TONES_SCRIPT = """
const [contextRate, tones, done] = arguments;
(async () => {
  const context = new OfflineAudioContext(1, contextRate * 1.2, contextRate);  // rendered at once, no autoplay rule
  await context.audioWorklet.addModule("/console/pcm-capture.js");
  const capture = new AudioWorkletNode(context, "pcm-capture", {
    numberOfOutputs: 0, processorOptions: { targetRate: 16000, chunkSamples: 1600 },
  });
  const samples = [];
  capture.port.onmessage = (event) => samples.push(...new Int16Array(event.data));
  for (const frequency of tones) {
    const tone = new OscillatorNode(context, { frequency });
    tone.connect(new GainNode(context, { gain: 0.4 })).connect(capture);
    tone.start();
  }
  await context.startRendering();
  while (samples.length < 16000) await new Promise((resolve) => setTimeout(resolve, 50));
  done(samples.slice(4000, 12000));
})().catch((error) => done(String(error)));
"""


@pytest.mark.parametrize("context_rate", [44100, 48000])
def test_the_capture_worklet_resamples_to_16_khz_without_aliasing(browser, console_server, context_rate) -> None:
    """1 kHz + 12 kHz tones at the browser's rate: 1 kHz comes out at 1 kHz, 12 kHz (above 8 kHz) is filtered
    out instead of folding back to 4 kHz."""
    driver = browser()
    driver.get(f"{console_server.http_url}/#upload")  # the worklet module is loaded from the console's origin
    samples = driver.execute_async_script(_WORKLET_TONES_SCRIPT, context_rate, [1000, 12000])
    assert isinstance(samples, list), samples
    signal = np.asarray(samples, dtype=np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    frequencies = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    assert abs(frequencies[np.argmax(spectrum)] - 1000) <= 2
    level = {hz: spectrum[np.abs(frequencies - hz) <= 20].max() for hz in (1000, 4000)}
    assert level[4000] < 0.01 * level[1000], level  # the alias is 40 dB down


def test_phone_width_and_dark_theme(browser, console_server, screenshots) -> None:
    driver = browser()
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    for view in ("live", "upload", "history"):
        driver.get(f"{console_server.http_url}/#{view}")
        _wait(driver, lambda d, v=view: d.find_element(By.ID, f"view-{v}").is_displayed())
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390, view
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert sum(int(channel) for channel in re.findall(r"\d+", background)[:3]) < 150, background
    driver.get(f"{console_server.http_url}/#live")
    assert driver.find_element(By.ID, "record").is_displayed() and driver.find_element(By.ID, "stop").is_displayed()
    assert not driver.find_element(By.CSS_SELECTOR, "#live-result .exports").is_displayed()  # nothing to export yet
    driver.save_screenshot(str(screenshots / "console-phone-dark.png"))


def test_a_full_server_is_shown_plainly(browser, triton, tmp_path, microphone_wav) -> None:
    server = start_server(tmp_path / "full", triton.endpoints, TANDEM_MAX_SESSIONS="1")
    try:
        with websockets.sync.client.connect(stream_url(server.ws_url, {})) as occupying:
            occupying.recv()  # session.begin: the one slot is taken
            driver = browser(microphone_wav)
            driver.get(f"{server.http_url}/?live=1")
            notice = driver.find_element(By.ID, "notice")
            _wait(driver, lambda _: notice.is_displayed() and "capacity" in notice.text)
            assert "already serves 1 sessions" in notice.text
            _wait(driver, lambda d: d.find_element(By.ID, "record").is_enabled())
            assert not driver.find_element(By.ID, "stop").is_enabled()
    finally:
        server.stop()


def test_the_page_and_its_assets_are_served_without_a_build_step(console_server) -> None:
    page = httpx.get(f"{console_server.http_url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)
    assert "/console/main.js" in assets
    for asset in [*assets, "/console/pcm-capture.js", "/console/live.js"]:
        response = httpx.get(f"{console_server.http_url}{asset}", timeout=10)
        assert response.status_code == 200, asset
    assert httpx.get(f"{console_server.http_url}/console/main.js").headers["content-type"].startswith(
        "text/javascript")
    schema = httpx.get(f"{console_server.http_url}/schema/openapi.json", timeout=10).json()
    assert "/" not in schema["paths"]


def test_with_keys_on_the_page_asks_for_a_key_once_and_streams_with_a_token(
    browser, triton, tmp_path, microphone_wav
) -> None:
    """With ``TANDEM_AUTH=keys``: the page loads without a key, asks for one at the first 401, keeps it for the
    tab, and opens the live socket with a ``POST /v1/tokens`` token."""
    with server_with_worker(tmp_path / "keyed", triton.endpoints, TANDEM_AUTH="keys") as server:
        key = create_key(server, "console", "jobs:read,jobs:write,realtime")
        assert httpx.get(f"{server.http_url}/v1/audio/transcriptions", timeout=10).status_code == 401
        driver = browser(microphone_wav)
        driver.get(f"{server.http_url}/#history")
        dialog = driver.find_element(By.ID, "key-dialog")
        _wait(driver, lambda _: dialog.is_displayed())
        dialog.find_element(By.NAME, "key").send_keys(key, Keys.ENTER)
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#history-jobs li"))
        assert not driver.find_element(By.ID, "notice").is_displayed()

        driver.get(f"{server.http_url}/?live=1&seconds=5")  # the same tab: the key is remembered
        panel = _wait_until_done(driver, "live-result")
        assert not driver.find_element(By.ID, "key-dialog").is_displayed()
        assert driver.execute_script("return sessionStorage.getItem('tandem.apiKey')") == key
        assert _enhanced_lines(panel) and panel.find_element(By.TAG_NAME, "audio").is_displayed()
        unexpected = [entry for entry in console_errors(driver) if "status of 401" not in entry["message"]]
        assert not unexpected  # the first, refused request is logged as a failed resource: expected
