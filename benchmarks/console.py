"""The browser console measured as a person uses it: headless Chromium, its microphone faked from the
realtime benchmark's two-voice conversation, ``/?live=1&seconds=N`` (AudioWorklet capture, 16 kHz PCM, live
socket with ``enhance_wait``).

Per run, polling the page every 0.1 s: page load → ``session.begin`` shown; the first live line shown, after
the first utterance's speech ends, counting the audio from ``session.begin`` (the microphone opened a little
earlier, so this slightly understates it; the server's VAD silence window is included); the session's end →
the enhanced transcript shown; live and enhanced WER against the script; the speakers shown. The same clip
through the Python client is in ``benchmarks/hybrid.py``: the difference is the browser's capture path.

Writes ``benchmarks/results/console.json``.

    python -m benchmarks.console [--runs 3]
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import typer
from selenium.webdriver.common.by import By

from benchmarks.run_facts import run_facts
from benchmarks.speech import SAMPLE_RATE, benchmark_clip, word_error_rate
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY, Stack
from launchers.chromium import console_errors, open_chromium

RESULTS = DEFAULT_OUTPUT_DIR / "console.json"
LEAD_SILENCE_S = 1.0
POLL_S = 0.1
TIMEOUT_S = 600


def _poll(driver, condition, started: float) -> float:
    """Seconds from ``started`` until ``condition(driver)`` holds."""
    while time.monotonic() - started < TIMEOUT_S:
        if condition(driver):
            return time.monotonic() - started
        time.sleep(POLL_S)
    raise TimeoutError("the console did not get there in time")


def _texts(driver, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def measure_run(http_url: str, microphone_wav: Path, clip, seconds: int) -> dict:
    driver = open_chromium(microphone_wav)
    try:
        started = time.monotonic()
        driver.get(f"{http_url}/?live=1&seconds={seconds}")
        status = driver.find_element(By.ID, "live-status")
        began_s = _poll(driver, lambda _: "Listening" in status.text, started)
        first_line_s = _poll(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#live-transcript .segment"), started)
        ended_s = _poll(driver, lambda _: "ended" in status.text, started)
        result = driver.find_element(By.CSS_SELECTOR, "#live-result .result-status")
        done_s = _poll(driver, lambda _: result.text.startswith(("Done", "Failed")), started)
        live_text = " ".join(_texts(driver, "#live-transcript .segment .text"))
        enhanced_lines = _texts(driver, "#live-result .enhanced-transcript .segment")
        enhanced_text = " ".join(_texts(driver, "#live-result .enhanced-transcript .text"))
        return {
            "page_to_session_begin_s": round(began_s, 2),
            "first_line_after_speech_end_s": round(
                first_line_s - began_s - LEAD_SILENCE_S - clip.utterances[0].speech_end_s, 2
            ),
            "session_end_to_enhanced_shown_s": round(done_s - ended_s, 2),
            "live_wer": round(word_error_rate(clip.text, live_text), 4),
            "enhanced_wer": round(word_error_rate(clip.text, enhanced_text), 4),
            "speakers_shown": sorted({line.split(":", 1)[0] for line in enhanced_lines}),
            "javascript_errors": len(console_errors(driver)),
        }
    finally:
        driver.quit()


def main(runs: int = typer.Option(3, help="Live sessions, one after another.")) -> None:
    """Open the console's live page ``runs`` times and time what the reader sees."""
    clip = benchmark_clip(1)
    seconds = math.ceil(clip.duration_s + 2 * LEAD_SILENCE_S) + 1
    rows = []
    with tempfile.TemporaryDirectory() as work:
        silence = np.zeros(int(LEAD_SILENCE_S * SAMPLE_RATE), dtype=np.float32)
        microphone_wav = Path(work) / "microphone.wav"
        soundfile.write(microphone_wav, np.concatenate([silence, clip.audio, silence]), SAMPLE_RATE, subtype="PCM_16")
        stack = Stack(MODEL_REPOSITORY, Path(work), workers=1)
        try:
            for _ in range(runs):
                rows.append(measure_run(stack.server.http_url, microphone_wav, clip, seconds))
                print(rows[-1], flush=True)
        finally:
            stack.close()
    report = {
        **run_facts(),
        "clip_audio_s": round(clip.duration_s, 1),
        "runs": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| run | page → session.begin (s) | first line after speech end (s) | end → enhanced shown (s) | live WER "
          "| enhanced WER | speakers shown | JS errors |")
    print("|---|---|---|---|---|---|---|---|")
    for number, row in enumerate(rows, 1):
        print(f"| {number} | {row['page_to_session_begin_s']} | {row['first_line_after_speech_end_s']} | "
              f"{row['session_end_to_enhanced_shown_s']} | {row['live_wer']} | {row['enhanced_wer']} | "
              f"{', '.join(row['speakers_shown'])} | {row['javascript_errors']} |")


if __name__ == "__main__":
    typer.run(main)
