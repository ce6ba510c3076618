"""The stages of the enhancement pipeline, in order, and which of them a job runs.

prepare → transcribe ∥ diarize → merge → (llm_cleanup) → (emotion) → speaker_names → persist;
the ones in brackets run when asked, diarize and speaker_names with ``speaker_detection=diarize``.
Transcription and diarization run at once (``batch_asr`` and ``speaker_embedding`` are separate
Triton models, so they use the cores together): both start from the audio ``prepare`` decoded once
and from one pass of the VAD over it (:func:`speech_search`, read at each one's thresholds), and
they meet only at ``merge``.
Each stage is a plain async function of the job's context and state; the runner times, records,
retries and cancels around them. Adding a stage adds a function and a line in :func:`stages_for`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import numpy as np

from core.audio.decoding import decode_audio_to
from core.audio.signal_file import SignalFile
from core.inference import InferenceClient
from core.jobs.params import JobParams, SpeakerDetection
from core.live_transcript import load_live_transcript
from core.llm_client import LlmClient
from core.persistence import speakers as speaker_repository
from core.persistence.database import Database
from core.persistence.jobs import JobView
from core.settings import Settings
from core.storage.base import ObjectStore
from core.storage.keys import job_transcript_key
from pipelines.diarization import diarize as diarize_speech
from pipelines.emotion import detect_emotions
from pipelines.job_state import SAMPLE_RATE, JobState, SpeakerCountHint
from pipelines.live_labels import with_live_labels
from pipelines.llm_cleanup import clean_transcript
from pipelines.merge import merge_transcript
from pipelines.overlaps import overlapped_speech, second_speakers
from pipelines.speaker_matching import Voiceprint, match_speakers
from pipelines.speaker_names import name_speakers
from pipelines.speech_regions import DIARIZATION_REGIONS, SpeechSearch, search_speech
from pipelines.transcribe import transcribe_audio


@dataclass(frozen=True)
class StageContext:
    """What every stage of one job may use."""

    job: JobView
    params: JobParams
    settings: Settings
    database: Database
    store: ObjectStore
    inference: InferenceClient
    llm: LlmClient | None = None
    """The OpenAI-compatible endpoint for cleanup and name inference (``None``: none configured)."""


StageFunction = Callable[[StageContext, JobState], Awaitable[None]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFunction
    weight: float
    """Share of the job's progress (relative to the other stages)."""
    optional: bool = False
    """A failure leaves a warning instead of failing the job."""


async def prepare(context: StageContext, state: JobState) -> None:
    """Decode the stored input (upload or session recording) to 16 kHz mono, once for every stage.

    The input goes through a temporary file and is decoded into another, which the stages read a
    slice at a time (:class:`SignalFile`): neither is held in memory, whatever the upload's length."""
    if context.job.input_key is None:
        raise ValueError("the job has no input audio")
    state.close()  # a retried prepare lets go of the first one's signal
    signal = tempfile.TemporaryFile()
    try:
        with tempfile.TemporaryFile() as stored:
            for piece in context.store.open_read(context.job.input_key):
                stored.write(piece)
            samples = decode_audio_to(stored, signal)
    except BaseException:
        signal.close()
        raise
    state.audio = SignalFile(signal, samples)
    state.duration_s = samples / SAMPLE_RATE


async def speech_search(context: StageContext, state: JobState) -> SpeechSearch:
    """The VAD's pass over the audio, made once for transcription and diarization (which run at once):
    the first to ask starts it and the other waits for it; a failed pass starts again."""
    search = state.speech_search
    if search is None or (search.done() and (search.cancelled() or search.exception() is not None)):
        search = state.speech_search = asyncio.ensure_future(search_speech(state.audio, context.inference))
    return await asyncio.shield(search)


async def transcribe(context: StageContext, state: JobState) -> None:
    """Speech regions from the VAD, then beam-search ASR with word times over chunks cut at pauses."""
    regions = state.speech_regions = (await speech_search(context, state)).transcription_regions()
    language = context.params.language
    state.asr_segments = await transcribe_audio(
        state.audio,
        context.inference,
        language=language,
        speech_regions=regions,
        prompt_mode=context.settings.batch_prompt_mode,
    )
    if language == "auto":  # what the batch model detected, the language of most of the speech
        detected = Counter(segment.language for segment in state.asr_segments if segment.language)
        language = detected.most_common(1)[0][0] if detected else "en"
    state.language = language


async def diarize(context: StageContext, state: JobState) -> None:
    """Speaker turns from sliding-window embeddings, clustered (the count given or estimated), and
    a second speaker where two speak at once."""
    regions = (await speech_search(context, state)).regions(DIARIZATION_REGIONS)
    result = await diarize_speech(state.audio, regions, context.inference, speaker_count_hint(context.params))
    state.speaker_turns = result.turns
    state.speaker_embeddings = result.centroids
    if result.num_speakers > 1:
        stretches = await overlapped_speech(state.audio, regions, context.inference)
        state.speaker_overlaps = second_speakers(result.turns, stretches)


async def merge(context: StageContext, state: JobState) -> None:
    """A speaker for every word; segments split at speaker turns; for a live session, the live label of each speaker."""
    merged = merge_transcript(
        state.asr_segments,
        state.speaker_turns,
        overlaps=state.speaker_overlaps,
        language=state.language,
        duration_s=state.duration_s,
        word_timestamps=context.params.word_timestamps,
        speech_regions=state.speech_regions,
    )
    state.transcript = merged.transcript
    state.speaker_labels = merged.speaker_labels
    live = load_live_transcript(context.store, context.job.session_id) if context.job.session_id else None
    if live is not None:
        state.transcript = with_live_labels(state.transcript, live.segments)


async def llm_cleanup(context: StageContext, state: JobState) -> None:
    """Punctuation, casing, fillers and obvious mis-hearings fixed by the LLM; times and speakers kept."""
    if context.llm is None:
        raise RuntimeError("no LLM endpoint is configured (TANDEM_LLM_URL or TANDEM_LLM_GGUF_PATH)")
    assert state.transcript is not None
    result = await clean_transcript(state.transcript, context.llm)
    state.transcript = result.transcript
    state.warnings.extend(result.warnings)


async def emotion(context: StageContext, state: JobState) -> None:
    """An emotion per segment (prosody for arousal, the text for valence on the CPU default)."""
    assert state.transcript is not None
    before = len(state.transcript.warnings)
    state.transcript = await detect_emotions(state.transcript, state.audio, context.inference)
    state.warnings.extend(state.transcript.warnings[before:])


async def speaker_names(context: StageContext, state: JobState) -> None:
    """Names for the diarized speakers: the enrolled voice they match, else the name they give or are called by."""
    assert state.transcript is not None
    result = await name_speakers(state.transcript, enrolled=await enrolled_names(context, state), llm=context.llm)
    state.transcript = result.transcript
    state.warnings.extend(result.warnings)


async def enrolled_names(context: StageContext, state: JobState) -> dict[str, str]:
    """speaker id → enrolled name, for the diarized speakers whose voice matches an enrolled voiceprint."""
    enrolled = speaker_repository.voiceprints(context.database, tenant=context.job.tenant)
    if not enrolled or not state.speaker_embeddings:
        return {}
    model = await context.inference.speaker_embedding_model()
    voiceprints = [
        Voiceprint(v.name, np.asarray(v.embedding, np.float32)) for v in enrolled if v.embedding_model == model
    ]
    matches = match_speakers(
        state.speaker_embeddings, state.speaker_labels, voiceprints, context.settings.speaker_match_threshold
    )
    return {match.speaker_id: match.name for match in matches}


async def persist(context: StageContext, state: JobState) -> None:
    """Write ``jobs/{id}/transcript.json``."""
    assert state.transcript is not None
    state.transcript.warnings = list(state.warnings)
    key = job_transcript_key(context.job.id)
    context.store.put_bytes(key, msgspec.json.encode(state.transcript))


def speaker_count_hint(params: JobParams) -> SpeakerCountHint:
    return SpeakerCountHint(params.num_speakers, params.min_speakers, params.max_speakers)


StageStep = tuple[Stage, ...]
"""Stages that run at the same time; the next step starts when all of them are done."""


def stages_for(params: JobParams) -> list[StageStep]:
    """The steps a job with ``params`` runs, in order."""
    diarizing = params.speaker_detection is SpeakerDetection.DIARIZE
    steps: list[StageStep] = [
        (Stage("prepare", prepare, 5),),
        (Stage("transcribe", transcribe, 60), *([Stage("diarize", diarize, 25)] if diarizing else [])),
        (Stage("merge", merge, 2),),
    ]
    if params.llm_cleanup:
        steps.append((Stage("llm_cleanup", llm_cleanup, 20, optional=True),))
    if params.emotions:
        steps.append((Stage("emotion", emotion, 5, optional=True),))
    if diarizing:
        steps.append((Stage("speaker_names", speaker_names, 2, optional=True),))
    steps.append((Stage("persist", persist, 3),))
    return steps
