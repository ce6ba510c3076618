"""Batch ASR: how chunks get the text before them as Whisper's prompt (``pipelines/transcribe.py``'s
``prompt_mode``): ``none`` (sent together, dynamic batching), ``previous`` (one after another, the
previous chunk's text as prompt) and ``waves`` (even chunks together, then odd chunks together, each
prompted by its predecessor's text), against the bundled Triton on ``model_repository/`` (the shipped
batch model).

``--audio espeak``: WER and wall time on the espeak meeting repeated to ``--minutes``, for 1 and 2
concurrent jobs (``benchmarks/results/chunk_prompt.json``). ``--audio real``: per recording with text of
the real-speech set (``benchmarks/real_speech_set.py``), the job's WER and its wall time (VAD + chunks +
``batch_asr``, language ``auto`` as a job without one), beside plain faster-whisper on the same audio
(``WhisperModel.transcribe``, the batch model's weights, language en, beam 5, word timestamps,
condition_on_previous_text on, the batch model's threads), as ``benchmarks/real_speech.py`` runs it
(``benchmarks/results/chunk_prompt_real.json``).

    python -m benchmarks.chunk_prompt --minutes 2
    python -m benchmarks.chunk_prompt --audio real --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.speech import MEETING, conversation, word_error_rate
from core.inference import InferenceClient
from launchers.triton_server import TritonServer, model_weights_path
from pipelines.speech_regions import detect_speech
from pipelines.transcribe import transcribe_audio

MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
RESULTS = Path(__file__).parent / "results" / "chunk_prompt.json"
REAL_RESULTS = Path(__file__).parent / "results" / "chunk_prompt_real.json"
MODES = ("none", "previous", "waves")


async def _measure(grpc_url: str, minutes: float, repeat: int, modes: list[str]) -> list[dict]:
    lines = MEETING * max(1, round(minutes * 60 / conversation(MEETING).duration_s))
    clip = conversation(lines)
    client = InferenceClient(grpc_url, timeout_s=600)
    regions = await detect_speech(clip.audio, client)
    rows = []
    for jobs in (1, 2):
        for mode in modes:
            walls, wers = [], []
            for _ in range(repeat):
                started = time.monotonic()
                results = await asyncio.gather(
                    *(
                        transcribe_audio(clip.audio, client, language="en", prompt_mode=mode, speech_regions=regions)
                        for _ in range(jobs)
                    )
                )
                walls.append(time.monotonic() - started)
                wers.append(word_error_rate(clip.text, " ".join(s.text for s in results[0])))
            rows.append(
                {
                    "jobs": jobs,
                    "prompt_mode": mode,
                    "audio_s": round(clip.duration_s, 1),
                    "wall_s_median": round(float(np.median(walls)), 2),
                    "wer": round(float(np.mean(wers)), 4),
                }
            )
            print(rows[-1], flush=True)
    await client.close()
    return rows


def _plain_model():
    from faster_whisper import WhisperModel

    from benchmarks.stack import config_parameters

    parameters = config_parameters((MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text())
    threads = int(parameters.get("cpu_threads", "2"))
    model = WhisperModel(
        model_weights_path(parameters["model_path"]), device="cpu", compute_type="int8", cpu_threads=threads
    )
    return model, parameters["model_name"]


def _plain(model, audio: np.ndarray) -> tuple[str, float]:
    started = time.perf_counter()
    segments, _ = model.transcribe(audio, language="en", beam_size=5, word_timestamps=True)
    text = " ".join(segment.text.strip() for segment in segments)
    return text, time.perf_counter() - started


async def _measure_real(grpc_url: str, repeat: int, modes: list[str], names: list[str] | None) -> dict:
    from benchmarks.real_speech_set import full_set

    recordings = [r for r in full_set() if r.text is not None and (not names or r.name in names)]
    client = InferenceClient(grpc_url, timeout_s=600)
    model, model_name = await asyncio.to_thread(_plain_model)
    rows = []
    try:
        for recording in recordings:
            row: dict = {"recording": recording.name, "audio_s": round(recording.duration_s, 1)}
            load = [round(x, 2) for x in os.getloadavg()]
            for mode in modes:
                walls, texts, lengths = [], [], []
                for _ in range(repeat):
                    started = time.perf_counter()
                    regions = await detect_speech(recording.audio, client)
                    segments = await transcribe_audio(
                        recording.audio, client, language="auto", prompt_mode=mode, speech_regions=regions
                    )
                    walls.append(time.perf_counter() - started)
                    texts.append(" ".join(s.text for s in segments))
                    lengths.append([s.end - s.start for s in segments])
                row[f"wer_{mode}"] = round(float(np.mean([word_error_rate(recording.text, t) for t in texts])), 4)
                row[f"job_s_{mode}"] = round(float(np.median(walls)), 2)
                row[f"segments_{mode}"] = len(lengths[0])
                row[f"longest_segment_s_{mode}"] = round(max(lengths[0], default=0.0), 1)
                row[f"text_{mode}"] = texts[0]
            plain = [await asyncio.to_thread(_plain, model, recording.audio) for _ in range(repeat)]
            row["wer_plain"] = round(float(np.mean([word_error_rate(recording.text, t) for t, _ in plain])), 4)
            row["plain_s"] = round(float(np.median([s for _, s in plain])), 2)
            row["text_plain"] = plain[0][0]
            row["reference_words"] = len(recording.text.split())
            row["load_average_before"] = load
            print(json.dumps({k: v for k, v in row.items() if not k.startswith("text_")}), flush=True)
            rows.append(row)
    finally:
        await client.close()
    summary: dict = {"batch_model": model_name}
    for mode in [*modes, "plain"]:
        summary[f"wer_{mode}_mean"] = round(float(np.mean([r[f"wer_{mode}"] for r in rows])), 4)
    for mode in modes:
        summary[f"job_s_{mode}_total"] = round(sum(r[f"job_s_{mode}"] for r in rows), 2)
        summary[f"worse_than_plain_{mode}"] = [r["recording"] for r in rows if r[f"wer_{mode}"] > r["wer_plain"]]
    summary["plain_s_total"] = round(sum(r["plain_s"] for r in rows), 2)
    return {"summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", choices=("espeak", "real"), default="espeak")
    parser.add_argument("--minutes", type=float, default=2.0, help="espeak: length of the meeting")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", action="append", choices=MODES, help="prompt modes (repeat; default: all)")
    parser.add_argument("--recording", action="append", help="real: only these recordings (repeat)")
    args = parser.parse_args()
    modes = args.mode or list(MODES)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with TritonServer(MODEL_REPOSITORY, Path(tempfile.mkdtemp())) as server:
        if args.audio == "real":
            report = asyncio.run(_measure_real(server.endpoints.grpc_url, args.repeat, modes, args.recording))
        else:
            report = {"rows": asyncio.run(_measure(server.endpoints.grpc_url, args.minutes, args.repeat, modes))}
    machine = {"machine": platform.platform(), "cpus": os.cpu_count(), "started": started}
    output = REAL_RESULTS if args.audio == "real" else RESULTS
    output.write_text(json.dumps({**machine, **report}, indent=2) + "\n")
    if "summary" in report:
        print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
