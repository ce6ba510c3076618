"""Settings from the environment: the live knobs are declared once (``LiveTuning``) and read like the rest."""

from __future__ import annotations

import pytest

from core.live_tuning import LiveTuning
from core.settings import BatchPromptMode, environment_variables, load_settings


def test_live_knobs_are_read_from_their_own_variables() -> None:
    settings = load_settings({"TANDEM_VAD_THRESHOLD": "0.6", "TANDEM_CONTEXT_WORDS": "40", "TANDEM_PORT": "9001"})
    assert settings.port == 9001
    assert settings.live.vad_threshold == 0.6 and settings.live.context_words == 40
    assert settings.live.partial_interval_s == LiveTuning().partial_interval_s


def test_overrides_win_over_the_environment_for_live_knobs_too() -> None:
    settings = load_settings({"TANDEM_STABLE_PARTIALS": "false"}, stable_partials=True, workers=0)
    assert settings.live.stable_partials is True and settings.workers == 0


def test_speech_ends_below_the_neg_threshold() -> None:
    assert load_settings({}).live.vad_silence_threshold == pytest.approx(0.35)
    assert load_settings({"TANDEM_VAD_THRESHOLD": "0.7"}).live.vad_silence_threshold == pytest.approx(0.55)
    assert load_settings({"TANDEM_VAD_NEG_THRESHOLD": "0.2"}).live.vad_silence_threshold == pytest.approx(0.2)


def test_the_variables_read_include_the_live_knobs() -> None:
    names = environment_variables()
    assert {"TANDEM_PORT", "TANDEM_VAD_THRESHOLD", "TANDEM_VAD_NEG_THRESHOLD", "TANDEM_CONTEXT_WORDS"} <= names
    assert "TANDEM_LIVE" not in names


def test_a_mode_is_read_and_a_wrong_one_is_refused_with_the_accepted_values() -> None:
    assert load_settings({"TANDEM_BATCH_PROMPT_MODE": "none"}).batch_prompt_mode is BatchPromptMode.NONE
    assert load_settings({}).batch_prompt_mode is BatchPromptMode.PREVIOUS
    with pytest.raises(ValueError, match=r"TANDEM_BATCH_PROMPT_MODE='all' .*accepted values: none, previous, waves"):
        load_settings({"TANDEM_BATCH_PROMPT_MODE": "all"})
    with pytest.raises(ValueError, match=r"TANDEM_AUTH='yes' .*accepted values: off, keys"):
        load_settings({"TANDEM_AUTH": "yes"})
