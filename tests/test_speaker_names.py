"""Speaker names from the transcript: introductions, being addressed, negatives, enrolled names winning."""

from __future__ import annotations

import socket

import pytest

from core.llm_client import LlmClient
from core.transcript import NameSource, Segment, Speaker, Transcript
from pipelines.speaker_names import name_claims, name_speakers


def _transcript(*lines: tuple[str, str]) -> Transcript:
    segments = [
        Segment(id=index, start=2.0 * index, end=2.0 * index + 1.5, text=text, speaker=speaker, confidence=0.9)
        for index, (speaker, text) in enumerate(lines)
    ]
    return Transcript(
        language="en", duration=2.0 * len(lines), text=" ".join(t for _, t in lines), segments=segments,
        speakers=[Speaker(id=s) for s in dict.fromkeys(s for s, _ in lines)], words=[],
    )


def _names(result_transcript: Transcript) -> dict[str, tuple[str | None, NameSource | None]]:
    return {s.id: (s.name, s.name_source) for s in result_transcript.speakers}


A, B, C = "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("Hi, I'm Priya.", "Priya"),
        ("Hi, I’m Priya, and I run the support desk.", "Priya"),
        ("I am Priya Sharma from finance.", "Priya Sharma"),
        ("My name is Alice and I work in sales.", "Alice"),
        ("Good morning, my name's Tomasz.", "Tomasz"),
        ("Hello, this is Oliver from the warehouse.", "Oliver"),
        ("Yes, this is Dr Okafor speaking.", "Okafor"),
        ("It's Maria here, sorry I'm late.", "Maria"),
        ("Oliver here. The truck arrived.", "Oliver"),
        ("Everyone calls me Bob but you can call me Robert.", "Robert"),
        ("Hi there, I'm Jean-Luc.", "Jean-Luc"),
        ("Hello, Mrs. Priya from finance.", "Priya"),  # "this is Priya" as tiny.en hears it
        ("Hi everyone. Miss Priya here.", "Priya"),
        ("This Priya, calling about the invoice.", "Priya"),
    ],
)
def test_self_introductions_name_the_speaker(line: str, name: str) -> None:
    claims = name_claims(_transcript((A, line), (B, "Nice to meet you.")))
    assert [(c.speaker, c.name) for c in claims if c.speaker == A] == [(A, name)]


@pytest.mark.parametrize(
    "line",
    [
        "I'm sure we can do that.",
        "I'm going to send it today.",
        "I am not convinced.",
        "This is great, thank you.",
        "This is Monday's report.",
        "This is John's laptop, not mine.",
        "I'm Sorry, that was my mistake.",
        "Hello everyone, thanks for joining.",
        "Thank you so much.",
        "Hi team, let's start.",
        "Everyone here agrees.",
        "Right, what do we do now?",
        "My name is on the list.",
        "i'm priya",  # no capital: the rules don't guess from lower-case text
        "Thanks, Friday works for me.",
        "This Friday is fine.",
    ],
)
def test_phrases_that_are_not_names(line: str) -> None:
    assert name_claims(_transcript((A, line), (B, "Okay."))) == []


def test_a_title_before_a_question_addresses_someone_else() -> None:
    claims = name_claims(_transcript((A, "Mrs. Smith, what do you think?"), (B, "Fine.")))
    assert [(c.speaker, c.name) for c in claims] == [(B, "Smith")]


async def test_introductions_name_each_speaker() -> None:
    transcript = _transcript(
        (A, "Hello everyone, I'm Priya and I lead the project."),
        (B, "Hi Priya, this is Oliver from the warehouse."),
        (A, "Great, thanks."),
    )
    result = await name_speakers(transcript)
    assert _names(result.transcript) == {A: ("Priya", NameSource.INFERRED), B: ("Oliver", NameSource.INFERRED)}
    assert result.warnings == []


async def test_being_addressed_names_the_next_other_speaker() -> None:
    transcript = _transcript(
        (A, "Hello Oliver, did the delivery arrive?"),
        (A, "It was due this morning."),
        (B, "Yes, it came at nine."),
        (A, "Thanks. Priya, can you check the invoice?"),
        (C, "Sure, I will do it now."),
    )
    result = await name_speakers(transcript)
    assert _names(result.transcript) == {
        A: (None, None), B: ("Oliver", NameSource.INFERRED), C: ("Priya", NameSource.INFERRED)
    }


async def test_a_self_introduction_beats_being_addressed_and_names_stay_unique() -> None:
    transcript = _transcript(
        (A, "Hello Sam, shall we start?"),
        (B, "Actually I'm Alex, Sam is off today."),
        (A, "Sorry Alex. Hi, I'm Sam's manager."),
    )
    result = await name_speakers(transcript)
    assert _names(result.transcript) == {A: (None, None), B: ("Alex", NameSource.INFERRED)}


async def test_enrolled_names_win_and_are_never_given_twice() -> None:
    transcript = _transcript(
        (A, "Hi, I'm Priya."),
        (B, "Hello Priya, I'm Oliver."),
    )
    result = await name_speakers(transcript, enrolled={A: "Priya Sharma", B: "Oliver Stone"})
    assert _names(result.transcript) == {
        A: ("Priya Sharma", NameSource.ENROLLED), B: ("Oliver Stone", NameSource.ENROLLED)
    }
    result = await name_speakers(transcript, enrolled={B: "Priya"})
    assert _names(result.transcript) == {A: (None, None), B: ("Priya", NameSource.ENROLLED)}


async def test_the_llm_names_a_speaker_the_rules_missed(llm_endpoint: str) -> None:
    transcript = _transcript(
        (A, "Good morning. Priya, how was the flight?"),
        (B, "Long, but fine. Where is Oliver?"),
        (A, "I'm right here. Oliver always sits by the window, remember?"),
    )
    async with LlmClient(llm_endpoint, timeout_s=60) as client:
        result = await name_speakers(transcript, llm=client)
    names = _names(result.transcript)
    assert names[B] == ("Priya", NameSource.INFERRED)  # the rules: A addressed Priya, B answered
    assert names[A][0] in {None, "Oliver"}  # the LLM may or may not read this; it must not invent
    assert result.warnings == []


async def test_an_unreachable_llm_leaves_the_rules_names_and_a_warning() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transcript = _transcript((A, "Hi, I'm Priya."), (B, "Hello."))
    async with LlmClient(f"http://127.0.0.1:{port}/v1", timeout_s=2) as client:
        result = await name_speakers(transcript, llm=client)
    assert _names(result.transcript) == {A: ("Priya", NameSource.INFERRED), B: (None, None)}
    assert len(result.warnings) == 1 and "skipped" in result.warnings[0]
