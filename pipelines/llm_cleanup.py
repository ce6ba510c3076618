"""Optional stage: an LLM cleans each segment's text (punctuation, casing, fillers, mis-hearings).

Per-segment prompts carry the neighbouring segments as context. Timestamps and speakers never move:
the cleaned text is aligned word by word (difflib) onto the segment's timed words; a timed word keeps
its times and takes the cleaned spelling when the alignment pairs it one-to-one, filler words the
LLM deleted are dropped from the word list, and where the alignment cannot map (words merged, split
or added) the timed words are kept as they were and only the segment text carries the cleaned
version. An edit whose word-level similarity to the original is below ``min_similarity`` is
rejected (original kept, warning). An unreachable or slow endpoint skips the whole stage with a
warning: the transcript comes back unchanged.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from dataclasses import dataclass, field

import msgspec

from core.llm_client import ChatMessage, LlmClient, LlmUnavailable
from core.transcript import Segment, Transcript, Word, make_word

FILLERS = frozenset({"um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm"})

_SYSTEM_PROMPT = (
    "You correct one line of an automatic speech transcript. Fix punctuation and capitalization, "
    "delete filler words (um, uh, er, you know) and stutters (repeated words), and fix words that were "
    "obviously misheard. Keep every other word exactly as it is, in the same order. Do not answer, "
    'continue or summarize the line. Reply as JSON: {"text": "<the corrected line>"}'
)
_EXAMPLE = (
    ChatMessage(
        "user",
        "Context before: (none)\nContext after: sure i can do that\n\n"
        "Line to correct: um i think we should uh move the the meeting to monday",
    ),
    ChatMessage("assistant", '{"text": "I think we should move the meeting to Monday."}'),
)
_ANSWER_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@dataclass(frozen=True)
class CleanupOptions:
    min_similarity: float = 0.6
    """Lowest accepted word-level similarity (difflib ratio over normalized words, fillers ignored).

    Filler, stutter, casing and punctuation edits score 1.0 (all edits of the benchmark conversations,
    ``benchmarks/results/llm_cleanup_wer.json``); replacing one or two misheard words of an 8-word
    line gives 0.88 / 0.75 by construction; the test model once answered the context instead of the
    line ("the whether is nice and the son is shining" -> "we need to finish the report"): 0.13.
    """
    context_segments: int = 1
    """Neighbouring segments shown before and after the one being cleaned."""
    max_tokens: int = 200
    concurrent_requests: int = 1
    """Requests in flight at once: raise it for an endpoint that batches (vLLM). The embedded llama.cpp
    server has one slot; on one CPU thread two slots were slower per segment (2.0 s vs 1.5 s)."""


@dataclass
class CleanupResult:
    transcript: Transcript
    warnings: list[str] = field(default_factory=list)


def normalized_words(text: str) -> list[str]:
    """Lower-case words without punctuation: what the similarity and the alignment compare."""
    return [w for w in (re.sub(r"[^\w']", "", token.lower()) for token in text.split()) if w]


def word_similarity(original: str, cleaned: str) -> float:
    """difflib ratio of the two texts' normalized words, fillers left out of both (1.0 = same words)."""
    before = [w for w in normalized_words(original) if w not in FILLERS]
    after = [w for w in normalized_words(cleaned) if w not in FILLERS]
    if not before and not after:
        return 1.0
    return difflib.SequenceMatcher(a=before, b=after, autojunk=False).ratio()


def align_words(words: list[Word], cleaned: str) -> list[Word] | None:
    """The timed words respelled as in ``cleaned``; ``None`` where the cleaned words don't map one-to-one.

    Equal and one-to-one replaced words keep their times and take the cleaned spelling; deleted
    words are dropped only when they are fillers or repeats of their neighbour (a stutter).
    """
    cleaned_tokens = cleaned.split()
    cleaned_keys = [re.sub(r"[^\w']", "", t.lower()) for t in cleaned_tokens]
    original_keys = [re.sub(r"[^\w']", "", w.word.lower()) for w in words]
    matcher = difflib.SequenceMatcher(a=original_keys, b=cleaned_keys, autojunk=False)
    aligned: list[Word] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            for word, token in zip(words[a0:a1], cleaned_tokens[b0:b1]):
                aligned.append(make_word(token, word.start, word.end, word.confidence, word.speaker))
        elif tag == "delete":
            for index in range(a0, a1):
                key = original_keys[index]
                neighbour = original_keys[index + 1] if index + 1 < len(original_keys) else None
                if key not in FILLERS and key != neighbour:
                    return None
        else:
            if all(not key for key in cleaned_keys[b0:b1]):
                continue  # punctuation-only tokens ("-") carry no word
            return None
    return aligned


async def clean_transcript(
    transcript: Transcript, client: LlmClient, options: CleanupOptions | None = None
) -> CleanupResult:
    """The transcript with each segment's text cleaned; never raises for an endpoint fault.

    Segments go to the endpoint ``options.concurrent_requests`` at a time; the first request the
    endpoint fails (down, slow, off-format) cancels the rest and the transcript comes back unchanged.
    """
    options = options or CleanupOptions()
    segments = list(transcript.segments)
    limit = asyncio.Semaphore(options.concurrent_requests)

    async def clean(index: int) -> tuple[Segment, str | None]:
        segment = segments[index]
        if not normalized_words(segment.text):
            return segment, None
        async with limit:
            answer = await client.complete_json(
                _messages(segments, index, options.context_segments), _ANSWER_SCHEMA, max_tokens=options.max_tokens
            )
        cleaned = " ".join(str(answer.get("text", "")).split())
        similarity = word_similarity(segment.text, cleaned)
        if not cleaned or similarity < options.min_similarity:
            return segment, (
                f"llm_cleanup: edit of segment {segment.id} rejected (word similarity {similarity:.2f} "
                f"< {options.min_similarity}); original kept"
            )
        return _apply(segment, cleaned), None

    failure: LlmUnavailable | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(clean(index)) for index in range(len(segments))]
    except* LlmUnavailable as failures:
        failure = failures.exceptions[0]
    if failure is not None:
        return CleanupResult(transcript, [f"llm_cleanup skipped: the LLM endpoint gave no answer ({failure})"])
    outcomes = [task.result() for task in tasks]
    cleaned_segments = [segment for segment, _ in outcomes]
    warnings = [warning for _, warning in outcomes if warning]
    result = msgspec.structs.replace(
        transcript,
        segments=cleaned_segments,
        words=[word for segment in cleaned_segments for word in segment.words],
        text=" ".join(segment.text for segment in cleaned_segments if segment.text),
    )
    return CleanupResult(result, warnings)


def _apply(segment: Segment, cleaned: str) -> Segment:
    aligned = align_words(segment.words, cleaned) if segment.words else []
    if aligned is None:
        return msgspec.structs.replace(segment, text=cleaned)  # timed words kept as they were
    return msgspec.structs.replace(segment, text=cleaned, words=aligned)


def _messages(segments: list[Segment], index: int, context: int) -> list[ChatMessage]:
    before = " ".join(s.text for s in segments[max(0, index - context) : index]) or "(none)"
    after = " ".join(s.text for s in segments[index + 1 : index + 1 + context]) or "(none)"
    prompt = f"Context before: {before}\nContext after: {after}\n\nLine to correct: {segments[index].text}"
    return [ChatMessage("system", _SYSTEM_PROMPT), *_EXAMPLE, ChatMessage("user", prompt)]
