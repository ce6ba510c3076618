"""The Triton and Redis launchers: readiness, failure reporting, clean teardown."""

from pathlib import Path

import psutil
import pytest

from launchers.redis_server import ensure_redis, redis_answers
from launchers.triton_server import TritonServer, TritonStartError, free_port


def test_triton_serves_the_repository_and_cleans_up(tmp_path: Path) -> None:
    import httpx

    from tests.stack_fixtures import MODEL_REPOSITORY

    server = TritonServer(MODEL_REPOSITORY, tmp_path)
    endpoints = server.start()
    prefix = server._shm_prefix  # noqa: SLF001 - the test checks the launcher's own cleanup
    try:
        for model in ("vad", "streaming_asr"):
            assert httpx.get(f"{endpoints.http_url}/v2/models/{model}/ready").status_code == 200
        assert "nv_inference_count" in httpx.get(endpoints.metrics_url).text
        # Every model process allocates through jemalloc (under glibc's malloc the live model grew
        # 441 -> 1066 MB over a 10-minute soak; benchmarks/soak.py).
        stubs = psutil.Process(server._process.pid).children(recursive=True)  # noqa: SLF001
        assert stubs and all("jemalloc" in Path(f"/proc/{stub.pid}/maps").read_text() for stub in stubs)
    finally:
        server.stop()
    assert not server.is_running()
    assert not list(Path("/dev/shm").glob(f"{prefix}*"))


def test_triton_start_failure_shows_the_server_log(tmp_path: Path) -> None:
    repository = tmp_path / "repository" / "broken" / "1"
    repository.mkdir(parents=True)
    (repository.parent / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 0\n')
    (repository / "model.py").write_text("raise ImportError('this model cannot load')\n")
    with pytest.raises(TritonStartError, match="cannot load"):
        TritonServer(tmp_path / "repository", tmp_path / "work", start_timeout_s=60).start()


def test_a_private_redis_is_started_when_none_answers(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_answers(url)
    server = ensure_redis(url, tmp_path)
    try:
        assert server is not None and redis_answers(url)
        assert ensure_redis(url, tmp_path) is None  # one answers now: nothing more is started
    finally:
        server.stop()
    assert not redis_answers(url)
