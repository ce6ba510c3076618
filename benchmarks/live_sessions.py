"""One level of the real-time benchmark: N live sessions at once, summarized, and where their latency goes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from benchmarks.live_scoring import percentiles, quality_summary, utterance_latencies
from benchmarks.meetings import Meeting
from benchmarks.speech import SAMPLE_RATE, SpeechClip, word_error_rate
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding, ErrorMessage, TranscriptFinal, WarningMessage

FRAME_S = 0.1


async def run_sessions(
    ws_url: str, clip: SpeechClip, sessions: int, *, speed: float = 1.0, model: str = ""
) -> list[StreamResult]:
    """``sessions`` streams of ``clip`` at once (``model``: the live profile; empty: the default), in
    English: the clips are, and a multilingual profile would otherwise detect the language per decode."""
    query = {"encoding": AudioEncoding.PCM_S16LE.value, "sample_rate": SAMPLE_RATE, "model": model, "language": "en"}
    url = stream_url(ws_url, query)
    audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    return list(
        await asyncio.gather(
            *(
                stream_audio(url, audio, bytes_per_second=SAMPLE_RATE * 2, frame_s=FRAME_S, speed=speed)
                for _ in range(sessions)
            )
        )
    )


def summarize_level(
    sessions: int,
    results: Sequence[StreamResult],
    clip: SpeechClip,
    silence_window_s: float,
    triton: dict,
    cpu: dict,
) -> dict:
    latencies = [lat for result in results for lat in utterance_latencies(result, clip.utterances)]
    finals = [lat.final_s for lat in latencies]
    return {
        "sessions": sessions,
        **quality_summary(results, clip),
        "final_minus_silence_window_s": percentiles(None if f is None else f - silence_window_s for f in finals),
        "vad_speech_start_s": percentiles(lat.speech_start_event_s for lat in latencies),
        "vad_speech_end_s": percentiles(lat.speech_end_event_s for lat in latencies),
        "warnings": sum(len(r.of_type(WarningMessage)) for r in results),
        "errors": sum(len(r.of_type(ErrorMessage)) for r in results),
        "close_codes": sorted({r.close_code for r in results if r.close_code is not None}),
        "triton": triton,
        "cpu": cpu,
        "per_utterance": [
            {
                "utterance": lat.utterance,
                "first_partial_s": _round(lat.first_partial_s),
                "final_s": _round(lat.final_s),
            }
            for lat in latencies
        ],
    }


def where_the_time_goes(
    results: Sequence[StreamResult],
    clip: SpeechClip,
    triton: dict,
    silence_window_s: float,
    asr_model: str = "streaming_asr",
) -> dict:
    """Break the first-partial and final latencies into parts measurable from outside.

    Per utterance, with t0 = speech start on the wall clock:
    - VAD detection: arrival of ``vad.speech_start`` − t0;
    - audio wait: (send time of the frame holding the ``end`` of the first correct message) − arrival of
      ``vad.speech_start``: the audio the session gathered after the VAD fired before it asked for
      the decode that produced the first correct words (partial cadence, minimum partial audio,
      discarded earlier partials);
    - decode turnaround: arrival of that message − send time of that frame, compared with
      Triton's queue + compute per ``streaming_asr`` request; the rest is control plane + network.
    The final is split the same way at ``vad.speech_end``.
    """
    vad_detect, audio_wait, turnaround, before = [], [], [], []
    end_event, after_end_event = [], []
    for result in results:
        for lat, utterance in zip(utterance_latencies(result, clip.utterances), clip.utterances):
            t0 = result.audio_started_at + utterance.speech_start_s
            if lat.speech_start_event_s is not None:
                vad_detect.append(lat.speech_start_event_s)
            if lat.first_partial_s is not None and lat.first_partial_audio_end_s is not None:
                requested_at = result.audio_started_at + _sent_at(lat.first_partial_audio_end_s)
                arrived_at = t0 + lat.first_partial_s
                turnaround.append(arrived_at - requested_at)
                before.append(lat.partials_before_first_correct)
                if lat.speech_start_event_s is not None:
                    audio_wait.append(requested_at - (t0 + lat.speech_start_event_s))
            if lat.speech_end_event_s is not None:
                end_event.append(lat.speech_end_event_s)
                if lat.final_s is not None:
                    after_end_event.append(lat.final_s - lat.speech_end_event_s)
    asr = triton.get(asr_model, {})
    triton_ms = None
    if asr.get("compute_ms_per_request") is not None:
        triton_ms = round(asr["compute_ms_per_request"] + (asr.get("queue_ms_per_request") or 0.0), 2)
    return {
        "first_partial": {
            "total_p50_s": percentiles(
                lat.first_partial_s for r in results for lat in utterance_latencies(r, clip.utterances)
            )["p50"],
            "vad_speech_start_arrival_p50_s": percentiles(vad_detect)["p50"],
            "audio_wait_after_speech_start_p50_s": percentiles(audio_wait)["p50"],
            "decode_turnaround_p50_s": percentiles(turnaround)["p50"],
            "triton_streaming_asr_queue_plus_compute_ms_per_request": triton_ms,
            "triton_streaming_asr_queue_ms_per_request": asr.get("queue_ms_per_request"),
            "triton_streaming_asr_compute_ms_per_request": asr.get("compute_ms_per_request"),
            "partials_without_a_correct_word_before_first_correct_mean": round(float(np.mean(before)), 2)
            if before
            else None,
        },
        "final": {
            "vad_speech_end_arrival_p50_s": percentiles(end_event)["p50"],
            "vad_silence_window_s": silence_window_s,
            "final_after_speech_end_message_p50_s": percentiles(after_end_event)["p50"],
        },
    }


def _sent_at(audio_end_s: float, frame_s: float = FRAME_S) -> float:
    """Seconds after ``audio_started_at`` at which the frame ending at ``audio_end_s`` was sent."""
    return max(0.0, np.ceil(round(audio_end_s / frame_s, 6)) * frame_s - frame_s)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def live_wer(ws_url: str, meeting: Meeting) -> float:
    """WER of the joined finals of one live session streaming ``meeting`` at real-time pace."""
    url = stream_url(ws_url, {"encoding": AudioEncoding.PCM_S16LE.value, "sample_rate": SAMPLE_RATE})
    audio = encode_audio(meeting.audio, AudioEncoding.PCM_S16LE)
    result = asyncio.run(stream_audio(url, audio, bytes_per_second=SAMPLE_RATE * 2, frame_s=FRAME_S, speed=1.0))
    return word_error_rate(meeting.text, " ".join(final.text for final in result.of_type(TranscriptFinal)))
