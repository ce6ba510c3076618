"""Typed settings, read from ``TANDEM_*`` environment variables with laptop defaults."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

import msgspec

from core.live_tuning import LiveTuning

_PREFIX = "TANDEM_"


class AuthMode(StrEnum):
    OFF = "off"
    KEYS = "keys"


class BatchPromptMode(StrEnum):
    """How a job's chunks get the text said before them as Whisper's prompt (``pipelines/transcribe.py``)."""

    NONE = "none"
    """All chunks at once (one batch), no prompt. The default."""
    PREVIOUS = "previous"
    """One after another, each prompted by the text of all chunks before it (``batch_asr`` keeps its last
    223 tokens, as faster-whisper conditions on the previous text)."""
    WAVES = "waves"
    """The even chunks at once without a prompt, then the odd ones at once, each prompted by the one before."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the control plane and its launchers need to know.

    Each field is read from ``TANDEM_<FIELD_NAME_UPPER>`` by :func:`load_settings`.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    """Working folder: the local object store, the SQLite file, Triton's backend folder."""
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``<data_dir>/tandem.db``."""
    storage_url: str = ""
    """``s3://bucket[/prefix]`` for S3, otherwise a local folder (empty = ``<data_dir>/objects``)."""
    s3_endpoint_url: str = ""
    """S3 endpoint (MinIO, moto); empty uses AWS's default endpoint resolution."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "tandem"
    """The RQ queue the control plane fills and the workers empty (one per deployment)."""
    start_redis: bool = True
    """Start a private ``redis-server`` when none answers at ``redis_url``."""
    triton_grpc_url: str = ""
    """An already running Triton (``host:port``); empty starts the bundled server."""
    model_repository: Path = Path(__file__).resolve().parent.parent / "model_repository"
    triton_start_timeout_s: float = 120.0
    live: LiveTuning = msgspec.field(default_factory=LiveTuning)
    """The live path's knobs, each read from ``TANDEM_<FIELD_NAME_UPPER>`` too (``TANDEM_VAD_THRESHOLD``)."""
    triton_metrics_port: int = 8002
    """Port of the started Triton's Prometheus metrics (``nv_*``), fixed so that Prometheus can scrape it."""
    workers: int = 2
    """RQ worker processes ``tandem serve`` starts (0: run ``tandem worker`` elsewhere)."""
    worker_nice: int = 10
    """CPU niceness of a worker process: job work (decoding, clustering) yields the cores to live sessions."""
    max_upload_mb: float = 1024.0
    """Larger uploads are refused with 413."""
    max_audio_s: float = 4 * 3600.0
    """Uploads whose audio lasts longer are refused with 413 (0: no limit)."""
    job_timeout_s: int = 3600
    """A job running longer than this is stopped and failed (RQ's job timeout)."""
    job_max_attempts: int = 3
    """Runs of a job that may end with their worker (killed, out of memory); one more fails the job."""
    job_requests_in_flight: int = 4
    """Batch ASR and speaker-embedding requests one job has at Triton at once (0: all at once); the
    rest wait in the worker, so Triton's queue and memory do not grow with the upload's length."""
    triton_retry_s: float = 30.0
    """How long a stage keeps retrying an unreachable Triton (with backoff) before the job fails."""
    worker_maintenance_interval_s: int = 15
    """How often a worker looks for jobs whose worker died (and RQ cleans its registries)."""
    webhook_secret: str = ""
    """``whsec_...`` secret signing webhooks, the same for every worker; empty: one is generated and kept in
    the data dir (enough when every worker shares it, as under ``tandem serve``)."""
    webhook_allow_private: bool = False
    """Let ``webhook_url`` reach loopback, private and link-local addresses (local development only)."""
    auth: AuthMode = AuthMode.OFF
    """``off``: no keys, everything in the default tenant, allowed only on a loopback ``host``;
    ``keys``: every route but ``/health*``, ``/schema*`` and the console's files needs an API key."""
    rate_limit_per_minute: int = 0
    """Requests per minute of a key created without ``--rate-limit`` (0: unlimited)."""
    tenant_max_sessions: int = 0
    """Live sessions one tenant may hold at once; one more gets ``capacity`` and close 4503 (0: no cap)."""
    webhook_timeout_s: float = 10.0
    max_sessions: int = 64
    """Live sessions served at once; one more connection gets ``capacity`` and close 4503 (0: no cap)."""
    outbox_max_messages: int = 256
    """Messages waiting for one client; a client further behind gets ``slow_consumer`` and close 1008."""
    recording_buffer_s: float = 60.0
    """Seconds of a session's audio that may wait for the store; beyond that the recording stops."""
    log_level: str = "INFO"
    metrics_dir: str = ""
    """Folder where this host's processes share their metrics (empty = ``<data_dir>/metrics``)."""
    worker_metrics_port: int = 0
    """``tandem worker`` serves its host's metrics on this port (0: none; the control plane's
    ``/metrics`` shows them when it shares the metrics folder, as under ``tandem serve``)."""
    llm_url: str = ""
    """OpenAI-compatible base URL (``http://host:port/v1``) for cleanup and speaker names; empty = no LLM,
    unless ``llm_gguf_path`` is set, in which case a llama.cpp server is started on loopback."""
    llm_model: str = ""
    """The ``model`` sent in chat-completion requests (llama.cpp's server ignores it)."""
    llm_api_key: str = ""
    llm_timeout_s: float = 20.0
    """Per-request limit; a slower answer skips that request with a warning."""
    llm_gguf_path: str = ""
    """A GGUF file for the embedded llama.cpp server, or ``package:qwen2.5-coder-0.5b-instruct-q4_k_m``."""
    openai_model_aliases: str = ""
    """More model names answered as OpenAI's (``POST /v1/audio/transcriptions`` synchronously), comma-separated;
    ``name=gpt-4o-transcribe-diarize`` makes a name behave as that OpenAI model (default: ``whisper-1``)."""
    batch_prompt_mode: BatchPromptMode = BatchPromptMode.PREVIOUS
    """Chunk prompts of a job's transcription. With ``previous`` the job was never worse than plain
    faster-whisper on the 10 real recordings with a text (``none``: 2-4 of 10; a 3-minute recording 8.0 %
    WER vs 12.2 %) and took 0.76-0.98x plain's time on six recordings; ``none`` was faster on a 10-minute
    espeak session (0.77x vs 0.98x; README, chunk prompts)."""
    speaker_match_threshold: float = 0.85
    """Cosine similarity a diarized speaker's voice needs with an enrolled voiceprint to get its name
    (calibrated on espeak voices: ``benchmarks/results/voiceprint_threshold.json``)."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tandem.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str((self.data_dir / "objects").resolve())


_LIVE_FIELDS = frozenset(field.name for field in msgspec.structs.fields(LiveTuning))
_OWN_FIELDS = frozenset(field.name for field in msgspec.structs.fields(Settings)) - {"live"}
_MODE_FIELDS = {
    field.name: field.type
    for field in msgspec.structs.fields(Settings)
    if isinstance(field.type, type) and issubclass(field.type, StrEnum)
}
"""Fields that take one of a few values: a wrong one is refused with the accepted values."""


def environment_variables() -> frozenset[str]:
    """Every ``TANDEM_*`` variable :func:`load_settings` reads (the live knobs' included)."""
    return frozenset(_variable(name) for name in _OWN_FIELDS | _LIVE_FIELDS)


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from the environment; ``overrides`` win over it.

    The fields of :class:`LiveTuning` are read and overridden by their own names (``vad_threshold``),
    not under ``live``.
    """
    environ = dict(os.environ if environ is None else environ)
    read = {name: environ[_variable(name)] for name in _OWN_FIELDS | _LIVE_FIELDS if _variable(name) in environ}
    read.update(overrides)
    values = {name: value for name, value in read.items() if name not in _LIVE_FIELDS}
    values["live"] = {name: value for name, value in read.items() if name in _LIVE_FIELDS}
    for name, mode in _MODE_FIELDS.items():
        if name in values and str(values[name]) not in {member.value for member in mode}:
            accepted = ", ".join(member.value for member in mode)
            raise ValueError(f"{_variable(name)}={values[name]!r} is not one of the accepted values: {accepted}")
    return msgspec.convert(values, Settings, strict=False, dec_hook=_decode_path)


def _variable(field_name: str) -> str:
    return _PREFIX + field_name.upper()


def _decode_path(kind: type, value: object) -> object:
    if kind is Path:
        return Path(str(value))
    raise NotImplementedError(kind)
