"""A pytest plugin: in CI (``CI=true``) a run that skipped the PostgreSQL, S3, LLM or real-speech cases fails, so
their coverage cannot silently vanish. Elsewhere skips stay skips (``make test`` lists why, ``-rs``)."""

from __future__ import annotations

import os

import pytest

GUARDED_WORDS = ("PostgreSQL", "S3", "moto", "test LLM", "Chromium", "prometheus is not installed", "real-speech")
"""A skip whose reason names one of these is a lost PostgreSQL, S3, llama.cpp, browser, Prometheus or
real-speech case."""


class SkipGuard:
    def __init__(self) -> None:
        self.lost: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            if any(word in reason for word in GUARDED_WORDS):
                self.lost.append(f"{report.nodeid}: {reason}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.lost and _in_ci():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.lost and _in_ci():
            terminalreporter.section("PostgreSQL/S3 cases skipped in CI (a failure)", red=True)
            for line in self.lost:
                terminalreporter.line(line)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipGuard(), "tandem-skip-guard")
