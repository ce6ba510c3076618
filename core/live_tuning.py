"""The knobs of the live path, declared once: read as settings, used by the live session."""

from __future__ import annotations

import msgspec


class LiveTuning(msgspec.Struct, frozen=True, kw_only=True):
    """Timing knobs of the live path; each is also a setting (``TANDEM_<FIELD_NAME_UPPER>``, :mod:`core.settings`)."""

    partial_interval_s: float = 0.3
    """Cadence of partial re-decodes of the current utterance."""
    early_partial_interval_s: float = 0.15
    """Cadence during an utterance's first :attr:`early_partial_window_s`: its first words show sooner."""
    early_partial_window_s: float = 1.2
    first_words_interval_s: float = 0.08
    """Until an utterance's first partial is sent, the cadence is twice the session's last partial decode
    turnaround, between this and :attr:`early_partial_interval_s`: an idle server shows the first words
    sooner, a busy one (slow turnarounds) is not asked for more decodes."""
    min_partial_audio_s: float = 0.3
    vad_threshold: float = 0.5
    """A VAD window at or above this speech probability starts speech."""
    vad_neg_threshold: float | None = None
    """Speech goes on while the probability stays at or above this (hysteresis, faster-whisper's
    ``VadOptions.neg_threshold``); ``None``: ``vad_threshold - 0.15``."""
    vad_min_silence_s: float = 0.4
    """Silence that ends an utterance (the VAD silence window)."""
    speech_pad_s: float = 0.2
    """Audio kept before speech start and after speech end in each decode."""
    max_utterance_s: float = 20.0
    """An utterance longer than this is finalized and a new one starts."""
    lag_warning_s: float = 1.0
    """Received, unprocessed audio beyond which a ``processing_lag`` warning is sent."""
    stable_partials: bool = True
    """Commit the words consecutive partials agree on and decode on from them (``stable_text``)."""
    agreement_decodes: int = 2
    """Consecutive partial decodes that must agree on a word before it is committed."""
    min_commit_audio_s: float = 1.0
    """No word is committed from decodes of less audio than this (an utterance's first decodes guess)."""
    partial_hold_s: float = 1.0
    """A partial that takes back shown words is sent only when the committed words reach past the
    first changed word (two decodes agree on the change), or after this much audio since the last
    partial sent; a partial that only adds words is always sent (0: send every partial)."""
    first_guess_hold_s: float = 0.5
    """:attr:`partial_hold_s` while the utterance has no agreed word yet (its shown words are first guesses)."""
    min_commit_confidence: float = 0.5
    """A partial decode whose mean token probability is below this commits nothing (the guesses
    that agree by chance: "But when there is" for "The weather is", probability 0.43)."""
    context_words: int = 0
    """Words of the session's previous finals given as the prompt of each final decode (0: none)."""

    @property
    def vad_silence_threshold(self) -> float:
        """The resolved :attr:`vad_neg_threshold`: below it a window is silence."""
        return self.vad_threshold - 0.15 if self.vad_neg_threshold is None else self.vad_neg_threshold
