"""A live session as a state machine: audio in, protocol messages out; no sockets here.

The session keeps the decoding state (VAD state, the current utterance's audio, the partial
cadence); each Triton request carries only audio and options. Partials re-decode the current
utterance every ``partial_interval_s`` of audio (never more than one in flight). A final is
decoded speculatively as soon as the VAD sees silence, so when the silence window confirms the
end of speech the text is usually ready; speech that resumes discards the speculation.

Stable partials (local agreement): the words two consecutive partial decodes of an utterance agree
on — all but the newest decode's last word, which may be cut at the audio's edge — are committed
(only from confident decodes of at least ``min_commit_audio_s`` of audio: the first ones guess). Later
decodes of the utterance, its final included, are forced to start with the committed words
(Whisper's decoding prefix), so a committed word is never taken back and the text stops flipping
between unrelated hypotheses. A partial shows the committed words and the decode's next words up
to a repeated pair of words (a greedy loop), without its last word (often cut at the audio's edge)
unless that word is all it has or the utterance is in its first ``min_commit_audio_s`` (where that
word is often the first right one). A partial that would take back words already shown waits until
agreement commits the change (or ``partial_hold_s`` of audio passed): a reader sees one correction,
not every passing hypothesis. Context (off by default): the session's previous finals (their
last ``context_words`` words) are the prompt of each final decode, as Whisper does across its
windows; prompted partials are not used, they delayed the first correct words by 0.5-1 s.
With ``diarize``, each final's audio is embedded in speaker windows while the final is decoded, and
:mod:`control_plane.live.speaker_labels` labels it (split into one final per speaker at a change).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum

import msgspec
import numpy as np

from control_plane.live.arrivals import ArrivalClock
from control_plane.live.speaker_labels import LabelledPart, OnlineSpeakers, Span, SpeakerLabelOptions, speaker_windows
from core.audio.frames import MODEL_SAMPLE_RATE
from core.inference import (
    VAD_CONTEXT_SAMPLES,
    VAD_STATE_SIZE,
    VAD_WINDOW_SAMPLES,
    AsrResult,
    InferenceClient,
    InferenceFailed,
    InferenceUnavailable,
)
from core.live_tuning import LiveTuning
from core.metrics import LIVE_FINAL_SECONDS, LIVE_FIRST_PARTIAL_SECONDS
from core.protocol import (
    ConfigMessage,
    ErrorCode,
    ErrorMessage,
    Segment,
    ServerMessage,
    SessionParams,
    SpeechEnd,
    SpeechStart,
    TranscriptFinal,
    TranscriptPartial,
    WarningCode,
    WarningMessage,
    Word,
)


def _normalized(word: str) -> str:
    """A word for agreement: case and punctuation do not count."""
    return "".join(c for c in word.lower() if c.isalnum() or c == "'")


def _first_repetition(words: list[str], start: int) -> int:
    """Index (from ``start`` on) where a pair of words said before comes again, else ``len(words)``.

    Greedy decoding of a short window loops ("Thanks for coming in. Thanks for ..."); the loop is
    cut from partials (finals are beam-searched, with their own loop check in the decoder).
    """
    seen: set[tuple[str, str]] = set()
    for index in range(len(words) - 1):
        pair = (_normalized(words[index]), _normalized(words[index + 1]))
        if pair in seen and index >= start:
            return index
        seen.add(pair)
    return len(words)


class _SpeechState(Enum):
    SILENCE = "silence"
    SPEECH = "speech"


class _AudioBuffer:
    """16 kHz samples addressed by absolute sample index; old samples can be dropped."""

    def __init__(self) -> None:
        self._data = np.zeros(MODEL_SAMPLE_RATE * 4, dtype=np.float32)
        self._start = 0  # absolute index of _data[0]
        self._length = 0

    @property
    def start(self) -> int:
        return self._start

    @property
    def end(self) -> int:
        return self._start + self._length

    def append(self, samples: np.ndarray) -> None:
        needed = self._length + len(samples)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), dtype=np.float32)
            grown[: self._length] = self._data[: self._length]
            self._data = grown
        self._data[self._length : needed] = samples
        self._length = needed

    def slice(self, start: int, end: int) -> np.ndarray:
        start, end = max(start, self._start), min(end, self.end)
        return self._data[start - self._start : end - self._start].copy()

    def drop_before(self, index: int) -> None:
        drop = min(max(0, index - self._start), self._length)
        if drop:
            self._data[: self._length - drop] = self._data[drop : self._length]
            self._length -= drop
            self._start += drop


@dataclass(frozen=True)
class _FinalDecode:
    """A final's transcript and, with ``diarize``, the speaker windows of its audio and their embeddings."""

    result: AsrResult
    windows: list[Span] = field(default_factory=list)
    embeddings: np.ndarray | None = None


@dataclass
class _Utterance:
    start: int
    """Absolute sample index where the decoded audio starts (speech start minus padding)."""
    speech_start: int
    """Absolute sample index where its speech starts (its first partial is timed from there)."""
    partial_sent: bool = False
    speech_end: int | None = None
    """Tentative end of speech (first silent window), cleared if speech resumes."""
    speculative_final: asyncio.Task[_FinalDecode | None] | None = None
    speculative_end: int = 0
    finalized: bool = False
    committed: list[str] = field(default_factory=list)
    """Words every later partial and the final start with."""
    hypotheses: list[list[str]] = field(default_factory=list)
    """Words of the latest partial decodes, for agreement with the next."""
    shown: list[str] = field(default_factory=list)
    """Words of the last partial sent."""
    shown_at: int = 0
    """Audio end (sample index) of the last partial sent."""
    window_embeddings: dict[int, tuple[asyncio.Task[np.ndarray | None], int]] = field(default_factory=dict)
    """With ``diarize``: the speaker windows embedded as their audio arrived, by sample offset from
    :attr:`start` → (the request, the window's row in its answer)."""

    @property
    def prefix(self) -> str:
        return " ".join(self.committed)

    def commit_agreement(self, words: list[str], confident: bool, decodes: int) -> None:
        """Commit the words ``words`` shares with the ``decodes - 1`` previous hypotheses, except
        its last word (it may be cut at the audio's edge); a decode that is not ``confident``
        commits nothing, neither now nor as the previous hypothesis of the next."""
        self.hypotheses = [*self.hypotheses, words if confident else []][-decodes:]
        if len(self.hypotheses) < decodes or not all(self.hypotheses):
            return
        agreed = 0
        for column in zip(*(h[:-1] if h is words else h for h in self.hypotheses)):
            if len({_normalized(word) for word in column}) != 1:
                break
            agreed += 1
        if agreed > len(self.committed):
            self.committed = words[:agreed]

    def keeps_committed(self, words: list[str]) -> bool:
        return words[: len(self.committed)] == self.committed

    def holds(self, words: list[str], end: int, hold_samples: int) -> bool:
        """Whether a partial of ``words`` should wait: it takes back shown words, agreement has not
        confirmed the change, and the last partial sent is recent."""
        if not self.shown or not hold_samples:
            return False
        kept = 0
        for shown, new in zip(self.shown, words):
            if _normalized(shown) != _normalized(new):
                break
            kept += 1
        takes_back = kept < len(self.shown)
        return takes_back and len(self.committed) <= kept and end - self.shown_at < hold_samples


@dataclass
class LiveSessionStats:
    model_audio_samples: int = 0
    finals: list[TranscriptFinal] = field(default_factory=list)


class LiveSession:
    """Turns a stream of 16 kHz audio into VAD events, partials and finals."""

    def __init__(
        self,
        params: SessionParams,
        inference: InferenceClient,
        emit: Callable[[ServerMessage], None],
        tuning: LiveTuning | None = None,
        *,
        triton_model: str,
    ) -> None:
        """``triton_model``: the live profile's Triton model (see :mod:`core.live_models`)."""
        self.params = params
        self._triton_model = triton_model
        self._inference = inference
        self._emit = emit
        self._tuning = tuning or LiveTuning()
        self.stats = LiveSessionStats()
        self._audio = _AudioBuffer()
        self._arrivals = ArrivalClock()
        self._vad_state = np.zeros(VAD_STATE_SIZE, dtype=np.float32)
        self._vad_position = 0  # absolute index of the next sample the VAD has not seen
        self._speech_state = _SpeechState.SILENCE
        self._utterance: _Utterance | None = None
        self._partial_task: asyncio.Task[None] | None = None
        self._last_partial_at = 0
        self._partial_turnaround_s = 0.0  # of the last partial decode (wall clock)
        self._final_chain: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._last_warning_at = 0.0
        self._last_error_at = 0.0
        self._speakers = (
            OnlineSpeakers(SpeakerLabelOptions(max_speakers=params.num_speakers or params.max_speakers))
            if params.diarize
            else None
        )

    # --- input ---------------------------------------------------------------------------------

    @property
    def audio_seconds(self) -> float:
        return self.stats.model_audio_samples / MODEL_SAMPLE_RATE

    async def process_audio(
        self, samples: np.ndarray, *, backlog_s: float = 0.0, received_at: float | None = None
    ) -> None:
        """Feed 16 kHz float32 audio; ``backlog_s`` is the received audio not yet processed, this included;
        ``received_at`` (``time.monotonic()``, default now) when it arrived, for the latency metrics."""
        if backlog_s > self._tuning.lag_warning_s:
            self._warn_lag(backlog_s)
        self._audio.append(samples)
        self._arrivals.arrived(self._audio.end, time.monotonic() if received_at is None else received_at)
        self.stats.model_audio_samples += len(samples)
        if self.params.enable_vad:
            await self._run_vad()
        else:  # without VAD an utterance runs from the first audio (or the last flush) to the next flush
            if self._utterance is None or self._utterance.finalized:
                self._begin_utterance(max(0, self._audio.end - len(samples)))
            self._drop_unneeded_audio()
        if self._utterance is not None and not self._utterance.finalized:
            if (self._audio.end - self._utterance.start) / MODEL_SAMPLE_RATE >= self._tuning.max_utterance_s:
                self._finalize(self._audio.end)
                if not self.params.enable_vad or self._speech_state is _SpeechState.SPEECH:
                    self._begin_utterance(self._audio.end)
            else:
                self._maybe_request_partial()
                self._embed_arrived_windows()

    def configure(self, message: ConfigMessage) -> None:
        if message.language is not None:
            self.params.language = message.language
        if message.interim_results is not None:
            self.params.interim_results = message.interim_results
        if message.word_timestamps is not None:
            self.params.word_timestamps = message.word_timestamps
        if message.enable_vad is not None:
            self.params.enable_vad = message.enable_vad

    async def flush(self) -> None:
        """Finalize whatever speech is buffered and wait until its final is sent."""
        if self._utterance is not None and not self._utterance.finalized:
            self._finalize(self._audio.end)
            if self._speech_state is _SpeechState.SPEECH:
                self._emit(SpeechEnd(timestamp=round(self.audio_seconds, 3)))
                self._speech_state = _SpeechState.SILENCE
        if self._final_chain is not None:
            await asyncio.shield(self._final_chain)

    async def close(self) -> None:
        """Flush, then stop every background request (also when the flush fails)."""
        try:
            await self.flush()
        finally:
            await self.cancel_requests()

    async def cancel_requests(self) -> None:
        """Stop every background request; a final not yet sent is dropped."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def segments(self) -> list[Segment]:
        return [Segment(start=f.start, end=f.end, text=f.text, speaker=f.speaker) for f in self.stats.finals]

    # --- VAD -----------------------------------------------------------------------------------

    async def _run_vad(self) -> None:
        windows = (self._audio.end - self._vad_position) // VAD_WINDOW_SAMPLES
        if windows == 0:
            return
        first = self._vad_position
        chunk = self._audio.slice(first - VAD_CONTEXT_SAMPLES, first + windows * VAD_WINDOW_SAMPLES)
        if first < VAD_CONTEXT_SAMPLES:
            chunk = np.concatenate([np.zeros(VAD_CONTEXT_SAMPLES - first, dtype=np.float32), chunk])
        try:
            output = await self._inference.vad(chunk, self._vad_state)
        except (InferenceUnavailable, InferenceFailed) as exc:
            self._report_error(ErrorCode.MODEL_UNAVAILABLE, f"VAD request failed: {exc}")
            self._vad_position += windows * VAD_WINDOW_SAMPLES
            return
        self._vad_state = output.state
        for index, probability in enumerate(output.speech_probs):
            self._on_vad_window(first + index * VAD_WINDOW_SAMPLES, float(probability))
        self._vad_position += windows * VAD_WINDOW_SAMPLES
        self._drop_unneeded_audio()

    def _on_vad_window(self, window_start: int, probability: float) -> None:
        tuning = self._tuning
        if self._speech_state is _SpeechState.SILENCE:
            if probability >= tuning.vad_threshold:
                self._speech_state = _SpeechState.SPEECH
                self._emit(SpeechStart(timestamp=round(window_start / MODEL_SAMPLE_RATE, 3)))
                if self._utterance is None or self._utterance.finalized:
                    self._begin_utterance(
                        window_start - int(tuning.speech_pad_s * MODEL_SAMPLE_RATE), speech_start=window_start
                    )
            return
        utterance = self._utterance
        assert utterance is not None
        if probability >= tuning.vad_silence_threshold:
            if utterance.speech_end is not None:
                self._discard_speculation(utterance)  # speech resumed
            return
        window_end = window_start + VAD_WINDOW_SAMPLES
        if utterance.speech_end is None:
            utterance.speech_end = window_start
        pad = int(tuning.speech_pad_s * MODEL_SAMPLE_RATE)
        if utterance.speculative_final is None and window_end >= utterance.speech_end + pad:
            self._start_speculative_final(utterance, utterance.speech_end + pad)
        if window_end - utterance.speech_end >= tuning.vad_min_silence_s * MODEL_SAMPLE_RATE:
            self._speech_state = _SpeechState.SILENCE
            self._emit(SpeechEnd(timestamp=round(utterance.speech_end / MODEL_SAMPLE_RATE, 3)))
            self._finalize(utterance.speech_end + pad)

    def _drop_unneeded_audio(self) -> None:
        """Keep the open utterance, the VAD's context and the padding before a speech start."""
        pad = int(self._tuning.speech_pad_s * MODEL_SAMPLE_RATE)
        keep_from = self._vad_position - VAD_CONTEXT_SAMPLES - pad if self.params.enable_vad else self._audio.end
        if self._utterance is not None and not self._utterance.finalized:
            keep_from = min(keep_from, self._utterance.start)
        self._audio.drop_before(keep_from)
        self._arrivals.forget_before(self._audio.start)

    # --- utterances ----------------------------------------------------------------------------

    def _begin_utterance(self, start: int, *, speech_start: int | None = None) -> None:
        previous_end = self.stats.finals[-1].end if self.stats.finals else 0.0
        start = max(start, int(previous_end * MODEL_SAMPLE_RATE), 0)
        self._utterance = _Utterance(start=start, speech_start=max(start, speech_start or start))
        self._last_partial_at = start

    def _maybe_request_partial(self) -> None:
        utterance = self._utterance
        if utterance is None or utterance.finalized or not self.params.interim_results:
            return
        if self.params.enable_vad and self._speech_state is not _SpeechState.SPEECH:
            return
        if self._partial_task is not None and not self._partial_task.done():
            return
        if utterance.speculative_final is not None:
            return  # silence after the speech: the final is on its way
        end = self._audio.end
        tuning = self._tuning
        if (end - utterance.start) < tuning.min_partial_audio_s * MODEL_SAMPLE_RATE:
            return
        early = (end - utterance.start) < tuning.early_partial_window_s * MODEL_SAMPLE_RATE
        interval_s = tuning.early_partial_interval_s if early else tuning.partial_interval_s
        if not utterance.partial_sent:
            interval_s = min(interval_s, max(tuning.first_words_interval_s, 2 * self._partial_turnaround_s))
        if (end - self._last_partial_at) < interval_s * MODEL_SAMPLE_RATE:
            return
        self._last_partial_at = end
        audio = self._audio.slice(utterance.start, end)
        self._partial_task = self._spawn(self._partial(utterance, audio, end))

    async def _partial(self, utterance: _Utterance, audio: np.ndarray, end: int) -> None:
        asked_at = time.monotonic()
        result = await self._transcribe(audio, word_timestamps=False, final=False, prefix=utterance.prefix)
        self._partial_turnaround_s = time.monotonic() - asked_at
        if result is None or not result.text or utterance.finalized or utterance is not self._utterance:
            return
        text, stable_text = result.text, None
        if self._tuning.stable_partials:
            words = result.text.split()
            if not utterance.keeps_committed(words):
                return  # a decode that glued a token onto a committed word; the next one will do
            words = words[: _first_repetition(words, len(utterance.committed))]
            committing = (end - utterance.start) >= self._tuning.min_commit_audio_s * MODEL_SAMPLE_RATE
            if committing and utterance.speculative_final is None:  # a final in flight keeps today's words
                confident = result.confidence >= self._tuning.min_commit_confidence
                utterance.commit_agreement(words, confident, self._tuning.agreement_decodes)
            if committing and len(words) > max(1, len(utterance.committed)):
                # The word at the audio's edge is often cut: shown from the next decode. Not in an
                # utterance's first second, where it is often the first right word (hiding it made the
                # first partial's p95 0.73 s instead of 0.48 s on the unseen voices).
                words = words[:-1]
            # Before any agreed word the shown words are first guesses, held only briefly (a full hold
            # kept "That makes sense" behind "Let me make sure" for a second).
            hold_s = self._tuning.partial_hold_s if utterance.committed else self._tuning.first_guess_hold_s
            if committing and utterance.holds(words, end, int(hold_s * MODEL_SAMPLE_RATE)):
                return
            utterance.shown, utterance.shown_at = words, end
            text, stable_text = " ".join(words), utterance.prefix
        if not utterance.partial_sent:
            utterance.partial_sent = True
            LIVE_FIRST_PARTIAL_SECONDS.observe(time.monotonic() - self._arrivals.arrival_of(utterance.speech_start))
        self._emit(
            TranscriptPartial(
                text=text,
                start=round(utterance.start / MODEL_SAMPLE_RATE, 3),
                end=round(end / MODEL_SAMPLE_RATE, 3),
                stable_text=stable_text,
            )
        )

    def _start_speculative_final(self, utterance: _Utterance, end: int) -> None:
        utterance.speculative_end = end
        utterance.speculative_final = self._spawn(self._final_decode(utterance, end))

    def _embed_arrived_windows(self) -> None:
        """With ``diarize``: embed the open utterance's speaker windows whose audio has arrived (the
        final then waits only for its last ones)."""
        utterance = self._utterance
        if self._speakers is None or utterance is None or utterance.finalized:
            return
        window = int(round(self._speakers.options.window_s * MODEL_SAMPLE_RATE))
        hop = int(round(self._speakers.options.hop_s * MODEL_SAMPLE_RATE))
        offsets = []
        offset = len(utterance.window_embeddings) * hop
        while utterance.start + offset + window <= self._audio.end:
            offsets.append(offset)
            offset += hop
        if offsets:
            start = utterance.start
            samples = np.stack([self._audio.slice(start + o, start + o + window) for o in offsets])
            request = self._spawn(self._embed(samples))
            utterance.window_embeddings.update({o: (request, row) for row, o in enumerate(offsets)})

    def _final_decode(self, utterance: _Utterance, end: int) -> Coroutine[None, None, _FinalDecode | None]:
        """The final decode of the utterance up to ``end`` (its audio taken now, before it is dropped)."""
        audio = self._audio.slice(utterance.start, end)
        return self._decode_final(audio, utterance.prefix, dict(utterance.window_embeddings))

    async def _decode_final(
        self, audio: np.ndarray, prefix: str, embedded: dict[int, tuple[asyncio.Task[np.ndarray | None], int]]
    ) -> _FinalDecode | None:
        """Transcribe; with ``diarize``, embed the speaker windows not ``embedded`` yet at the same time
        (word times are then always decoded: a final is split between words where the speaker changes)."""
        transcribing = self._transcribe(
            audio, word_timestamps=self.params.word_timestamps or self.params.diarize, final=True, prefix=prefix
        )
        if self._speakers is None:
            result = await transcribing
            return None if result is None else _FinalDecode(result)
        windows, samples = speaker_windows(audio, self._speakers.options)
        window_s = self._speakers.options.window_s
        offsets = [int(round(w.start * MODEL_SAMPLE_RATE)) if w.end - w.start >= window_s else -1 for w in windows]
        missing = [i for i, offset in enumerate(offsets) if offset not in embedded]
        requests = {id(task): task for task, _ in embedded.values()}  # shielded: a later decode reuses them
        result, fresh, *answers = await asyncio.gather(
            transcribing,
            self._embed(samples[missing]) if missing else _no_embeddings(),
            *(asyncio.shield(task) for task in requests.values()),
        )
        answer_of = dict(zip(requests, answers))
        rows = []
        for index, offset in enumerate(offsets):
            if index in missing:
                rows.append(None if fresh is None else fresh[missing.index(index)])
            else:
                task, row = embedded[offset]
                answer = answer_of[id(task)]
                rows.append(None if answer is None else answer[row])
        embeddings = None if any(row is None for row in rows) else np.stack(rows)
        return None if result is None else _FinalDecode(result, windows, embeddings)

    async def _embed(self, samples: np.ndarray) -> np.ndarray | None:
        try:
            return await self._inference.embed_speakers(samples, live=True)
        except (InferenceUnavailable, InferenceFailed) as exc:
            self._report_error(ErrorCode.MODEL_UNAVAILABLE, f"speaker embedding failed: {exc}")
            return None

    @staticmethod
    def _discard_speculation(utterance: _Utterance) -> None:
        if utterance.speculative_final is not None:
            utterance.speculative_final.cancel()
        utterance.speech_end = None
        utterance.speculative_final = None

    def _finalize(self, end: int) -> None:
        """Close the current utterance at ``end`` and queue its final behind earlier ones."""
        utterance = self._utterance
        if utterance is None or utterance.finalized:
            return
        utterance.finalized = True
        end = min(end, self._audio.end)
        speech_end = end if utterance.speech_end is None else min(end, utterance.speech_end)
        speech_ended_at = self._arrivals.arrival_of(speech_end - 1)
        if utterance.speculative_final is not None and utterance.speculative_end == end:
            decode = utterance.speculative_final
        else:
            self._discard_speculation(utterance)
            decode = self._spawn(self._final_decode(utterance, end))
        self._final_chain = self._spawn(
            self._emit_final(self._final_chain, utterance.start, end, decode, speech_ended_at)
        )

    async def _emit_final(
        self,
        previous: asyncio.Task[None] | None,
        start: int,
        end: int,
        decode: asyncio.Task[_FinalDecode | None],
        speech_ended_at: float,
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            decoded = await decode
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            decoded = None
        if decoded is None or not decoded.result.text:
            return
        result = decoded.result
        offset_s = start / MODEL_SAMPLE_RATE
        end_s = round(end / MODEL_SAMPLE_RATE, 3)
        words = [
            Word(
                word=w.word,
                text=w.word,
                start=round(min(offset_s + w.start, end_s), 3),
                end=round(min(offset_s + w.end, end_s), 3),
                confidence=w.confidence,
            )
            for w in result.words
        ]
        final = TranscriptFinal(
            text=result.text,
            start=round(offset_s, 3),
            end=end_s,
            confidence=round(result.confidence, 4),
            words=words if self.params.word_timestamps else None,
        )
        LIVE_FINAL_SECONDS.observe(time.monotonic() - speech_ended_at)  # once per utterance, split or not
        finals = [final]
        if self._speakers is not None and decoded.embeddings is not None:
            word_spans = [Span(w.start, w.end) for w in result.words]
            parts = self._speakers.label(
                decoded.windows, decoded.embeddings, word_spans, (end - start) / MODEL_SAMPLE_RATE
            )
            finals = _labelled_finals(final, words, parts, offset_s)
        for labelled in finals:
            self.stats.finals.append(labelled)
            self._emit(labelled)

    async def _transcribe(
        self, audio: np.ndarray, *, word_timestamps: bool, final: bool, prefix: str = ""
    ) -> AsrResult | None:
        try:
            return await self._inference.transcribe(
                audio,
                word_timestamps=word_timestamps,
                language=self.params.language,
                final=final,
                prompt=self._context() if final else "",
                prefix=prefix if self._tuning.stable_partials else "",
                model=self._triton_model,
            )
        except InferenceUnavailable as exc:
            self._report_error(ErrorCode.MODEL_UNAVAILABLE, f"speech recognition unavailable: {exc}")
        except InferenceFailed as exc:
            self._report_error(ErrorCode.INFERENCE_FAILED, f"speech recognition failed: {exc}")
        return None

    def _context(self) -> str:
        """The last ``context_words`` words of the session's finals."""
        if not self._tuning.context_words:
            return ""
        words: list[str] = []
        for final in reversed(self.stats.finals):
            words[:0] = final.text.split()
            if len(words) >= self._tuning.context_words:
                break
        return " ".join(words[-self._tuning.context_words :])

    # --- plumbing ------------------------------------------------------------------------------

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _report_error(self, code: ErrorCode, message: str) -> None:
        now = time.monotonic()
        if now - self._last_error_at >= 1.0:
            self._last_error_at = now
            self._emit(ErrorMessage(code=code, message=message, recoverable=True))

    def _warn_lag(self, backlog_s: float) -> None:
        now = time.monotonic()
        if now - self._last_warning_at >= 5.0:
            self._last_warning_at = now
            self._emit(
                WarningMessage(
                    code=WarningCode.PROCESSING_LAG,
                    message=f"{backlog_s:.1f} s of received audio is waiting to be processed",
                )
            )


def _labelled_finals(
    final: TranscriptFinal, words: list[Word], parts: list[LabelledPart], offset_s: float
) -> list[TranscriptFinal]:
    """``final`` with speaker labels, split where the speaker changes (each word goes to the part
    holding its middle); without word times, whole with the label of its longest part."""
    if not words:
        longest = max(parts, key=lambda part: part.end - part.start)
        return [msgspec.structs.replace(final, speaker=longest.speaker)]
    runs: list[tuple[LabelledPart, list[Word]]] = []
    for word in words:
        middle = (word.start + word.end) / 2 - offset_s
        part = next((p for p in parts if middle < p.end), parts[-1])
        labelled_word = msgspec.structs.replace(word, speaker=part.speaker)
        if runs and runs[-1][0] is part:
            runs[-1][1].append(labelled_word)
        else:
            runs.append((part, [labelled_word]))
    keep_words = final.words is not None
    if len(runs) == 1:
        part, labelled = runs[0]
        return [msgspec.structs.replace(final, speaker=part.speaker, words=labelled if keep_words else None)]
    finals = []
    for index, (part, labelled) in enumerate(runs):
        start = final.start if index == 0 else min(round(offset_s + part.start, 3), labelled[0].start)
        end = final.end if index == len(runs) - 1 else max(round(offset_s + part.end, 3), labelled[-1].end)
        finals.append(
            TranscriptFinal(
                text=" ".join(word.word for word in labelled),
                start=start,
                end=end,
                confidence=round(sum(word.confidence for word in labelled) / len(labelled), 4),
                words=labelled if keep_words else None,
                speaker=part.speaker,
            )
        )
    return finals


async def _no_embeddings() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)
