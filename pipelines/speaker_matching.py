"""Enrolled voiceprints matched to diarized speakers: cosine similarity, one-to-one, above a threshold.

Each diarized speaker's centroid (mean unit embedding of its windows) is compared with every enrolled
voiceprint of the same embedding size; the assignment maximising the summed similarity
(``scipy.optimize.linear_sum_assignment``) pairs each speaker with at most one enrolled name and each
name with at most one speaker; a pair below ``threshold`` is dropped, so an unknown voice keeps no name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class Voiceprint:
    name: str
    embedding: np.ndarray
    """L2-normalised speaker embedding of the enrollment sample."""


@dataclass(frozen=True)
class SpeakerMatch:
    speaker_id: str
    name: str
    similarity: float


def similarity_matrix(centroids: list[np.ndarray], voiceprints: list[Voiceprint]) -> np.ndarray:
    """Cosine similarity ``(speakers, voiceprints)``; pairs of different embedding size score -1."""
    scores = np.full((len(centroids), len(voiceprints)), -1.0)
    for row, centroid in enumerate(centroids):
        a = np.asarray(centroid, dtype=np.float64)
        for column, voiceprint in enumerate(voiceprints):
            b = np.asarray(voiceprint.embedding, dtype=np.float64)
            if a.shape == b.shape:
                scores[row, column] = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    return scores


def match_speakers(
    centroids: Mapping[int, np.ndarray],
    speaker_labels: Mapping[int, str],
    voiceprints: list[Voiceprint],
    threshold: float,
) -> list[SpeakerMatch]:
    """Enrolled names for diarized speakers: cluster index → centroid, cluster index → speaker id."""
    clusters = [cluster for cluster in speaker_labels if cluster in centroids]
    if not clusters or not voiceprints:
        return []
    scores = similarity_matrix([centroids[cluster] for cluster in clusters], voiceprints)
    rows, columns = linear_sum_assignment(scores, maximize=True)
    pairs = sorted(zip(rows, columns), key=lambda pair: -scores[pair])
    matches: list[SpeakerMatch] = []
    for row, column in pairs:
        name = voiceprints[column].name
        if scores[row, column] >= threshold and all(m.name != name for m in matches):  # one name enrolled twice
            matches.append(SpeakerMatch(speaker_labels[clusters[row]], name, round(float(scores[row, column]), 4)))
    return matches
