"""Object keys of SPEC's storage layout, the same on the local folder and on S3."""

from __future__ import annotations


def session_prefix(session_id: str) -> str:
    """The folder holding everything stored for a session."""
    return f"sessions/{session_id}/"


def session_audio_key(session_id: str) -> str:
    """The session's recorded audio (16-bit PCM WAV)."""
    return f"{session_prefix(session_id)}audio.wav"


def session_transcript_key(session_id: str) -> str:
    """The session's stored transcript."""
    return f"{session_prefix(session_id)}transcript.json"


def job_prefix(job_id: str) -> str:
    """The folder holding everything stored for a job."""
    return f"jobs/{job_id}/"


def job_input_key(job_id: str, extension: str) -> str:
    """A job's uploaded audio; ``extension`` without the dot (``wav``, ``mp3``, ...)."""
    return f"{job_prefix(job_id)}input.{extension}"


def job_transcript_key(job_id: str) -> str:
    """A job's result transcript."""
    return f"{job_prefix(job_id)}transcript.json"


def speaker_prefix(speaker_id: str) -> str:
    """The folder holding an enrolled speaker's objects."""
    return f"speakers/{speaker_id}/"


def speaker_sample_key(speaker_id: str, extension: str) -> str:
    """An enrolled speaker's voice sample as uploaded; ``extension`` without the dot."""
    return f"{speaker_prefix(speaker_id)}sample.{extension}"
