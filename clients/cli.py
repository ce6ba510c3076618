"""``tandem``: run the whole stack, or stream a file to a running server."""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from clients.keys_cli import keys_app
from control_plane.auth.loopback import UnsafeListenAddress, check_listen_address
from core.metrics_files import metrics_dir, serve_worker_metrics, share_metrics
from core.persistence.database import upgrade
from core.settings import load_settings
from launchers.llm_server import ensure_llm
from launchers.redis_server import ensure_redis
from launchers.triton_server import TritonServer
from launchers.worker_processes import WorkerProcess

app = typer.Typer(help="Tandem: live transcripts now, enhanced transcripts after.", no_args_is_help=True)
console = Console(stderr=True)
app.add_typer(keys_app, name="keys")
ApiKeyOption = Annotated[
    str | None, typer.Option(envvar="TANDEM_API_KEY", help="API key (tk_...) for a server with TANDEM_AUTH=keys.")
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (TANDEM_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (TANDEM_PORT).")] = None,
) -> None:
    """Start the stack on its embedded defaults: Redis (if none answers), Triton, the workers, the control plane."""
    overrides = {key: value for key, value in {"host": host, "port": port}.items() if value is not None}
    settings = load_settings(**overrides)
    try:
        check_listen_address(settings)
    except UnsafeListenAddress as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    upgrade(settings.resolved_database_url)  # once, before any worker opens the database
    share_metrics(metrics_dir(settings), fresh=True)  # before the app's metrics exist; its workers inherit it
    from control_plane.app import create_app

    with ExitStack() as stack:
        redis_server = ensure_redis(settings.redis_url, settings.data_dir / "redis", start=settings.start_redis)
        if redis_server is not None:
            stack.callback(redis_server.stop)
            console.print(f"started redis-server for {settings.redis_url}")
        grpc_url = settings.triton_grpc_url
        if not grpc_url:
            triton = TritonServer(
                settings.model_repository,
                settings.data_dir / "triton",
                start_timeout_s=settings.triton_start_timeout_s,
                metrics_address=settings.host,
                metrics_port=settings.triton_metrics_port,
            )
            stack.enter_context(triton)
            grpc_url = triton.endpoints.grpc_url
            console.print(f"started tritonserver (gRPC {grpc_url}, metrics {triton.endpoints.metrics_url})")
        llm_url, llm_server = ensure_llm(settings)
        if llm_server is not None:
            stack.callback(llm_server.stop)
            console.print(f"started llama.cpp server for LLM cleanup at {llm_url}")
        # Its workers share its metrics folder: /metrics shows their jobs, no port of their own.
        worker_environment = dict(os.environ, TANDEM_LLM_URL=llm_url, TANDEM_WORKER_METRICS_PORT="0")
        for index in range(settings.workers):
            log_path = settings.data_dir / "workers" / f"worker-{index}.log"
            worker = WorkerProcess(grpc_url, log_path, worker_environment)
            stack.callback(worker.stop)
        if settings.workers:
            console.print(f"started {settings.workers} worker(s), logs in {settings.data_dir / 'workers'}")
        config = uvicorn.Config(
            create_app(settings, grpc_url),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's lines go through core.log_config (JSON when not on a terminal)
            timeout_graceful_shutdown=15,
        )
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: exit
        # through Python so that the ExitStack stops Triton and Redis.
        for handled in (signal.SIGINT, signal.SIGTERM):
            signal.signal(handled, _exit_after_shutdown)
        uvicorn.Server(config).run()


def _exit_after_shutdown(signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
) -> None:
    """Run an RQ worker on the job queue (needs TANDEM_TRITON_GRPC_URL of a running Triton)."""
    settings = load_settings()
    inherited = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    share_metrics(Path(inherited) if inherited else metrics_dir(settings), fresh=False)
    if settings.worker_metrics_port:
        serve_worker_metrics(settings.worker_metrics_port)
    from pipelines.worker import run_worker

    run_worker(burst=burst)


@app.command()
def migrate() -> None:
    """Bring the database (TANDEM_DATABASE_URL) to the latest schema; run it before starting workers."""
    upgrade(load_settings().resolved_database_url)


@app.command()
def stream(
    audio_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Any file ffmpeg/av can decode.")],
    url: Annotated[str, typer.Option(help="Server base URL.")] = "ws://127.0.0.1:8000",
    speed: Annotated[float, typer.Option(help="Pace relative to real time (0 = as fast as possible).")] = 1.0,
    word_timestamps: Annotated[bool, typer.Option(help="Ask for word timestamps.")] = False,
    diarize: Annotated[bool, typer.Option(help="Live speaker labels (S0, S1...) on every final.")] = False,
    store_audio: Annotated[bool, typer.Option(help="Record the session's audio on the server.")] = False,
    store_transcript: Annotated[bool, typer.Option(help="Store the transcript on the server.")] = False,
    enhance: Annotated[
        bool, typer.Option(help="Record the audio, then wait for the enhanced, speaker-labelled transcript.")
    ] = False,
    num_speakers: Annotated[int | None, typer.Option(help="Speakers in the audio (for --enhance).")] = None,
    model: Annotated[str, typer.Option(help="Live profile: tiny.en (default) or base (multilingual).")] = "",
    language: Annotated[str, typer.Option(help="Language code, or auto (the model's own, or detected).")] = "auto",
    api_key: ApiKeyOption = None,
) -> None:
    """Stream a file to a running server, showing partials live and printing the finals (exit 1
    when the server refuses or ends the session with an error)."""
    from clients.stream_client import stream_file
    from core.protocol import ErrorMessage

    query: dict[str, object] = {
        "model": model,
        "language": language,
        "word_timestamps": word_timestamps,
        "diarize": diarize,
        "store_audio": store_audio or enhance,
        "store_transcript": store_transcript,
    }
    if enhance:
        query.update(enhance_on_end=True, enhance_wait=True, num_speakers=num_speakers)
    result = asyncio.run(stream_file(audio_file, url, speed=speed, query=query, console=Console(), api_key=api_key))
    if any(not error.recoverable for error in result.of_type(ErrorMessage)):
        raise typer.Exit(1)  # the server refused or ended the session


@app.command()
def transcribe(
    audio_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="wav, flac, mp3, ogg, webm, m4a...")],
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:8000",
    diarize: Annotated[bool, typer.Option(help="Label the speakers.")] = True,
    num_speakers: Annotated[int | None, typer.Option(help="Speakers in the audio, when known.")] = None,
    language: Annotated[str, typer.Option(help="Language code, or auto.")] = "auto",
    llm_cleanup: Annotated[bool, typer.Option(help="Clean the text with the configured LLM.")] = False,
    emotions: Annotated[bool, typer.Option(help="Add an emotion to every segment.")] = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Transcribe a file as a batch job: a progress bar, then the speaker-labelled transcript."""
    from clients.jobs_client import JobFailed, transcribe_file

    fields = {
        "speaker_detection": "diarize" if diarize else "none",
        "language": language,
        "llm_cleanup": str(llm_cleanup).lower(),
        "emotions": str(emotions).lower(),
    }
    if num_speakers is not None:
        fields["num_speakers"] = str(num_speakers)
    try:
        transcribe_file(audio_file, url, fields, Console(), api_key)
    except JobFailed as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


if __name__ == "__main__":
    app()
