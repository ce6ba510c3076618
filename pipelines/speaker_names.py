"""Stage: names for diarized speakers — enrolled voiceprint matches first, then names from the transcript.

Rules read two kinds of evidence from each segment (names must be capitalized, as Whisper writes them):

- self-introductions name the segment's own speaker: "I'm Priya", "my name is Priya", "this is
  Oliver from the warehouse", "Oliver here", "call me Ollie";
- being addressed names the next *other* speaker to talk (within the next few segments): "Hello
  Oliver", "thanks, Priya", "Oliver, what do you think?".

A self-introduction outweighs being addressed. When an LLM is configured it gives a second opinion,
used only for speakers the rules left unnamed, only with a name that occurs in the transcript and
that the rules don't tie to another speaker (the 0.5B test model often names the person who says
"Hello Oliver" Oliver; a production-size model is what this opinion is for).
Enrolled names win; two speakers never get the same name (the better-supported claim keeps it).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from core.llm_client import ChatMessage, LlmClient, LlmUnavailable
from core.transcript import NameSource, Transcript

SELF_INTRODUCTION_WEIGHT = 2
ADDRESSED_WEIGHT = 1
ADDRESS_LOOKAHEAD_SEGMENTS = 3
"""How many following segments may hold the reply of the person addressed."""

_COMMON_WORDS = """
    i a an the it this that there here not so just also now still all everyone everybody anyone anybody
    someone somebody nobody people we you they he she everything something nothing guys folks team sir
    madam ok okay yes no yeah sorry sure fine well good great perfect cool right alright actually anyway
    look listen really honestly and but or then thanks hello hi hey welcome today tomorrow tonight monday
    tuesday wednesday thursday friday saturday sunday january february march april may june july august
    september october november december english american british mr mrs ms dr miss missus
"""
_NOT_NAMES = frozenset(_COMMON_WORDS.split())
"""Capitalized words that follow "I'm", "this is", "Hello" or start a sentence without being a name."""
_APOSTROPHE = "['’]"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Dr|Doctor|Professor)\.?\s+)?"
_NAME_WORD = rf"[A-Z][a-z]+(?:(?:{_APOSTROPHE}|-)[A-Z][a-z]+)?"
_NAME = rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD})?)\b(?!{_APOSTROPHE}s)"
"""One or two capitalized words, not a possessive ("Priya's")."""

_SELF_INTRODUCTIONS = [
    re.compile(rf"(?i:\bmy\s+name(?:{_APOSTROPHE}s|\s+is)\s+){_TITLE}{_NAME}"),
    re.compile(rf"(?i:\b(?:i{_APOSTROPHE}m|i\s+am)\s+){_TITLE}{_NAME}"),
    re.compile(
        rf"(?i:\b(?:this|it)\s+is\s+|\bit{_APOSTROPHE}s\s+){_TITLE}{_NAME}"
        rf"(?=\s*(?:[,.!?;]|$|(?i:from|here|speaking|with|at|calling|of)\b))"
    ),
    re.compile(rf"(?:^|[.!?]\s+){_NAME}(?=\s+(?i:here|speaking)\b)"),
    re.compile(rf"(?i:\bcall\s+me\s+){_NAME}"),
    # ASR variants of "this is NAME" at the start of a sentence: "Mrs. Priya", "Miss Priya", "This Priya".
    re.compile(
        rf"(?:^|[.!?,]\s+)(?:Mrs\.?|Miss|Missus|This|Thisis)\s+{_NAME}"
        rf"(?=\s*(?:[.!;]|$|(?i:from|here|speaking|calling)\b|,(?![^.!?]*\?)))"  # "Mrs. Smith, what…?" addresses
    ),
]
_ADDRESSES = [
    re.compile(
        r"(?i:\b(?:hello|hi|hey|thanks|thank\s+you|good\s+(?:morning|afternoon|evening)|morning|welcome|"
        rf"over\s+to\s+you|go\s+ahead)\s*,?\s+){_TITLE}{_NAME}"
    ),
    re.compile(rf"(?:^|[.!?]\s+){_NAME},\s+(?i:what|how|can|could|would|do|did|are|is|will|please)\b[^.!]*\?"),
]


@dataclass(frozen=True)
class NameClaim:
    speaker: str
    name: str
    weight: int
    segment_id: int


@dataclass
class NamingResult:
    transcript: Transcript
    warnings: list[str] = field(default_factory=list)


def _clean_name(raw: str) -> str | None:
    words = raw.split()
    while words and words[-1].lower() in _NOT_NAMES:
        words.pop()
    if not words or words[0].lower() in _NOT_NAMES:
        return None
    return " ".join(words)


def name_claims(transcript: Transcript) -> list[NameClaim]:
    """Every self-introduction and address the rules find, attributed to a speaker id."""
    claims: list[NameClaim] = []
    segments = [s for s in transcript.segments if s.speaker]
    for index, segment in enumerate(segments):
        for pattern in _SELF_INTRODUCTIONS:
            for match in pattern.finditer(segment.text):
                name = _clean_name(match.group("name"))
                claim = NameClaim(segment.speaker, name or "", SELF_INTRODUCTION_WEIGHT, segment.id)
                if name and claim not in claims:  # two patterns may read one introduction
                    claims.append(claim)
        following = segments[index + 1 : index + 1 + ADDRESS_LOOKAHEAD_SEGMENTS]
        addressed = next((s.speaker for s in following if s.speaker != segment.speaker), None)
        if addressed is None:
            continue
        for pattern in _ADDRESSES:
            for match in pattern.finditer(segment.text):
                if name := _clean_name(match.group("name")):
                    claims.append(NameClaim(addressed, name, ADDRESSED_WEIGHT, segment.id))
    return claims


def _spoken_by_oneself(claims: list[NameClaim]) -> dict[str, str]:
    """A name said to another speaker can't be the addresser's own: drop addresses naming a self-introduced name."""
    return {c.name: c.speaker for c in claims if c.weight == SELF_INTRODUCTION_WEIGHT}


def choose_names(claims: list[NameClaim], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """speaker id → name: each speaker's best-supported name, each name to one speaker only.

    ``taken`` maps speaker ids to names already fixed (enrolled): those speakers and names are skipped.
    """
    taken = dict(taken or {})
    introduced = _spoken_by_oneself(claims)
    scores: dict[str, Counter[str]] = defaultdict(Counter)
    for claim in claims:
        if claim.weight == ADDRESSED_WEIGHT and introduced.get(claim.name, claim.speaker) != claim.speaker:
            continue  # the name belongs to whoever introduced themselves with it
        scores[claim.speaker][claim.name] += claim.weight
    candidates = sorted(
        ((score, speaker, name) for speaker, names in scores.items() for name, score in names.items()),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    used_names = {name.lower() for name in taken.values()}
    chosen: dict[str, str] = {}
    for _score, speaker, name in candidates:
        if speaker in taken or speaker in chosen or name.lower() in used_names:
            continue
        chosen[speaker] = name
        used_names.add(name.lower())
    return chosen


async def llm_names(transcript: Transcript, client: LlmClient) -> dict[str, str]:
    """The LLM's reading of who is who (names that don't occur in the transcript are dropped)."""
    ids = [s.id for s in transcript.speakers]
    lines = "\n".join(f"{s.speaker}: {s.text}" for s in transcript.segments if s.speaker)
    schema = {
        "type": "object",
        "properties": {speaker: {"type": "string"} for speaker in ids},
        "required": ids,
    }
    prompt = (
        "Below is a conversation transcript; each line starts with the speaker's label. For every label, give "
        "the person's first name if the conversation states it (they introduce themselves or someone addresses "
        'them by name), otherwise "". Never guess.\n\n' + lines
    )
    answer = await client.complete_json([ChatMessage("user", prompt)], schema, max_tokens=20 * len(ids) + 20)
    text = transcript.text or " ".join(s.text for s in transcript.segments)
    found: dict[str, str] = {}
    for speaker in ids:
        name = " ".join(str(answer.get(speaker, "")).split())
        if name and (cleaned := _clean_name(name)) and re.search(rf"\b{re.escape(cleaned)}\b", text):
            found[speaker] = cleaned
    return found


async def name_speakers(
    transcript: Transcript,
    *,
    enrolled: Mapping[str, str] | None = None,
    llm: LlmClient | None = None,
) -> NamingResult:
    """The transcript with ``Speaker.name``/``name_source`` set; ``enrolled`` maps speaker id → enrolled name.

    Never raises for an LLM fault: the rules' names stand and a warning is recorded.
    """
    warnings: list[str] = []
    known_ids = {s.id for s in transcript.speakers}
    fixed = {speaker: name for speaker, name in (enrolled or {}).items() if speaker in known_ids}
    claims = name_claims(transcript)
    inferred = choose_names(claims, fixed)
    if llm is not None and len(fixed) + len(inferred) < len(known_ids):
        try:
            opinion = await llm_names(transcript, llm)
        except LlmUnavailable as exc:
            warnings.append(f"speaker_names: LLM second opinion skipped ({exc})")
        else:
            used = {name.lower() for name in [*fixed.values(), *inferred.values()]}
            claimed_by = defaultdict(set)
            for claim in claims:
                claimed_by[claim.name.lower()].add(claim.speaker)
            for speaker, name in sorted(opinion.items()):
                if speaker in fixed or speaker in inferred or name.lower() in used:
                    continue
                if claimed_by[name.lower()] - {speaker}:
                    continue  # the rules tie this name to someone else (the LLM misread who was addressed)
                inferred[speaker] = name
                used.add(name.lower())
    speakers = []
    for speaker in transcript.speakers:
        if speaker.id in fixed:
            named = {"name": fixed[speaker.id], "name_source": NameSource.ENROLLED}
        elif speaker.id in inferred:
            named = {"name": inferred[speaker.id], "name_source": NameSource.INFERRED}
        else:
            named = {"name": None, "name_source": None}
        speakers.append(msgspec.structs.replace(speaker, **named))
    return NamingResult(msgspec.structs.replace(transcript, speakers=speakers), warnings)
