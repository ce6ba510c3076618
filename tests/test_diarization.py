"""Speaker diarization: clustering and smoothing on synthetic embeddings, and espeak-ng conversations
of 2, 3 and 4 voices diarized through the real Triton ``speaker_embedding`` model.

DER is ``pyannote.metrics``' diarization error rate with a 0.25 s collar around each reference
boundary, scored over the conversation's extent. Speech regions are either the ground-truth
utterances or faster-whisper's Silero VAD with 100 ms padding (what the pipeline's VAD stage gives).
Bounds: DER ≤ 5 % with the count given, ≤ 10 % with it estimated (measured when written: ≤ 0.8 %).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from benchmarks.conversations import der as diarization_error_rate
from benchmarks.conversations import make_conversation
from benchmarks.speech import espeak_available
from core.inference import SPEAKER_EMBEDDING_MAX_WINDOWS, InferenceClient
from pipelines.diarization import (
    DiarizationOptions,
    _diarize_embeddings,
    _smoothed,
    _Window,
    cluster,
    cut_windows,
    diarize,
    embed_windows,
    is_one_speaker,
    label_frames,
    plan_windows,
    speaker_bounds,
)
from pipelines.job_state import SAMPLE_RATE, SpeakerCountHint, SpeakerTurn, SpeechRegion

OPTIONS = DiarizationOptions()


def _voices(count: int, per_voice: int, seed: int = 0, spread: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``count`` random directions in 192 dims (cosine within ≈0.8, across ≈0)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, 192))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(count), per_voice)
    points = centres[labels] + spread * rng.normal(size=(len(labels), 192)) / np.sqrt(192) * 4
    return points / np.linalg.norm(points, axis=1, keepdims=True), labels


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len({(x, y) for x, y in zip(a, b)}) == len(set(a)) == len(set(b))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_clustering_estimates_the_count_of_synthetic_voices(count) -> None:
    embeddings, truth = _voices(count, 30)
    labels = cluster(embeddings, SpeakerCountHint(), OPTIONS)
    assert _same_partition(labels, truth)


def test_clustering_uses_the_count_given() -> None:
    embeddings, truth = _voices(3, 30)
    assert _same_partition(cluster(embeddings, SpeakerCountHint(num_speakers=3), OPTIONS), truth)
    assert len(set(cluster(embeddings, SpeakerCountHint(num_speakers=2), OPTIONS))) == 2
    assert len(set(cluster(embeddings, SpeakerCountHint(num_speakers=4), OPTIONS))) == 4


def test_clustering_honours_min_and_max() -> None:
    embeddings, _ = _voices(4, 20)
    assert len(set(cluster(embeddings, SpeakerCountHint(max_speakers=2), OPTIONS))) <= 2
    single, _ = _voices(1, 40)
    assert len(set(cluster(single, SpeakerCountHint(min_speakers=2), OPTIONS))) >= 2


def test_twenty_thousand_windows_cluster_right_in_bounded_memory() -> None:
    """About 2.8 hours of speech (20 000 windows, 3 voices) is clustered through an even subset of
    ``max_clustered_windows`` (1500): a full 20 000² float64 affinity would be 3.2 GB, and NME-SC keeps
    several (the similarity, its sort, the pruned graph, the Laplacian). On the subset each is 18 MB;
    the whole took 80 MB when written, so 150 MB leaves room and still fails on any n² matrix of
    more than ~4300 windows."""
    windows_per_region = 14  # 8 s regions: 1.5 s windows every 0.5 s
    regions_per_voice = 477
    embeddings, voices = _voices(3, windows_per_region * regions_per_voice, seed=1)
    order = np.random.default_rng(1).permutation(3 * regions_per_voice)  # the voices take turns at random
    regions = [SpeechRegion(10.0 * i, 10.0 * i + 8.0) for i in range(len(order))]
    windows, rows = [], []
    for index, region in enumerate(regions):
        for k in range(windows_per_region):
            start = region.start + min(0.5 * k, 6.5)
            windows.append(_Window(index, start, start + 1.5, 0, 0))
            rows.append(order[index] * windows_per_region + k)
    embeddings, voices = embeddings[rows].astype(np.float32), voices[rows]
    assert len(windows) > 20_000
    tracemalloc.start()
    try:
        result = _diarize_embeddings(regions, windows, embeddings, SpeakerCountHint(), OPTIONS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150 * 2**20, peak / 2**20
    assert result.num_speakers == 3
    by_region = {}
    for turn in result.turns:
        region = int(turn.start // 10.0)
        by_region.setdefault(region, set()).add(turn.speaker)
    assert len(by_region) == len(regions) and all(len(speakers) == 1 for speakers in by_region.values())
    region_voices = voices[::windows_per_region]
    assert _same_partition(np.array([by_region[i].pop() for i in range(len(regions))]), region_voices)


def test_speaker_bounds() -> None:
    assert speaker_bounds(SpeakerCountHint(num_speakers=3, min_speakers=5), 100, OPTIONS) == (3, 3)
    assert speaker_bounds(SpeakerCountHint(min_speakers=2, max_speakers=4), 100, OPTIONS) == (2, 4)
    assert speaker_bounds(SpeakerCountHint(), 100, OPTIONS) == (1, OPTIONS.max_estimated_speakers)
    assert speaker_bounds(SpeakerCountHint(num_speakers=5), 2, OPTIONS) == (2, 2)


def test_smoothing_folds_short_runs_into_the_longer_neighbour() -> None:
    labels = np.array([0] * 80 + [1] * 20 + [0] * 30 + [2] * 100)
    assert _smoothed(labels, 50).tolist() == [0] * 130 + [2] * 100
    assert _smoothed(labels, 10).tolist() == labels.tolist()


def test_windows_cover_regions_and_short_regions_are_tiled() -> None:
    audio = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    regions = [SpeechRegion(0.5, 3.2), SpeechRegion(4.0, 4.3)]
    windows = plan_windows(len(audio), regions, OPTIONS)
    batches = list(cut_windows(audio, windows, OPTIONS, batch_size=2))
    assert [len(batch) for batch in batches] == [2] * (len(windows) // 2) + [1] * (len(windows) % 2)
    samples = np.concatenate(batches)
    assert samples.shape == (len(windows), int(OPTIONS.window_s * SAMPLE_RATE)) and samples.dtype == np.float32
    long_windows = [w for w in windows if w.region == 0]
    assert long_windows[0].start == 0.5 and long_windows[-1].end == pytest.approx(3.2)
    short = samples[[w.region for w in windows].index(1)]
    assert set(short.tolist()) <= set(audio[4 * SAMPLE_RATE : int(4.3 * SAMPLE_RATE)].tolist())


def test_frames_take_the_speaker_of_their_windows() -> None:
    regions = [SpeechRegion(0.0, 4.0)]
    windows = plan_windows(5 * SAMPLE_RATE, regions, OPTIONS)
    scores = np.array([[1.0, 0.0] if w.start + OPTIONS.window_s / 2 < 2.0 else [0.0, 1.0] for w in windows])
    turns = label_frames(regions, windows, scores, OPTIONS)
    assert [t.speaker for t in turns] == [0, 1]
    assert turns[0].start == 0.0 and turns[-1].end == 4.0 and turns[0].end == turns[1].start
    assert abs(turns[0].end - 2.0) <= OPTIONS.step_s


def test_der_helper_scores_a_perfect_and_a_swapped_hypothesis() -> None:
    conversation = make_conversation(2, seed=0, sentences=3)
    perfect = [SpeakerTurn(t.start, t.end, t.speaker + 7) for t in conversation.turns]
    assert diarization_error_rate(conversation.turns, perfect) == 0.0
    one_speaker = [SpeakerTurn(t.start, t.end, 0) for t in conversation.turns]
    assert diarization_error_rate(conversation.turns, one_speaker) > 0.1


@pytest.fixture(scope="module")
def conversations():
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return {voices: make_conversation(voices, seed=1) for voices in (2, 3, 4)}


def test_conversation_words_have_times_and_speakers(conversations) -> None:
    conversation = conversations[3]
    words = conversation.words
    assert {w.speaker for w in words} == {0, 1, 2}
    assert all(w.start < w.end for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    for word in words:  # every word lies in a turn of its own speaker
        assert any(
            t.speaker == word.speaker and t.start - 0.01 <= word.start and word.end <= t.end + 0.01
            for t in conversation.turns
        )
    back_channels = [t for t in conversation.turns if t.end - t.start < 0.6]
    assert back_channels, "the conversation has back-channels"


def _vad_regions(audio: np.ndarray) -> list[SpeechRegion]:
    stamps = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=100, speech_pad_ms=100))
    return [SpeechRegion(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


@pytest.fixture(scope="module")
async def inference(triton):
    client = InferenceClient(triton.endpoints.grpc_url, timeout_s=120)
    yield client
    await client.close()


async def test_embeddings_from_triton_are_unit_vectors(inference) -> None:
    windows = np.random.default_rng(0).normal(scale=0.05, size=(70, int(1.5 * SAMPLE_RATE))).astype(np.float32)
    embeddings = await inference.embed_speakers(windows)
    assert embeddings.shape == (70, 192) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("voices", [2, 3, 4])
@pytest.mark.parametrize("regions_from", ["truth", "vad"])
async def test_diarization_error_rate_of_conversations(inference, conversations, voices, regions_from) -> None:
    conversation = conversations[voices]
    if regions_from == "truth":
        regions = [SpeechRegion(t.start, t.end) for t in conversation.turns]
    else:
        regions = _vad_regions(conversation.audio)
    given = await diarize(conversation.audio, regions, inference, SpeakerCountHint(num_speakers=voices))
    estimated = await diarize(conversation.audio, regions, inference, SpeakerCountHint())
    assert given.num_speakers == voices and estimated.num_speakers == voices
    assert diarization_error_rate(conversation.turns, given.turns) <= 0.05
    assert diarization_error_rate(conversation.turns, estimated.turns) <= 0.10
    for result in (given, estimated):
        turns = result.turns
        assert all(a.end <= b.start for a, b in zip(turns, turns[1:]))
        assert sorted({t.speaker for t in turns}) == sorted(result.centroids) == list(range(voices))
        assert all(np.linalg.norm(c) == pytest.approx(1.0, abs=1e-4) for c in result.centroids.values())


async def test_four_voices_stay_four_when_the_embeddings_move_a_little(inference) -> None:
    """The 4-voice meeting of ``tests/test_job_quality.py`` (seed 4), count unknown: the full suite lost a
    voice there now and then (DER 16.3 %), as batching moves embeddings by a little. With each window's
    embedding moved by noise of 0.005 per dimension, spectral clustering alone left 5 windows of one voice
    with another's on 3 draws of 100, and that mixed cluster then merged with the rest of the voice; each
    window moved to its nearest centroid afterwards, 0 of 100."""
    from pipelines.speech_regions import DIARIZATION_REGIONS, detect_speech

    conversation = make_conversation(4, seed=4)
    regions = await detect_speech(conversation.audio, inference, DIARIZATION_REGIONS)  # the job's regions
    windows = plan_windows(len(conversation.audio), regions, OPTIONS)
    embeddings = await embed_windows(conversation.audio, windows, inference, OPTIONS)
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(60):
        moved = embeddings + rng.normal(0.0, 0.005, embeddings.shape).astype(np.float32)
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        counts.append(_diarize_embeddings(regions, windows, moved, SpeakerCountHint(), OPTIONS).num_speakers)
    assert counts == [4] * 60, counts


def _alike_voices(count: int, windows: int, seed: int) -> np.ndarray:
    """Unit embeddings of ``windows`` windows per voice: voices share a component (cosines ~0.67 between
    them), windows scatter around their voice (~0.83 to it), as CAM++'s do around real voices."""
    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    shared = unit(rng.normal(size=192))
    voices = [unit(shared + np.sqrt(0.5) * unit(rng.normal(size=192))) for _ in range(count)]
    scattered = [unit(v + np.sqrt(0.45) * unit(rng.normal(size=(windows, 192)))) for v in voices]
    return np.concatenate(scattered).astype(np.float32)


@pytest.mark.parametrize("seed", range(10))
def test_four_voices_whose_two_halves_look_alike_are_not_one_speaker(seed) -> None:
    """Four voices split in two leave halves of two voices each, and their centroids are as alike as one
    voice's halves (0.83 here); the one-speaker test answered one on 3 of these 10 draws (and an espeak
    4-voice meeting went to one speaker on 5 of 60 draws of small embedding noise). Each big half must now
    split into alike halves too, which one voice's do."""
    assert not is_one_speaker(_alike_voices(4, 20, seed), OPTIONS)
    assert is_one_speaker(_alike_voices(1, 80, seed), OPTIONS)


async def test_min_and_max_speakers_are_honoured(inference, conversations) -> None:
    conversation = conversations[4]
    regions = [SpeechRegion(t.start, t.end) for t in conversation.turns]
    at_most_two = await diarize(conversation.audio, regions, inference, SpeakerCountHint(max_speakers=2))
    assert at_most_two.num_speakers <= 2
    two = conversations[2]
    two_regions = [SpeechRegion(t.start, t.end) for t in two.turns]
    at_least_three = await diarize(two.audio, two_regions, inference, SpeakerCountHint(min_speakers=3))
    assert at_least_three.num_speakers >= 3


async def test_a_single_voice_is_one_speaker(inference) -> None:
    conversation = make_conversation(1, seed=2)
    regions = _vad_regions(conversation.audio)
    result = await diarize(conversation.audio, regions, inference, SpeakerCountHint())
    assert result.num_speakers == 1
    assert diarization_error_rate(conversation.turns, result.turns) <= 0.05


async def test_silence_has_no_speaker_turns(inference) -> None:
    silence = np.zeros(10 * SAMPLE_RATE, np.float32)
    result = await diarize(silence, _vad_regions(silence), inference, SpeakerCountHint())
    assert result.turns == [] and result.centroids == {}
    # A region the VAD got wrong (silence) is still one speaker, not several.
    result = await diarize(silence, [SpeechRegion(1.0, 6.0)], inference, SpeakerCountHint())
    assert result.num_speakers == 1


async def test_long_audio_clusters_a_subset_and_assigns_the_rest(inference, conversations) -> None:
    conversation = conversations[4]
    regions = [SpeechRegion(t.start, t.end) for t in conversation.turns]
    options = DiarizationOptions(max_clustered_windows=40)
    result = await diarize(conversation.audio, regions, inference, SpeakerCountHint(), options)
    assert result.num_speakers == 4
    assert diarization_error_rate(conversation.turns, result.turns) <= 0.10


async def test_windows_cut_a_batch_at_a_time_give_the_turns_of_all_windows_at_once(triton, conversations) -> None:
    """Diarization cuts and embeds one request's windows at a time (one in flight here); the turns
    are those of the earlier path, which stacked every window and sent them at once."""
    audio = np.concatenate([conversations[4].audio] * 3)
    regions = _vad_regions(audio)
    windows = plan_windows(len(audio), regions, OPTIONS)
    assert len(windows) > 2 * SPEAKER_EMBEDDING_MAX_WINDOWS
    one_at_a_time = InferenceClient(triton.endpoints.grpc_url, timeout_s=120, batch_requests_in_flight=1)
    all_at_once = InferenceClient(triton.endpoints.grpc_url, timeout_s=120)
    try:
        for hint in (SpeakerCountHint(), SpeakerCountHint(num_speakers=4)):
            bounded = await diarize(audio, regions, one_at_a_time, hint)
            stacked = np.concatenate(list(cut_windows(audio, windows, OPTIONS, len(windows))))
            embeddings = await all_at_once.embed_speakers(stacked)
            unchanged = _diarize_embeddings(regions, windows, embeddings, hint, OPTIONS)
            assert bounded.turns == unchanged.turns
            assert bounded.centroids.keys() == unchanged.centroids.keys()
            assert all(np.array_equal(bounded.centroids[k], unchanged.centroids[k]) for k in unchanged.centroids)
    finally:
        await one_at_a_time.close()
        await all_at_once.close()
