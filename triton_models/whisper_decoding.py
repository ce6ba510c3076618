"""Batched short-window Whisper decoding (CTranslate2 through faster-whisper).

Whisper is trained on 30 s windows, but CTranslate2 encodes shorter ones: a window cut to the
longest request of a batch (plus a margin) costs a fraction of the full window, and one
``encode`` + one ``generate`` (+ one ``align`` for word times) serves the whole batch.
Short windows make greedy decoding loop under the usual ``<|notimestamps|>`` prompt, so the
prompt keeps timestamps on and timestamp tokens are dropped afterwards; an output-length cap
and a full-window retry (cap hit or repetitive text) are the safety net. The timestamp tokens
also mark Whisper's segments, returned with their words for long (batch) chunks.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_ctranslate2_storage, merge_punctuations

SAMPLE_RATE = 16000
FULL_WINDOW_S = 30.0
TIMESTAMP_STEP_S = 0.02
_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class DecodeRequest:
    """One utterance to transcribe: 16 kHz mono float32 audio and its options."""

    audio: np.ndarray
    word_timestamps: bool = False
    language: str | None = None
    final: bool = False
    """Finals are decoded with :attr:`DecoderOptions.final_beam_size`, partials greedily."""
    prompt: str = ""
    """Text said before this audio (e.g. the previous chunk's), given to Whisper as context."""
    prefix: str = ""
    """Text this audio's transcript must start with (e.g. the words a live partial already
    committed): forced as the decoder's first tokens, which the result keeps."""


@dataclass(frozen=True)
class _Retry:
    """How a decode that looped is tried again."""

    request: DecodeRequest
    window_s: float
    temperature: float


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class SegmentTiming:
    """One of Whisper's timestamp segments with its words (when word times were asked for).

    ``start``/``end`` are its first word's start and last word's end, or Whisper's timestamp
    tokens when there are no words; ``confidence`` is the mean of its words' probabilities, or
    the whole decode's when there are no words.
    """

    text: str
    start: float
    end: float
    confidence: float
    words: list[WordTiming] = field(default_factory=list)


@dataclass(frozen=True)
class Transcription:
    """Result for one request; times are seconds from the start of the request's audio."""

    text: str
    confidence: float
    language: str
    tokens: list[int] = field(default_factory=list, repr=False)
    words: list[WordTiming] = field(default_factory=list)
    segments: list[SegmentTiming] = field(default_factory=list)


@dataclass(frozen=True)
class DecoderOptions:
    window_margin_s: float = 2.0
    """Silence added after the longest request of a batch before encoding."""
    partial_beam_size: int = 1
    final_beam_size: int = 5
    max_tokens_per_second: float = 8.0
    """Output cap: Whisper emits ~3-4 text tokens per second of speech."""
    compression_ratio_threshold: float = 2.2
    no_speech_threshold: float = 0.85
    """Short windows inflate Whisper's no-speech probability (0.6-0.65 on clear speech, ~0.97 on silence)."""
    log_prob_threshold: float = -1.0
    length_ratio_per_group: float = 1.6
    """Requests are batched together only if the longest is at most this times the shortest (+1 s)."""
    max_prompt_tokens: int = 96
    """Tokens kept from the end of a request's prompt."""
    max_prefix_tokens: int = 120
    """Tokens kept from the start of a request's prefix."""
    max_continuations: int = 0
    """Times a decode that stopped before the end of its speech is continued (0: never). The live
    profiles set 2 in their config; ``batch_asr`` leaves it at 0: its pipeline continues a chunk
    from the VAD's speech regions (``pipelines/transcribe.py``), which know where speech is."""
    continuation_min_speech_s: float = 0.6
    """Speech-loud audio (20 ms frames within ``continuation_level_db`` of the decoded part's
    loudest) after the last segment that makes a decode continued: less is the padding, the tail of
    the last word, or a word cut at the edge of a partial's audio."""
    continuation_level_db: float = -25.0
    fallback_temperatures: tuple[float, ...] = ()
    """Sampling temperatures tried in turn (5 samples each, as faster-whisper does) when the full-window
    decode still loops (output cap hit or repetitive text); the first that does not is kept. Empty: none."""


class ShortWindowWhisper:
    """Transcribes batches of utterances with one encoder pass per length group."""

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        options: DecoderOptions | None = None,
    ) -> None:
        self._model = WhisperModel(str(model_path), device=device, compute_type=compute_type, cpu_threads=cpu_threads)
        self._options = options or DecoderOptions()
        self.is_multilingual = self._model.model.is_multilingual

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcription]:
        """Transcribe every request; results come back in request order.

        A decode that ends while speech goes on (Whisper closes its last segment and stops: after a
        forced prefix that ends a sentence, or in a long chunk) is continued over the same encoder
        output: forced to open a new segment where the last one closed, as Whisper does between the
        segments of a window (no second encoder pass).
        """
        return self._decode_groups(requests)

    def _decode_groups(self, requests: Sequence[DecodeRequest]) -> list[Transcription]:
        results: list[Transcription | None] = [None] * len(requests)
        for group in _group_requests(requests, self._options.length_ratio_per_group):
            window_s = min(
                FULL_WINDOW_S,
                max(len(requests[i].audio) for i in group) / SAMPLE_RATE + self._options.window_margin_s,
            )
            for index, result in zip(group, self._decode(window_s, [requests[i] for i in group])):
                results[index] = result
        return [r for r in results if r is not None]

    def _stopped_early(self, request: DecodeRequest, segments: list[_TokenSegment]) -> bool:
        """A final, or a decode forced to start with a prefix, with at least
        ``continuation_min_speech_s`` of speech-loud audio after its last segment. A plain partial
        is not continued: the next one, a moment later, decodes the whole utterance again."""
        if not segments or not (request.final or request.prefix.strip()):
            return False
        levels = _frame_levels_db(request.audio)
        cut = int(segments[-1].end * SAMPLE_RATE) // _LEVEL_FRAME_SAMPLES
        if cut == 0 or cut >= len(levels):
            return False
        loud = levels[cut:] >= levels[:cut].max() + self._options.continuation_level_db
        return int(loud.sum()) * _LEVEL_FRAME_SAMPLES >= self._options.continuation_min_speech_s * SAMPLE_RATE

    def _generate(
        self, encoder_output, prompts: list[list[int]], final: bool, max_new_tokens: int, temperature: float = 0.0
    ) -> list:
        sampling = {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0, "sampling_temperature": temperature}
        return self._model.model.generate(
            encoder_output,
            prompts,
            **(
                sampling
                if temperature
                else {"beam_size": self._options.final_beam_size if final else self._options.partial_beam_size}
            ),
            max_length=max(len(p) for p in prompts) + max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )

    def _continue_stopped(
        self,
        requests: list[DecodeRequest],
        tokenizers: list[Tokenizer],
        durations_s: list[float],
        heads: list[list[int]],
        encoder_output,
        sequences: list[list[int]],
        scores: list[float],
        max_new_tokens: list[int],
    ) -> None:
        """Continue, in place, the sequences that stopped while speech goes on (see :meth:`transcribe_batch`).

        Whisper may close a forced prefix at a timestamp well before its audio ends; the continuation
        then hears it again. Words of a continuation that repeat the text before it are dropped
        (:func:`_without_rehearing`), and that sequence is not continued again.
        """
        reheard: set[int] = set()
        for _ in range(self._options.max_continuations):
            pending = [
                i
                for i, sequence in enumerate(sequences)
                if i not in reheard
                and sequence
                and sequence[-1] >= tokenizers[i].timestamp_begin
                and len(sequence) < max_new_tokens[i]
                and self._stopped_early(requests[i], _split_segments(sequence, tokenizers[i], durations_s[i]))
            ]
            if not pending:
                return
            forced = [[*sequences[i], sequences[i][-1]] for i in pending]
            continued = self._generate(
                _select(encoder_output, pending),
                [heads[i] + tokens for i, tokens in zip(pending, forced)],
                requests[0].final,
                max(max_new_tokens[i] for i in pending),
            )
            for i, tokens, result in zip(pending, forced, continued):
                continuation, repeated = _without_rehearing(tokenizers[i], result.sequences_ids[0], len(tokens))
                if repeated:
                    reheard.add(i)
                    if len(continuation) == len(tokens):
                        continue
                before, added = len(sequences[i]), len(continuation) - len(tokens)
                scores[i] = float(np.average([scores[i], result.scores[0]], weights=[max(1, before), max(1, added)]))
                sequences[i] = continuation

    def _decode(self, window_s: float, requests: list[DecodeRequest], temperature: float = 0.0) -> list[Transcription]:
        window_samples = int(window_s * SAMPLE_RATE)
        audios = [r.audio[:window_samples] for r in requests]
        padded = np.stack([np.pad(a, (0, window_samples - len(a))) for a in audios]).astype(np.float32)
        features = np.stack([self._model.feature_extractor(p, padding=0) for p in padded])
        # Kept host-side so that word alignment can pick batch items on any device.
        encoder_output = self._model.model.encode(get_ctranslate2_storage(features), to_cpu=True)
        languages = self._languages(requests, encoder_output)
        tokenizers = [self._tokenizer(language) for language in languages]
        durations_s = [len(a) / SAMPLE_RATE for a in audios]
        max_new_tokens = [min(220, int(d * self._options.max_tokens_per_second) + 8) for d in durations_s]
        heads = self._prompt_heads(requests, tokenizers)
        prefixes = [self._prefix_tokens(r, t) for r, t in zip(requests, tokenizers)]
        generated = self._generate(
            encoder_output,
            [head + prefix for head, prefix in zip(heads, prefixes)],
            requests[0].final,
            max(max_new_tokens),
            temperature,
        )
        too_long = [len(result.sequences_ids[0]) >= cap for result, cap in zip(generated, max_new_tokens)]
        # Forced to start with a prefix that is the whole utterance, Whisper may hear it again after it.
        sequences = [
            _without_rehearing(t, result.sequences_ids[0], len(prefix))[0]
            for result, prefix, t in zip(generated, prefixes, tokenizers)
        ]
        scores = [float(result.scores[0]) for result in generated]
        self._continue_stopped(
            requests, tokenizers, durations_s, heads, encoder_output, sequences, scores, max_new_tokens
        )
        results: list[Transcription] = []
        aligned: list[int] = []
        segments: list[list[_TokenSegment]] = []
        retried: set[int] = set()
        for i, (request, tokenizer, result) in enumerate(zip(requests, tokenizers, generated)):
            segments.append(_split_segments(sequences[i], tokenizer, durations_s[i]))
            text_tokens = [token for segment in segments[-1] for token in segment.tokens]
            text = tokenizer.decode(text_tokens).strip()
            looped = too_long[i] or _compression_ratio(text) > self._options.compression_ratio_threshold
            if looped and (retry := self._retry(request, window_s, temperature)) is not None:
                results.append(self._decode(retry.window_s, [retry.request], retry.temperature)[0])
                retried.add(i)
                continue
            avg_log_prob = scores[i]
            if (
                result.no_speech_prob > self._options.no_speech_threshold
                and avg_log_prob < self._options.log_prob_threshold
            ):
                text, text_tokens, segments[-1] = "", [], []
            if request.word_timestamps and text_tokens:
                aligned.append(i)
            results.append(
                Transcription(
                    text=text,
                    confidence=float(np.exp(avg_log_prob)) if text else 0.0,
                    language=languages[i],
                    tokens=text_tokens,
                )
            )
        timings: dict[int, list[tuple[int, WordTiming]]] = {}
        if aligned:
            aligned_timings = self._word_timings(
                tokenizers[aligned[0]],
                [results[i].tokens for i in aligned],
                _select(encoder_output, aligned),
                [durations_s[i] for i in aligned],
            )
            timings = dict(zip(aligned, aligned_timings))
        for i, result in enumerate(results):
            if i in retried or not result.text:
                continue
            result.words.extend(word for _, word in timings.get(i, []))
            result.segments.extend(_timed_segments(segments[i], tokenizers[i], timings.get(i, []), result.confidence))
        return results

    def _retry(self, request: DecodeRequest, window_s: float, temperature: float) -> _Retry | None:
        """The next try of a decode that looped (``None``: no more tries). A prompted one is first heard
        again without its prompt (the text before can be what Whisper repeats; faster-whisper also stops
        conditioning on text once a window needs sampling); then in the full window, then at each of
        :attr:`DecoderOptions.fallback_temperatures` above ``temperature``."""
        if request.prompt.strip():
            return _Retry(replace(request, prompt=""), window_s, temperature)
        if window_s < FULL_WINDOW_S:
            return _Retry(request, FULL_WINDOW_S, 0.0)
        higher = next((t for t in self._options.fallback_temperatures if t > temperature), None)
        return None if higher is None else _Retry(request, FULL_WINDOW_S, higher)

    def _prompt_heads(self, requests: list[DecodeRequest], tokenizers: list[Tokenizer]) -> list[list[int]]:
        """Start-of-transcript sequences, after the requests' prompts cut to one common length
        (CTranslate2 needs ``<|startoftranscript|>`` at the same position in the whole batch); each
        request's prefix follows (any length: CTranslate2 forces each item's own tokens)."""
        previous = [
            t.encode(" " + r.prompt.strip())[-self._options.max_prompt_tokens :] if r.prompt.strip() else []
            for r, t in zip(requests, tokenizers)
        ]
        length = min(len(p) for p in previous)
        return [
            ([t.sot_prev, *p[len(p) - length :]] if length else []) + list(t.sot_sequence)
            for p, t in zip(previous, tokenizers)
        ]

    def _prefix_tokens(self, request: DecodeRequest, tokenizer: Tokenizer) -> list[int]:
        """The prefix after the first timestamp token (timestamps stay on; see the module docstring)."""
        if not request.prefix.strip():
            return []
        tokens = tokenizer.encode(" " + request.prefix.strip())[: self._options.max_prefix_tokens]
        return [tokenizer.timestamp_begin, *tokens]

    def _word_timings(
        self,
        tokenizer: Tokenizer,
        text_tokens: list[list[int]],
        encoder_output,
        durations_s: list[float],
    ) -> list[list[tuple[int, WordTiming]]]:
        num_frames = [int(d * self._model.frames_per_second) for d in durations_s]
        alignments = self._model.find_alignment(tokenizer, text_tokens, encoder_output, num_frames)
        return [_word_list(alignment, duration_s) for alignment, duration_s in zip(alignments, durations_s)]

    def _languages(self, requests: list[DecodeRequest], encoder_output) -> list[str]:
        if not self.is_multilingual:
            return ["en"] * len(requests)
        detected = None
        languages = []
        for i, request in enumerate(requests):
            if request.language and request.language != "auto":
                languages.append(request.language)
                continue
            if detected is None:
                detected = self._model.model.detect_language(encoder_output)
            languages.append(detected[i][0][0][2:-2])
        return languages

    def _tokenizer(self, language: str) -> Tokenizer:
        return Tokenizer(
            self._model.hf_tokenizer,
            self.is_multilingual,
            task="transcribe",
            language=language if self.is_multilingual else "en",
        )


def _group_requests(requests: Sequence[DecodeRequest], ratio: float) -> list[list[int]]:
    """Indices grouped by kind (final or partial; with a prompt or not), then so that padding a
    short request to a long one stays cheap."""

    def kind(request: DecodeRequest) -> tuple[bool, bool]:
        return request.final, bool(request.prompt.strip())

    order = sorted(range(len(requests)), key=lambda i: (kind(requests[i]), len(requests[i].audio)))
    groups: list[list[int]] = []
    for index in order:
        length_s = len(requests[index].audio) / SAMPLE_RATE
        if groups and kind(requests[groups[-1][0]]) == kind(requests[index]):
            shortest_s = len(requests[groups[-1][0]].audio) / SAMPLE_RATE
            if length_s <= shortest_s * ratio + 1.0:
                groups[-1].append(index)
                continue
        groups.append([index])
    return groups


REHEARD_MIN_WORDS = 3
"""A continuation re-hears the text before it when at least this many of its first words repeat it."""


def _words(tokenizer: Tokenizer, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
    """The words of ``tokens``' text tokens (timestamps left out), normalised, with their tokens."""
    words, word_tokens = tokenizer.split_to_word_tokens([t for t in tokens if t < tokenizer.eot])
    kept = [(w, t) for w, t in zip(words, word_tokens) if w.strip()]
    return ["".join(c for c in w.lower() if c.isalnum() or c == "'") for w, _ in kept], [t for _, t in kept]


def _without_rehearing(tokenizer: Tokenizer, sequence: list[int], start: int) -> tuple[list[int], bool]:
    """``sequence`` without the first words after ``start`` that hear the text before it again, and
    whether there were any: the words up to the last one matched, when the matches start within
    the first two words after ``start`` and at least :data:`REHEARD_MIN_WORDS` and most of those
    words are matched (timestamp tokens are kept)."""
    if not start:  # nothing forced before: nothing to hear again (every plain partial and batch chunk)
        return sequence, False
    previous, _ = _words(tokenizer, sequence[:start])
    added, word_tokens = _words(tokenizer, sequence[start:])
    blocks = [b for b in SequenceMatcher(None, previous, added, autojunk=False).get_matching_blocks() if b.size]
    if not blocks or blocks[0].b > 1:
        return sequence, False
    count = blocks[-1].b + blocks[-1].size
    if sum(block.size for block in blocks) < max(REHEARD_MIN_WORDS, 0.6 * count):
        return sequence, False
    dropped = sum(len(tokens) for tokens in word_tokens[:count])
    kept = list(sequence[:start])
    for token in sequence[start:]:
        if token < tokenizer.eot and dropped:
            dropped -= 1
            continue
        kept.append(token)
    return kept, True


@dataclass(frozen=True)
class _TokenSegment:
    start: float
    end: float
    tokens: list[int]


def _split_segments(tokens: list[int], tokenizer: Tokenizer, duration_s: float) -> list[_TokenSegment]:
    """Whisper's segments (text tokens between timestamp tokens) that start inside the audio.

    Timestamps stay on in the prompt, so Whisper marks segments; one that starts at or after the
    end of the request's audio was invented over the padding silence and is dropped.
    """
    segments: list[_TokenSegment] = []
    start_s: float | None = None
    current: list[int] = []
    for token in tokens:
        if token >= tokenizer.timestamp_begin:
            time_s = (token - tokenizer.timestamp_begin) * TIMESTAMP_STEP_S
            if current:
                segments.append(_TokenSegment(start_s or 0.0, min(max(time_s, start_s or 0.0), duration_s), current))
                current, start_s = [], None
            elif time_s >= duration_s:
                break
            else:
                start_s = time_s
        elif token < tokenizer.eot:
            if start_s is None:
                start_s = segments[-1].end if segments else 0.0
            current.append(token)
    if current:
        segments.append(_TokenSegment(start_s or 0.0, duration_s, current))
    return segments


def _timed_segments(
    segments: list[_TokenSegment],
    tokenizer: Tokenizer,
    words: list[tuple[int, WordTiming]],
    confidence: float,
) -> list[SegmentTiming]:
    """Segments with the words whose first token lies in them (``words`` carry that token index)."""
    timed: list[SegmentTiming] = []
    first_token = 0
    for segment in segments:
        end_token = first_token + len(segment.tokens)
        own = [word for index, word in words if first_token <= index < end_token]
        first_token = end_token
        text = tokenizer.decode(segment.tokens).strip()
        if not text:
            continue
        timed.append(
            SegmentTiming(
                text=text,
                start=own[0].start if own else round(segment.start, 3),
                end=own[-1].end if own else round(segment.end, 3),
                confidence=round(float(np.mean([w.confidence for w in own])), 4) if own else confidence,
                words=own,
            )
        )
    return timed


_LEVEL_FRAME_SAMPLES = 320


def _frame_levels_db(audio: np.ndarray) -> np.ndarray:
    """Level of each 20 ms frame (dB full scale; -120 for silence)."""
    frames = len(audio) // _LEVEL_FRAME_SAMPLES
    energy = (audio[: frames * _LEVEL_FRAME_SAMPLES].reshape(frames, _LEVEL_FRAME_SAMPLES) ** 2).mean(axis=1)
    return 10 * np.log10(energy + 1e-12)


def _compression_ratio(text: str) -> float:
    if not text:
        return 0.0
    data = text.encode()
    return len(data) / len(zlib.compress(data))


def _select(encoder_output, indices: list[int]):
    """Some batch items of a (host-side) CTranslate2 encoder output."""
    if len(indices) == encoder_output.shape[0]:
        return encoder_output
    return get_ctranslate2_storage(np.ascontiguousarray(np.asarray(encoder_output)[indices]))


def _word_list(alignment: list[dict], duration_s: float) -> list[tuple[int, WordTiming]]:
    """Words of one alignment, clamped to be monotonic and inside the audio, each with the index
    of its first token among the text tokens."""
    merge_punctuations(alignment, _PREPEND_PUNCTUATIONS, _APPEND_PUNCTUATIONS)
    words: list[tuple[int, WordTiming]] = []
    previous_end = 0.0
    token_index = 0
    for timing in alignment:
        first_token, token_index = token_index, token_index + len(timing["tokens"])
        if not timing["word"].strip():
            continue
        start = min(max(float(timing["start"]), previous_end), duration_s)
        end = min(max(float(timing["end"]), start), duration_s)
        words.append(
            (
                first_token,
                WordTiming(
                    word=timing["word"].strip(),
                    start=round(start, 3),
                    end=round(end, 3),
                    confidence=round(float(timing["probability"]), 4),
                ),
            )
        )
        previous_end = end
    return words
