"""Headless Chromium driven by Selenium, its microphone faked from a WAV file: how the console's tests and
benchmark use the page as a person would. Needs Debian's ``chromium`` and ``chromium-driver`` and the
``test`` extra (``selenium``); nothing else imports it."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

DEFAULT_WINDOW = (1280, 900)


class ChromiumMissingError(RuntimeError):
    pass


def open_chromium(
    microphone_wav: Path | None = None,
    download_dir: Path | None = None,
    window: tuple[int, int] = DEFAULT_WINDOW,
) -> webdriver.Chrome:
    """A headless Chromium whose microphone plays ``microphone_wav`` once (granted without a prompt), saving
    downloads to ``download_dir``, keeping its console log (``driver.get_log("browser")``). Quit it when done."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        raise ChromiumMissingError("Chromium is not installed (apt-get install chromium chromium-driver)")
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
                     "--use-fake-device-for-media-stream", f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)
    if microphone_wav is not None:
        options.add_argument(f"--use-file-for-fake-audio-capture={microphone_wav}%noloop")
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(chromedriver))


def console_errors(driver: webdriver.Chrome) -> list[dict]:
    """The errors of the browser's console log (JavaScript exceptions, failed requests) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
