"""The skip guard: in CI a skipped PostgreSQL case fails the run; elsewhere it is a listed skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_pytest(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_lost.py").write_text(
        "import pytest\n\n"
        "def test_needs_postgres():\n"
        "    pytest.skip('PostgreSQL does not answer at postgresql://nowhere')\n\n"
        "def test_other():\n"
        "    pytest.skip('espeak-ng is not installed')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.skip_guard", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_lost.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )


def test_skipped_postgres_cases_fail_in_ci(tmp_path) -> None:
    completed = _run_pytest(tmp_path, ci=True)
    assert completed.returncode == 1, completed.stdout
    assert "test_needs_postgres: PostgreSQL does not answer" in completed.stdout
    lost = completed.stdout.split("(a failure)")[1].split("short test summary")[0]
    assert "test_other" not in lost


def test_outside_ci_they_are_listed_skips(tmp_path) -> None:
    completed = _run_pytest(tmp_path, ci=False)
    assert completed.returncode == 0, completed.stdout
    assert "SKIPPED" in completed.stdout and "PostgreSQL does not answer" in completed.stdout
