"""Batch transcription of a recording: speech regions → chunks at pauses → ``batch_asr``.

``previous`` (the default) sends a job's chunks one after another, each with the text of the chunks
before it as Whisper's prompt (``batch_asr`` keeps the last 223 tokens, faster-whisper's limit), as
plain faster-whisper conditions each 30 s window on the text before it. ``none`` sends every chunk at
once, so the chunks of this job (and of the other running jobs) meet in Triton's dynamic batcher and
are decoded together without a prompt; ``waves`` sends the even chunks at once, then the odd ones, each
prompted by the chunk before it. Prompted chunks of concurrent jobs still meet in the batcher (with
their prompts cut to the shortest one's length, a CTranslate2 limit).

Measured on real speech (``python -m benchmarks.chunk_prompt --audio real``, 10 recordings with text,
base, 7 Dec): without a prompt the job is worse than plain faster-whisper on 2 to 4 of 10, most on three
minutes of one voice in crowd babble (12.2-12.9 % WER vs plain's 8.3-10.2 %: the words the prompt
primes, "pound key", "tone"); with the text before each chunk 8.0 % there, and never worse than plain.
Prompted by the previous chunk's text alone (96 tokens, the former ``use_prompt``) that recording stayed
2 words behind plain (10.7 %); ``waves``: 2 words. The whole job (``benchmarks/stage_cpu.py``, diarized,
plain faster-whisper alone after it, 2 cores, nothing else running) took 0.76-0.98x plain's time with
``previous`` on six recordings; ``none`` was as fast or faster, most on a 10-minute espeak session
(0.77x: its batched chunks use 20 % less ``batch_asr`` CPU than the prompted ones there) (README, "Real
human speech").

Prompted, Whisper marks few segments in a chunk (often one of 15-29 s: faster-whisper's own prompt
carries the timestamp tokens of the text before, this one does not), so prompted chunks' segments are
cut after each word that ends a sentence (:func:`_sentences`).

Each chunk carries up to a second of the pause around it (the VAD can miss a soft first word).
A chunk Whisper stopped hearing early is continued from a few seconds before its last word, with
the text so far as the prompt: cold, a rest of noise came back as invented words, and the words it
hears again are dropped.

Whisper's cross-attention places a word that follows a pause 100-250 ms late (tiny.en on espeak
speech); the VAD hears the onset within one 32 ms window, so the first word of each speech region
starts at the region's onset.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import partial

import numpy as np

from core.audio.signal_file import Signal
from core.inference import ChunkTranscript, InferenceClient
from core.settings import BatchPromptMode
from pipelines.chunking import plan_chunks
from pipelines.job_state import SAMPLE_RATE, AsrSegment, AsrWord, SpeechRegion
from pipelines.speech_regions import TRANSCRIPTION_REGIONS, search_speech

MAX_CHUNK_S = 30.0
CHUNK_MARGIN_S = 1.0
"""Audio sent on each side of a chunk's speech (into the pause, at most half of it, and within
:data:`MAX_CHUNK_S`): the VAD can miss a soft first word (on a real telephone call it cut "and
mister" off the start of a turn, 0.45 s before the region)."""
ONSET_SNAP_S = 0.5
"""A region's first word is moved to the region's onset only if it starts this close to it."""
MAX_CONTINUATIONS = 2
CONTINUATION_CONTEXT_S = 3.0
"""Heard audio sent again before the unheard rest of a chunk, with the text heard so far as the prompt.
Decoded alone, a rest of noise came back as invented words ("Go! Go! Go! Go!"); with its context
Whisper hears the last words again (dropped) and then what is new, if anything."""
CONTINUATION_PROMPT_WORDS = 70
"""Words of the text heard before a continuation given as its prompt (about the 96 tokens ``batch_asr``
kept of any prompt before chunks were prompted too): with 223 tokens of an espeak meeting's text, base
skipped the context audio and wrote the chunk's last sentence twice."""
CONTEXT_TAIL_WORDS = 3
"""A continuation that hears its context's last this many words in a row heard the context again."""
SENTENCE_END = re.compile(r"[.?!。？！]['\"”’)]*$")
NOT_SENTENCE_ENDS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "no.", "e.g.", "i.e.", "etc."})
"""Words ending with a full stop that do not end a sentence (``Mr. Dashwood``)."""
MIN_UNHEARD_SPEECH_S = 1.0
MIN_UNHEARD_REGION_S = 0.25

MAX_PROMPTED_WORD_S = 2.0
"""A chunk decoded with the text before it as the prompt that times a word longer than this over audio
the VAD calls speech (:data:`PASSED_OVER_SPEECH_SHARE`) passed over speech, and is decoded again without
the prompt: where the audio says again what the prompt ends with (an espeak meeting repeats a line at a
chunk's start), Whisper skips it and word alignment stretches the next word over it (2.8-5.9 s, 92-100 %
speech, on two of twelve espeak meetings; the line lost). Continuations are left alone (their words are
stretched over the context audio by design, :func:`_new_words`)."""
PASSED_OVER_SPEECH_SHARE = 0.8
"""Share of a stretched word's span in speech regions that makes it speech passed over. A long word over
a pause is alignment, not a skip: "Kenwood" (2.8 s, 66 % speech) on an off-air radio recording, and a
word of a telephone call (2.7 s) whose decode again without the prompt cost 1.3 s and a word."""
PROMPT_MAX_CHARS = 4000
"""Characters of the text before a chunk sent as its prompt: more than the model keeps (223 tokens),
without sending a long recording's whole transcript with each chunk."""


@dataclass(frozen=True)
class _Decode:
    """One ``batch_asr`` request of a job: a span of the file, its prompt, and from when its words are kept."""

    start_s: float
    end_s: float
    prompt: str = ""
    keep_after_s: float = 0.0
    """Where an earlier decode of the same chunk stopped (0: nothing heard before)."""
    context_words: tuple[str, ...] = ()
    """The words that decode heard in this span's audio before ``keep_after_s`` (normalized)."""


async def transcribe_audio(
    audio: Signal,
    inference: InferenceClient,
    *,
    language: str,
    prompt_mode: BatchPromptMode = BatchPromptMode.PREVIOUS,
    speech_regions: list[SpeechRegion] | None = None,
) -> list[AsrSegment]:
    """Whisper's segments of 16 kHz mono float32 ``audio`` with word times, in seconds from its start.

    ``speech_regions`` are found with the ``vad`` model when not given (as a job finds them). Whisper sometimes ends a
    chunk early; speech left after a chunk's last word is sent again (at most
    :data:`MAX_CONTINUATIONS` times) with :data:`CONTINUATION_CONTEXT_S` of what was heard before it.
    """
    if speech_regions is None:
        speech_regions = (await search_speech(audio, inference)).transcription_regions()
    duration_s = len(audio) / SAMPLE_RATE
    chunks = _with_margins(plan_chunks(speech_regions, duration_s, MAX_CHUNK_S), duration_s)
    decodes = [_Decode(start_s, end_s) for start_s, end_s in chunks]
    segments: list[AsrSegment] = []
    for _ in range(1 + MAX_CONTINUATIONS):
        transcripts = await _transcribe_spans(
            audio, decodes, inference, language=language, prompt_mode=prompt_mode, speech_regions=speech_regions
        )
        continuations = []
        for decode, transcript in zip(decodes, transcripts):
            heard = _new_words(
                [_file_segment(s, decode.start_s, decode.end_s, transcript.language) for s in transcript.segments],
                decode,
            )
            segments.extend(heard)
            heard_until_s = _unheard_rest((decode.start_s, decode.end_s), heard, speech_regions)
            if heard_until_s is not None:
                said_before = sorted((s for s in segments if s.start < heard_until_s), key=lambda s: s.start)
                prompt = " ".join(" ".join(s.text for s in said_before).split()[-CONTINUATION_PROMPT_WORDS:])
                context_start_s = max(decode.start_s, heard_until_s - CONTINUATION_CONTEXT_S)
                context_words = tuple(
                    _normalized(w.word)
                    for s in said_before
                    for w in s.words
                    if context_start_s <= (w.start + w.end) / 2 <= heard_until_s
                )
                continuations.append(_Decode(context_start_s, decode.end_s, prompt, heard_until_s, context_words))
        decodes = continuations
        if not decodes:
            break
    if prompt_mode != BatchPromptMode.NONE:
        segments = [sentence for segment in segments for sentence in _sentences(segment)]
    segments.sort(key=lambda segment: segment.start)
    pad_s = TRANSCRIPTION_REGIONS.speech_pad_s
    return _words_to_offsets(_words_from_onsets(segments, speech_regions, pad_s), speech_regions, pad_s)


def _with_margins(chunks: list[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    """Each chunk widened by up to :data:`CHUNK_MARGIN_S` on each side: into the audio's edges, at most
    half of the pause to a neighbour, and only as far as :data:`MAX_CHUNK_S` allows (split evenly)."""
    widened = []
    for i, (start_s, end_s) in enumerate(chunks):
        room_before = start_s - (chunks[i - 1][1] + start_s) / 2 if i else start_s
        room_after = ((end_s + chunks[i + 1][0]) / 2 if i + 1 < len(chunks) else duration_s) - end_s
        allowed = max(0.0, MAX_CHUNK_S - (end_s - start_s))
        before = min(CHUNK_MARGIN_S, max(0.0, room_before), allowed / 2)
        after = min(CHUNK_MARGIN_S, max(0.0, room_after), allowed - before)
        widened.append((start_s - before, end_s + after))
    return widened


async def _transcribe_spans(
    audio: Signal,
    decodes: list[_Decode],
    inference: InferenceClient,
    *,
    language: str,
    prompt_mode: BatchPromptMode,
    speech_regions: list[SpeechRegion],
) -> list[ChunkTranscript]:
    """Continuations carry their own prompt; the others get one as ``prompt_mode`` says (and are decoded
    again without it when they passed over speech: :data:`MAX_PROMPTED_WORD_S`).
    Each chunk's audio is read only when its request may go (the job's signal is not held whole)."""
    pieces = [partial(_span, audio, d) for d in decodes]

    async def decoded(i: int, prompt: str) -> ChunkTranscript:
        transcript = await inference.transcribe_chunk(pieces[i], language=language, prompt=prompt)
        if prompt and not decodes[i].prompt and _passed_over_speech(transcript, decodes[i].start_s, speech_regions):
            transcript = await inference.transcribe_chunk(pieces[i], language=language, prompt="")
        return transcript

    async def wave(indices: list[int], prompts: dict[int, str]) -> None:
        results = await asyncio.gather(*(decoded(i, decodes[i].prompt or prompts.get(i, "")) for i in indices))
        transcripts.update(zip(indices, results))

    def text_of(i: int) -> str:
        return " ".join(s.text for s in transcripts[i].segments)

    transcripts: dict[int, ChunkTranscript] = {}
    if own := [i for i, d in enumerate(decodes) if d.prompt]:  # continuations: all at once
        await wave(own, {})
    rest = [i for i, d in enumerate(decodes) if not d.prompt]
    if prompt_mode == BatchPromptMode.PREVIOUS:
        for i in rest:
            await wave([i], {i: _prompt_tail(" ".join(text_of(j) for j in range(i)))})
    elif prompt_mode == BatchPromptMode.WAVES:
        await wave(rest[::2], {})
        await wave(rest[1::2], {i: text_of(i - 1) for i in rest[1::2]})
    else:
        await wave(rest, {})
    return [transcripts[i] for i in range(len(decodes))]


def _passed_over_speech(transcript: ChunkTranscript, start_s: float, speech_regions: list[SpeechRegion]) -> bool:
    """Whether a word of ``transcript`` (a chunk from ``start_s``) is timed longer than
    :data:`MAX_PROMPTED_WORD_S` over audio that is mostly speech (:data:`PASSED_OVER_SPEECH_SHARE`)."""
    return any(
        word.end - word.start > MAX_PROMPTED_WORD_S
        and _speech_s(start_s + word.start, start_s + word.end, speech_regions)
        >= PASSED_OVER_SPEECH_SHARE * (word.end - word.start)
        for segment in transcript.segments
        for word in segment.words
    )


def _speech_s(start_s: float, end_s: float, speech_regions: list[SpeechRegion]) -> float:
    """Seconds of ``speech_regions`` between ``start_s`` and ``end_s``."""
    return sum(max(0.0, min(end_s, r.end) - max(start_s, r.start)) for r in speech_regions)


def _prompt_tail(text: str) -> str:
    """The end of ``text``, at most :data:`PROMPT_MAX_CHARS` long, from a word's start."""
    if len(text) <= PROMPT_MAX_CHARS:
        return text
    tail = text[-PROMPT_MAX_CHARS:]
    return tail[tail.find(" ") + 1 :] if " " in tail else tail


def _span(audio: Signal, decode: _Decode) -> np.ndarray:
    return audio[round(decode.start_s * SAMPLE_RATE) : round(decode.end_s * SAMPLE_RATE)]


def _new_words(segments: list[AsrSegment], decode: _Decode) -> list[AsrSegment]:
    """A continuation's ``segments`` without the words heard again in its context audio.

    Whisper either hears the context again (its words, matched by text, are dropped) or, having it
    in the prompt, goes straight to what is new: then word alignment stretches the new words back
    over the context audio, and they are moved after ``keep_after_s`` (keeping their order and shares).
    """
    if decode.keep_after_s <= 0:
        return segments
    words = [w for s in segments for w in s.words]
    reheard = _reheard_count([_normalized(w.word) for w in words], decode.context_words)
    if reheard is None and words and words[0].start < decode.keep_after_s < words[-1].end:
        words = _squeezed_after(words, decode.keep_after_s)
    elif reheard is None:
        reheard = sum((w.start + w.end) / 2 <= decode.keep_after_s for w in words)
    kept, index = [], 0
    for segment in segments:
        new = [w for i, w in enumerate(words[index : index + len(segment.words)], start=index) if i >= (reheard or 0)]
        index += len(segment.words)
        if new:
            text = segment.text if len(new) == len(segment.words) else " ".join(w.word for w in new)
            kept.append(replace(segment, start=new[0].start, end=max(segment.end, new[-1].end), text=text, words=new))
    return kept


def _reheard_count(words: list[str], context_words: tuple[str, ...]) -> int | None:
    """How many of ``words`` repeat ``context_words``: up to the match of the context's end (its last
    word may be heard differently); ``None`` unless at least half of the context (2 words) is matched,
    or the context's last :data:`CONTEXT_TAIL_WORDS` words are heard in a row (Whisper sometimes runs
    on from the prompt over the context audio, then hears the context's end and what follows again:
    everything up to that tail goes)."""
    matcher = SequenceMatcher(None, context_words, words, autojunk=False)
    blocks = [block for block in matcher.get_matching_blocks() if block.size]
    if sum(block.size for block in blocks) < max(2, len(context_words) / 2):
        tail = context_words[-CONTEXT_TAIL_WORDS:]
        if len(tail) == CONTEXT_TAIL_WORDS:
            for index in range(len(words) - CONTEXT_TAIL_WORDS + 1):
                if tuple(words[index : index + CONTEXT_TAIL_WORDS]) == tail:
                    return index + CONTEXT_TAIL_WORDS
        return None
    ends = [b + size + len(context_words) - (a + size) for a, b, size in blocks if a + size >= len(context_words) - 1]
    return min(ends[-1], len(words)) if ends else None


def _sentences(segment: AsrSegment) -> list[AsrSegment]:
    """``segment`` cut after each word that ends a sentence. Prompted with the text before it, Whisper
    marks few segments in a chunk (often one of 15-27 s on real speech; plain faster-whisper's prompt
    carries the timestamp tokens of the text before, this one does not): a job's segments stay sentences."""
    pieces: list[list[AsrWord]] = [[]]
    for i, word in enumerate(segment.words):
        pieces[-1].append(word)
        text = word.word.strip()
        if i + 1 < len(segment.words) and SENTENCE_END.search(text) and text.lower() not in NOT_SENTENCE_ENDS:
            pieces.append([])
    if len(pieces) == 1:
        return [segment]
    texts = _cut_text(segment.text, pieces)
    return [
        replace(
            segment,
            start=segment.start if k == 0 else words[0].start,
            end=words[-1].end if k + 1 < len(pieces) else max(segment.end, words[-1].end),
            text=text,
            confidence=float(np.mean([w.confidence for w in words])),
            words=words,
        )
        for k, (words, text) in enumerate(zip(pieces, texts))
    ]


def _cut_text(text: str, pieces: list[list[AsrWord]]) -> list[str]:
    """``text`` cut after each piece's last word, as Whisper wrote it ("80%", not the words' "80 %"); the
    pieces' words joined by spaces when they are not found in ``text`` in order."""
    cuts, position = [0], 0
    for words in pieces[:-1]:
        for word in words:
            found = text.find(word.word.strip(), position)
            if found < 0:
                return [" ".join(w.word.strip() for w in piece) for piece in pieces]
            position = found + len(word.word.strip())
        cuts.append(position)
    cuts.append(len(text))
    return [text[start:end].strip() for start, end in zip(cuts, cuts[1:])]


def _squeezed_after(words: list[AsrWord], after_s: float) -> list[AsrWord]:
    """``words`` moved linearly from ``[first start, last end]`` into ``[after_s, last end]``."""
    first_s, last_s = words[0].start, words[-1].end
    scale = (last_s - after_s) / (last_s - first_s)

    def at(time_s: float) -> float:
        return round(after_s + (time_s - first_s) * scale, 3)

    return [AsrWord(w.word, at(w.start), at(w.end), w.confidence) for w in words]


def _normalized(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _unheard_rest(span: tuple[float, float], segments: list[AsrSegment], regions: list[SpeechRegion]) -> float | None:
    """The end of the last word heard in ``span`` when at least :data:`MIN_UNHEARD_SPEECH_S` of speech
    lies after it (``None`` when nothing at all was heard: silence or noise, not an early stop)."""
    words = [w for s in segments for w in s.words]
    if not segments:
        return None
    heard_until_s = max(words[-1].end if words else 0.0, segments[-1].end)
    overlaps = [  # a heard word's end running a little past Whisper's last time is not unheard speech
        (max(r.start, heard_until_s), min(r.end, span[1]))
        for r in regions
        if min(r.end, span[1]) - max(r.start, heard_until_s) >= MIN_UNHEARD_REGION_S
    ]
    if sum(end - start for start, end in overlaps) < MIN_UNHEARD_SPEECH_S:
        return None
    return heard_until_s


def _words_from_onsets(
    segments: list[AsrSegment], regions: list[SpeechRegion], speech_pad_s: float
) -> list[AsrSegment]:
    """The first word of each speech region starts at the region's onset (its start less padding), when
    it starts near it or in the pause before it (base's alignment stretched a word over a 1.2 s pause)."""
    ordered = sorted(regions, key=lambda r: r.start)
    onsets = [min(r.start + (speech_pad_s if r.start > 0 else 0.0), r.end) for r in ordered]
    pause_starts = [0.0] + [r.end for r in ordered[:-1]]
    words = [(i, j, w) for i, s in enumerate(segments) for j, w in enumerate(s.words)]
    first_words: dict[tuple[int, int], float] = {}
    k = 0
    for onset, pause_start in zip(onsets, pause_starts):
        while k < len(words) and words[k][2].end <= onset:
            k += 1
        if k < len(words) and (
            abs(words[k][2].start - onset) <= ONSET_SNAP_S or pause_start <= words[k][2].start < onset
        ):
            i, j, word = words[k]
            previous_end = words[k - 1][2].end if k else 0.0
            first_words[(i, j)] = round(min(max(onset, previous_end), word.end), 3)
    snapped = []
    for i, segment in enumerate(segments):
        new_words = [
            AsrWord(w.word, first_words.get((i, j), w.start), w.end, w.confidence) for j, w in enumerate(segment.words)
        ]
        start = new_words[0].start if new_words else segment.start
        snapped.append(replace(segment, start=start, words=new_words))
    return snapped


def _words_to_offsets(segments: list[AsrSegment], regions: list[SpeechRegion], speech_pad_s: float) -> list[AsrSegment]:
    """The last word of each speech region ends at the region's offset (its end less padding) when it
    ends up to :data:`ONSET_SNAP_S` before it: base ends a word before a pause 0.1-0.25 s early, more than
    tiny.en, which cost a real call's job 1-2 points of DER (speech missed at each turn's end)."""
    words = [(i, j, w) for i, s in enumerate(segments) for j, w in enumerate(s.words)]
    last_words: dict[tuple[int, int], float] = {}
    for region in regions:
        offset = max(region.start, region.end - speech_pad_s)
        inside = [k for k, (_, _, w) in enumerate(words) if region.start <= (w.start + w.end) / 2 < region.end]
        if not inside:
            continue
        k = inside[-1]
        i, j, word = words[k]
        next_start = words[k + 1][2].start if k + 1 < len(words) else offset
        if 0 < offset - word.end <= ONSET_SNAP_S:
            last_words[(i, j)] = round(max(word.end, min(offset, next_start)), 3)
    ended = []
    for i, segment in enumerate(segments):
        new_words = [
            AsrWord(w.word, w.start, last_words.get((i, j), w.end), w.confidence) for j, w in enumerate(segment.words)
        ]
        end = max(segment.end, new_words[-1].end) if new_words else segment.end
        ended.append(replace(segment, end=end, words=new_words))
    return ended


def _file_segment(segment, chunk_start_s: float, chunk_end_s: float, language: str) -> AsrSegment:
    """A chunk's segment with times moved to the file (and kept inside the chunk)."""

    def at(time_s: float) -> float:
        return round(min(chunk_end_s, chunk_start_s + max(0.0, time_s)), 3)

    return AsrSegment(
        start=at(segment.start),
        end=at(segment.end),
        text=segment.text,
        confidence=segment.confidence,
        words=[AsrWord(w.word, at(w.start), at(w.end), w.confidence) for w in segment.words],
        language=language,
    )
