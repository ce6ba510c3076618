"""Speaker diarization: who spoke when, from speaker embeddings of sliding windows over the speech.

1. Windows of ``window_s`` every ``step_s`` over each speech region (a region shorter than a window
   is tiled to the window length, so every window has the same shape and batches in Triton).
2. Embeddings from Triton's ``speaker_embedding`` model, the windows cut one request's batch at a
   time as the job's bound on requests in flight lets them go (memory does not grow with the audio).
3. Spectral clustering of the windows of regions at least ``min_cluster_region_s`` long (short
   back-channels would otherwise form clusters of their own); the count is the one given, else one
   when the best two-way split leaves halves as alike as one voice, else the largest eigengap of
   the graph Laplacian within the bounds (a half of the split with enough windows must itself split
   into halves as alike: four voices split in two are two mixed halves); each window then goes to
   its nearest centroid (clusters closer than ``merge_similarity`` are then merged);
   both similarity bounds are lowered for centroids of few windows (short recordings).
   Windows of short regions join the nearest centroid.
4. Every 10 ms frame of speech goes to the speaker its covering windows are most similar to; runs
   shorter than ``min_run_s`` inside a region join their neighbour; runs become turns.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import SpectralClustering

from core.audio.signal_file import Signal
from core.inference import SPEAKER_EMBEDDING_MAX_WINDOWS, InferenceClient
from pipelines.job_state import SAMPLE_RATE, SpeakerCountHint, SpeakerTurn, SpeechRegion

FRAME_S = 0.01


@dataclass(frozen=True)
class DiarizationOptions:
    window_s: float = 1.5
    step_s: float = 0.5
    min_cluster_region_s: float = 1.0
    """Regions shorter than this are labelled by the nearest centroid, not clustered."""
    min_run_s: float = 0.5
    """A speaker run shorter than this inside one region joins its neighbour."""
    affinity_keep: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
    """Candidate fractions of each window's most similar neighbours kept in the affinity graph; the
    one with the clearest eigengap relative to it is used (NME-SC, Park et al. 2019)."""
    max_estimated_speakers: int = 8
    """Upper bound of the count estimate when the caller gave none."""
    one_speaker_keep: float = 0.2
    """Fraction of neighbours kept in the affinity of the one-speaker test's two-way split."""
    one_speaker_half_windows: int = 25
    """A half of the one-speaker test's split with at least this many windows (~12 s of speech) is split
    again and must be as alike as one voice too. Four voices split in two leave halves that each mix
    two voices: alike as wholes (espeak 0.72–0.78, bound 0.79; with embeddings moved by noise of 0.005, a
    4-voice meeting went to one speaker on 5 of 60 draws, 0 with this) but not within (0.62–0.72,
    bound 0.76–0.79 for their windows); real single speakers' halves measured 0.79–0.95. Smaller halves
    are left alone: at 4 windows short single-speaker clips split more often (20 s clips right 63/69
    instead of 68/69)."""
    max_refinements: int = 10
    """Rounds of moving each window to its nearest centroid after spectral clustering: on a pruned
    graph the clustering can leave a few windows of one voice with another's (5 of 25 windows on a
    4-voice espeak meeting, whose mixed cluster then merged with the rest of that voice: a voice lost).
    Not applied to the one-speaker test's split: there it separated four espeak voices more cleanly but
    split a noisy real single speaker in two on 3 of 20 draws of embedding noise (0 without)."""
    max_clustered_windows: int = 1500
    """Spectral clustering is cubic in the windows: beyond this many (~25 min of speech), an even
    subset is clustered and the other windows join the nearest centroid."""
    one_speaker_similarity: float = 0.79
    """The one-speaker test's bound on the cosine of the two halves of the best two-way split. Measured
    with CAM++ (pipeline VAD, 15 real recordings and 18 espeak meetings): one real voice split in two
    0.805–0.96 (the lowest noisy and telephone band), two real voices 0.54–0.69; a two-way split of four
    espeak voices 0.73–0.77 (each half mixes two voices, so the halves grow alike with the count)."""
    merge_similarity: float = 0.82
    """With the count estimated, clusters whose centroids are more similar than this are one speaker.
    On the same set every count stays right from 0.79 to 0.85 (at 0.88 a real call splits into four);
    distinct espeak voices reach 0.77, so at 0.76–0.79 a four-voice meeting could lose a voice when
    batching moved the embeddings by a little (DER 14.7 % and 16.3 % in two CI-sized runs)."""
    full_evidence_windows: int = 60
    """The bounds above hold for centroids of at least this many windows (~30 s of speech). A centroid
    of fewer is noisier, so two halves of one voice are less alike: on 10–30 s excerpts of the real set
    the one-speaker split measured p5 0.64 under 15 windows, 0.71 at 15–20, 0.77 at 20–25, 0.80 at
    30–40, 0.83 at 40–60 (two voices: median 0.63 at every size). Below it the bounds are lowered by
    a slope × (1/windows − 1/full_evidence_windows)."""
    one_speaker_slope: float = 1.8
    """Slope for ``one_speaker_similarity``, by the windows clustered (0.70 at 15 windows, 0.73 at 20)."""
    merge_slope: float = 0.5
    """Slope for ``merge_similarity``, by the smaller cluster's windows (0.72 at 5, 0.79 at 12): a
    cluster of a few windows joins a close neighbour rather than counting as a speaker."""


@dataclass(frozen=True)
class DiarizationResult:
    turns: list[SpeakerTurn]
    """Sorted, non-overlapping; ``speaker`` is the cluster index (0..n-1, in order of first turn)."""
    centroids: dict[int, np.ndarray]
    """Mean L2-normalised embedding of each speaker (for matching enrolled voiceprints)."""

    @property
    def num_speakers(self) -> int:
        return len(self.centroids)


@dataclass(frozen=True)
class _Window:
    region: int
    start: float
    end: float
    first_sample: int
    last_sample: int
    """The audio it embeds is ``[first_sample, last_sample)``, tiled to the window length when shorter."""


async def diarize(
    audio: Signal,
    speech_regions: list[SpeechRegion],
    inference: InferenceClient,
    hint: SpeakerCountHint,
    options: DiarizationOptions | None = None,
) -> DiarizationResult:
    """Speaker turns of 16 kHz mono ``audio`` within ``speech_regions``."""
    options = options or DiarizationOptions()
    regions = [r for r in speech_regions if r.end - r.start >= FRAME_S]
    windows = plan_windows(len(audio), regions, options)
    if not windows:
        return DiarizationResult([], {})
    embeddings = await embed_windows(audio, windows, inference, options)
    return await asyncio.to_thread(_diarize_embeddings, regions, windows, embeddings, hint, options)


def _diarize_embeddings(
    regions: list[SpeechRegion],
    windows: list[_Window],
    embeddings: np.ndarray,
    hint: SpeakerCountHint,
    options: DiarizationOptions,
) -> DiarizationResult:
    clustered = np.array(
        [regions[w.region].end - regions[w.region].start >= options.min_cluster_region_s for w in windows]
    )
    if not clustered.any():
        clustered[:] = True
    chosen = np.flatnonzero(clustered)
    if len(chosen) > options.max_clustered_windows:  # long audio: cluster an even subset, assign the rest
        clustered[:] = False
        clustered[chosen[np.linspace(0, len(chosen) - 1, options.max_clustered_windows).astype(int)]] = True
    labels = np.empty(len(windows), dtype=int)
    labels[clustered] = cluster(embeddings[clustered], hint, options)
    centroids = _centroids(embeddings[clustered], labels[clustered])
    if (~clustered).any():
        labels[~clustered] = np.argmax(embeddings[~clustered] @ centroids.T, axis=1)
    centroids = _centroids(embeddings, labels, len(centroids))
    turns = label_frames(regions, windows, embeddings @ centroids.T, options)
    return _numbered_by_first_turn(turns, centroids)


def plan_windows(audio_samples: int, regions: list[SpeechRegion], options: DiarizationOptions) -> list[_Window]:
    """Equal-length windows every ``step_s`` over each region (one tiled window for a shorter region)."""
    window_samples = int(round(options.window_s * SAMPLE_RATE))
    step = int(round(options.step_s * SAMPLE_RATE))
    windows: list[_Window] = []
    for index, region in enumerate(regions):
        first, last = int(region.start * SAMPLE_RATE), min(audio_samples, int(region.end * SAMPLE_RATE))
        if last - first < window_samples:
            if last > first:
                windows.append(_Window(index, region.start, region.end, first, last))
            continue
        starts = list(range(first, last - window_samples + 1, step))
        if starts[-1] + window_samples < last:
            starts.append(last - window_samples)
        windows.extend(
            _Window(index, start / SAMPLE_RATE, (start + window_samples) / SAMPLE_RATE, start, start + window_samples)
            for start in starts
        )
    return windows


def cut_windows(
    audio: Signal, windows: list[_Window], options: DiarizationOptions, batch_size: int
) -> Iterator[np.ndarray]:
    """The windows' samples, ``(≤ batch_size, window samples)`` float32 at a time, in order."""
    window_samples = int(round(options.window_s * SAMPLE_RATE))
    for begin in range(0, len(windows), batch_size):
        batch = windows[begin : begin + batch_size]
        # A region shorter than a window is tiled: the window holds that region's voice only.
        yield np.stack([np.resize(audio[w.first_sample : w.last_sample], window_samples) for w in batch]).astype(
            np.float32, copy=False
        )


async def embed_windows(
    audio: Signal, windows: list[_Window], inference: InferenceClient, options: DiarizationOptions
) -> np.ndarray:
    """Speaker embeddings of ``windows`` (``(n, dim)``), cut one request's batch at a time: no more
    batches are cut than the client may have at Triton (``batch_requests_in_flight``), so the
    windows in memory do not grow with the audio (all of them at once when it is 0: no bound)."""
    in_flight = inference.batch_requests_in_flight or len(windows)
    batches = cut_windows(audio, windows, options, SPEAKER_EMBEDDING_MAX_WINDOWS)
    pending: deque[asyncio.Task[np.ndarray]] = deque()
    embeddings: list[np.ndarray] = []
    try:
        for batch in batches:
            pending.append(asyncio.create_task(inference.embed_speakers(batch)))
            if len(pending) >= in_flight:
                embeddings.append(await pending.popleft())
        while pending:
            embeddings.append(await pending.popleft())
    finally:
        for task in pending:
            task.cancel()
    return np.concatenate(embeddings)


def cluster(embeddings: np.ndarray, hint: SpeakerCountHint, options: DiarizationOptions) -> np.ndarray:
    """Spectral clustering of unit-length embeddings; the count from ``hint`` or the eigengap."""
    n = len(embeddings)
    low, high = speaker_bounds(hint, n, options)
    if n == 1 or high == 1:
        return np.zeros(n, dtype=int)
    if low >= n:  # asked for at least as many speakers as there are windows (a short clip): one each
        return np.arange(n)
    if low == 1 and is_one_speaker(embeddings, options):
        return np.zeros(n, dtype=int)
    affinity, count = _best_pruning(embeddings, max(low, 2), high, options.affinity_keep)
    labels = nearest_centroids(embeddings, _spectral(affinity, count), options.max_refinements)
    return labels if low == high else merge_similar(embeddings, labels, low, options)


def nearest_centroids(embeddings: np.ndarray, labels: np.ndarray, rounds: int) -> np.ndarray:
    """``labels`` with each window moved to its most similar centroid, for up to ``rounds`` rounds or
    until none moves; a round that would empty a cluster is not taken (the count stays)."""
    count = labels.max() + 1
    for _ in range(rounds):
        moved = np.argmax(embeddings @ _centroids(embeddings, labels, count).T, axis=1)
        if (moved == labels).all() or len(np.unique(moved)) < count:
            break
        labels = moved
    return labels


def is_one_speaker(embeddings: np.ndarray, options: DiarizationOptions) -> bool:
    """Whether the best split of the windows in two leaves halves as alike as one voice, and each half
    of at least ``one_speaker_half_windows`` windows, split again, does too.

    The eigengap cannot answer one (noise and phonetic content split one voice into several
    clusters, each less alike than the whole); this test can: one voice split in two keeps its
    halves' centroids above ``one_speaker_similarity`` (lowered for few windows), two voices do not.
    """
    labels, alike = _split_in_two(embeddings, options)
    if not alike or len(np.unique(labels)) < 2:
        return alike
    halves = (embeddings[labels == half] for half in (0, 1))
    return all(_split_in_two(e, options)[1] for e in halves if len(e) >= options.one_speaker_half_windows)


def _split_in_two(embeddings: np.ndarray, options: DiarizationOptions) -> tuple[np.ndarray, bool]:
    """The best two-way split's labels, and whether its halves are as alike as one voice."""
    labels = _spectral(pruned_affinity(embeddings, options.one_speaker_keep), 2)
    if len(np.unique(labels)) < 2:
        return labels, True
    centroids = _centroids(embeddings, labels)
    windows = np.array(len(embeddings))
    bound = similarity_bound(options.one_speaker_similarity, options.one_speaker_slope, windows, options)
    return labels, bool(float(centroids[0] @ centroids[1]) > bound)


def similarity_bound(bound: float, slope: float, windows: np.ndarray, options: DiarizationOptions) -> np.ndarray:
    """``bound`` for centroids of ``windows`` windows each (see :attr:`DiarizationOptions.full_evidence_windows`)."""
    shortfall = 1.0 / np.maximum(windows, 1) - 1.0 / options.full_evidence_windows
    return bound - slope * np.maximum(0.0, shortfall)


def _spectral(affinity: np.ndarray, count: int) -> np.ndarray:
    model = SpectralClustering(n_clusters=count, affinity="precomputed", random_state=0, assign_labels="cluster_qr")
    with warnings.catch_warnings():  # a pruned graph of well-separated voices is disconnected: expected
        warnings.filterwarnings("ignore", "Graph is not fully connected")
        return model.fit_predict(affinity)


def merge_similar(embeddings: np.ndarray, labels: np.ndarray, low: int, options: DiarizationOptions) -> np.ndarray:
    """Merge the two clusters furthest above their bound (``merge_similarity``, lowered by the smaller
    one's windows) while any pair is above it and more than ``low`` clusters remain."""
    labels = np.unique(labels, return_inverse=True)[1]
    while labels.max() + 1 > low:
        centroids = _centroids(embeddings, labels)
        sizes = np.bincount(labels)
        smaller = np.minimum(sizes[:, None], sizes[None, :])
        excess = centroids @ centroids.T - similarity_bound(
            options.merge_similarity, options.merge_slope, smaller, options
        )
        np.fill_diagonal(excess, -np.inf)
        a, b = np.unravel_index(np.argmax(excess), excess.shape)
        if excess[a, b] <= 0:
            break
        labels = np.unique(np.where(labels == max(a, b), min(a, b), labels), return_inverse=True)[1]
    return labels


def speaker_bounds(hint: SpeakerCountHint, windows: int, options: DiarizationOptions) -> tuple[int, int]:
    """``(low, high)`` speaker count allowed: ``num_speakers`` wins, else the min/max bounds."""
    if hint.num_speakers:
        return (min(hint.num_speakers, windows),) * 2
    high = min(hint.max_speakers or options.max_estimated_speakers, windows)
    low = min(max(hint.min_speakers or 1, 1), high)
    return low, high


def pruned_affinity(embeddings: np.ndarray, keep: float) -> np.ndarray:
    """Cosine similarity keeping each row's top ``keep`` fraction, symmetrised, non-negative."""
    similarity = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
    n = len(similarity)
    kept = max(2, int(np.ceil(keep * n)))
    threshold = -np.sort(-similarity, axis=1)[:, min(kept, n) - 1 : min(kept, n)]
    pruned = np.where(similarity >= threshold, similarity, 0.0)
    return np.maximum(pruned, pruned.T)


def _best_pruning(embeddings: np.ndarray, low: int, high: int, keeps: tuple[float, ...]) -> tuple[np.ndarray, int]:
    """The pruned affinity whose eigengap is largest relative to the fraction kept, and its count."""
    best: tuple[float, np.ndarray, int] | None = None
    for keep in keeps:
        affinity = pruned_affinity(embeddings, keep)
        count, gap = estimate_count(affinity, low, high)
        ratio = keep / max(gap, 1e-9)
        if best is None or ratio < best[0]:
            best = (ratio, affinity, count)
    return best[1], best[2]


def estimate_count(affinity: np.ndarray, low: int, high: int) -> tuple[int, float]:
    """Speaker count by the largest eigengap of the normalised graph Laplacian within [low, high], and that gap."""
    degree = affinity.sum(axis=1)
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    laplacian = np.eye(len(affinity)) - scale[:, None] * affinity * scale[None, :]
    eigenvalues = np.sort(np.linalg.eigvalsh(laplacian))
    gaps = np.diff(eigenvalues[: high + 1])  # gaps[k - 1] = λ(k+1) − λ(k)
    best = int(np.argmax(gaps[low - 1 : high]))
    return low + best, float(gaps[low - 1 + best])


def label_frames(
    regions: list[SpeechRegion], windows: list[_Window], scores: np.ndarray, options: DiarizationOptions
) -> list[SpeakerTurn]:
    """Turns from per-window speaker scores: each 10 ms frame takes the best summed score of its windows."""
    turns: list[SpeakerTurn] = []
    by_region: dict[int, list[int]] = {}
    for index, window in enumerate(windows):
        by_region.setdefault(window.region, []).append(index)
    for region_index, members in sorted(by_region.items()):
        region = regions[region_index]
        frames = max(1, int(round((region.end - region.start) / FRAME_S)))
        times = region.start + (np.arange(frames) + 0.5) * FRAME_S
        frame_scores = np.zeros((frames, scores.shape[1]))
        for index in members:
            covered = (times >= windows[index].start) & (times < windows[index].end)
            frame_scores[covered] += scores[index]
        labels = _smoothed(np.argmax(frame_scores, axis=1), int(round(options.min_run_s / FRAME_S)))
        changes = np.flatnonzero(np.diff(labels)) + 1
        bounds = [0, *changes.tolist(), frames]
        for begin, end in zip(bounds[:-1], bounds[1:]):
            turn_end = region.end if end == frames else region.start + end * FRAME_S
            turns.append(SpeakerTurn(round(region.start + begin * FRAME_S, 3), round(turn_end, 3), int(labels[begin])))
    return sorted(turns, key=lambda turn: turn.start)


def _smoothed(labels: np.ndarray, min_run: int) -> np.ndarray:
    """Runs shorter than ``min_run`` frames take the label of the longer neighbouring run."""
    labels = labels.copy()
    while True:
        changes = np.flatnonzero(np.diff(labels)) + 1
        starts, ends = np.r_[0, changes], np.r_[changes, len(labels)]
        if len(starts) == 1:
            return labels
        lengths = ends - starts
        shortest = int(np.argmin(lengths))
        if lengths[shortest] >= min_run:
            return labels
        before = lengths[shortest - 1] if shortest > 0 else -1
        after = lengths[shortest + 1] if shortest + 1 < len(starts) else -1
        neighbour = shortest - 1 if before >= after else shortest + 1
        labels[starts[shortest] : ends[shortest]] = labels[starts[neighbour]]


def _centroids(embeddings: np.ndarray, labels: np.ndarray, count: int | None = None) -> np.ndarray:
    count = count if count is not None else int(labels.max()) + 1
    centroids = np.stack(
        [
            embeddings[labels == k].mean(axis=0) if (labels == k).any() else np.zeros(embeddings.shape[1])
            for k in range(count)
        ]
    )
    return centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)


def _numbered_by_first_turn(turns: list[SpeakerTurn], centroids: np.ndarray) -> DiarizationResult:
    """Renumber speakers 0.. in order of first appearance, dropping clusters left without a turn."""
    order: dict[int, int] = {}
    for turn in turns:
        order.setdefault(turn.speaker, len(order))
    renumbered = [SpeakerTurn(t.start, t.end, order[t.speaker]) for t in turns]
    return DiarizationResult(renumbered, {new: centroids[old].astype(np.float32) for old, new in order.items()})
